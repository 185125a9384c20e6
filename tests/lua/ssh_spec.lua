-- moonbase.engine.ssh against a private OpenSSH server on 127.0.0.1
-- (tests/lib/sshd.sh): keys, exec and run, host key refusal, SFTP copies and
-- an interactive shell driven through tmux. Commands that stream through the
-- process's own stdin/stdout run in a child (tests/lib/ssh_exec.lua).
local ssh = require("moonbase.engine.ssh")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local system = require("system")
local helpers = require("helpers")

local SSHD = "/usr/sbin/sshd"

local function sh(cmd)
  local code, out, err = process.run({ "sh", "-c", cmd })
  assert(code == 0, cmd .. " failed: " .. err)
  return (out:gsub("\n$", ""))
end

local function sha256_file(path)
  return (sh("sha256sum < '" .. path .. "'"):match("^(%x+)"))
end

local function random_file(path, mb)
  sh(string.format("head -c %d /dev/urandom > '%s'", mb * 1000000, path))
end

describe("ssh keys", function()
  local dir
  before_each(function() dir = helpers.tmpdir("sshkey") end)
  after_each(function() fs.rmtree(dir) end)

  it("keygen writes an OpenSSH ed25519 pair that ssh-keygen reads", function()
    local pub = assert(ssh.keygen(dir .. "/id", "me@moonbase"))
    assert.matches("^ssh%-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[%w+/]+=* me@moonbase$", pub)
    assert.equal(pub .. "\n", fs.read(dir .. "/id.pub"))
    local priv = fs.read(dir .. "/id")
    assert.matches("^%-%-%-%-%-BEGIN OPENSSH PRIVATE KEY%-%-%-%-%-\n", priv)
    assert.matches("\n%-%-%-%-%-END OPENSSH PRIVATE KEY%-%-%-%-%-\n$", priv)
    assert.equal(tonumber("600", 8), fs.stat(dir .. "/id").mode)
    if not fs.exists("/usr/bin/ssh-keygen") then
      pending("ssh-keygen (openssh-client) is not installed: format checked by hand only")
      return
    end
    -- ssh-keygen -y derives the public key from our private key file
    local derived = sh("ssh-keygen -y -f " .. dir .. "/id")
    assert.equal(pub:match("^(%S+ %S+)"), derived:match("^(%S+ %S+)"))
    -- and -l prints the fingerprint we compute
    local line = sh("ssh-keygen -l -f " .. dir .. "/id.pub")
    assert.equal("256 " .. ssh.fingerprint(pub) .. " me@moonbase (ED25519)", line)
  end)

  it("keygen refuses to replace an existing key", function()
    assert(ssh.keygen(dir .. "/id"))
    local before = fs.read(dir .. "/id")
    local ok, msg, code = ssh.keygen(dir .. "/id")
    assert.is_nil(ok)
    assert.equal("exists", code)
    assert.matches("already exists", msg)
    assert.equal(before, fs.read(dir .. "/id"))
  end)

  it("keypair returns a private key and its public line, different every time", function()
    local priv, pub = ssh.keypair("host")
    local priv2, pub2 = ssh.keypair()
    assert.matches("^%-%-%-%-%-BEGIN OPENSSH PRIVATE KEY%-%-%-%-%-\n", priv)
    assert.matches("^ssh%-ed25519 %S+ host$", pub)
    assert.matches("^ssh%-ed25519 %S+$", pub2)
    assert.are_not.equal(priv, priv2)
    if fs.exists("/usr/bin/ssh-keygen") then
      assert(fs.write(dir .. "/k", priv, tonumber("600", 8)))
      local derived = sh("ssh-keygen -y -f " .. dir .. "/k")
      assert.equal(pub:match("^(%S+ %S+)"), derived:match("^(%S+ %S+)"))
    end
  end)

  it("fingerprint is SHA256 base64 without padding; junk is an error", function()
    local _, pub = ssh.keypair()
    assert.matches("^SHA256:[%w+/]+$", ssh.fingerprint(pub))
    assert.equal(50, #ssh.fingerprint(pub))
    local ok, msg, code = ssh.fingerprint("not a key")
    assert.is_nil(ok)
    assert.equal("usage", code)
    assert.matches("not an SSH public key", msg)
    assert.is_nil((ssh.fingerprint("ssh-rsa " .. pub:match("^%S+ (%S+)"))))
  end)
end)

describe("ssh probe", function()
  local util = require("moonbase.engine.util")

  it("tells a handshake nobody answers (its own shorter wait) from a silent server", function()
    local port = util.free_tcp_port()
    -- a listener that never accepts, with a backlog of one: once a few
    -- connections wait in it, the kernel drops further SYNs unanswered, as a
    -- guest whose address is not up yet does
    local pid = assert(process.spawn({ "perl", "-MIO::Socket::INET", "-e",
      "my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:" .. port ..
      "', ReuseAddr => 1) or die; sleep 60" }))
    local ok, msg, code, how
    for _ = 1, 50 do -- until it listens
      ok, msg, code, how = ssh.probe("127.0.0.1", port, 0.3, 0.3)
      if how ~= "refused" then break end
      require("moonbase.engine.util").sleep(0.05)
    end
    -- accepted by the kernel, no banner: silent
    assert.is_nil(ok)
    assert.equal("silent", how, msg)
    local fills = {}
    for i = 1, 8 do fills[i] = { ssh.probe("127.0.0.1", port, 0.2, 0.2) } end
    ok, msg, code, how = ssh.probe("127.0.0.1", port, 2, 0.25)
    assert.is_nil(ok)
    assert.equal("unconnected", how, msg)
    assert.equal("timeout", code)
    assert.equal("ssh: no answer from 127.0.0.1:" .. port .. " within 250 ms", msg)
    process.kill(pid, 9)
    process.wait(pid)
  end)

  it("holds a silent connection while it opens the next, and takes the banner from either", function()
    local port = util.free_tcp_port()
    -- an SSH server slow to answer: the first connection gets its banner only
    -- once a second one has come (a probe that closed the first to open the
    -- next would never see a banner)
    local pid = assert(process.spawn({ "perl", "-MIO::Socket::INET", "-e",
      "my $s = IO::Socket::INET->new(Listen => 8, LocalAddr => '127.0.0.1:" .. port ..
      "', ReuseAddr => 1) or die; my $a = $s->accept; my $b = $s->accept; " ..
      "print $a qq(SSH-2.0-held\r\n); $a->flush; sleep 60" }))
    finally(function() process.kill(pid, 9) process.wait(pid) end)
    local ok, msg, how
    for _ = 1, 50 do -- until it listens
      ok, msg, _, how = ssh.probe("127.0.0.1", port, 5, 1, 0.2)
      if how ~= "refused" then break end
      util.sleep(0.05)
    end
    assert.is_true(ok, msg)
  end)
end)

describe("ssh sessions", function()
  if not fs.exists(SSHD) then
    pending("needs an OpenSSH server: " .. SSHD .. " is missing (apt-get install openssh-server)")
    return
  end

  local dir, port, host_key, user
  local function opts(extra)
    local o = { host = "127.0.0.1", port = port, user = user, key = dir .. "/client",
      host_key = host_key, timeout = 10 }
    for k, v in pairs(extra or {}) do o[k] = v or nil end
    return o
  end
  local function session() return assert(ssh.connect(opts())) end
  -- runs tests/lib/ssh_exec.lua: code, stdout, stderr
  local function exec(command, o)
    o = o or {}
    local argv = { helpers.bin, "--lua", helpers.src .. "/tests/lib/ssh_exec.lua" }
    for _, a in ipairs(o.args or {}) do argv[#argv + 1] = a end
    for _, a in ipairs({ tostring(o.port or port), dir .. "/client", dir .. "/host_key.pub",
      command }) do
      argv[#argv + 1] = a
    end
    return process.run(argv, { input = o.input })
  end

  setup(function()
    dir = helpers.tmpdir("sshd")
    user = sh("id -un")
    host_key = assert(ssh.keygen(dir .. "/host_key", "test-host"))
    assert(ssh.keygen(dir .. "/client", "test-client"))
    assert(fs.write(dir .. "/authorized_keys", fs.read(dir .. "/client.pub")))
    port = tonumber(sh(helpers.src .. "/tests/lib/sshd.sh start " .. dir .. " " .. dir
      .. "/host_key " .. dir .. "/authorized_keys"))
    assert(port)
  end)

  teardown(function()
    if dir then
      process.run({ helpers.src .. "/tests/lib/sshd.sh", "stop", dir })
      fs.rmtree(dir)
    end
  end)

  it("exec returns the remote exit status, 255 when it cannot connect", function()
    assert.equal(0, (exec("true")))
    assert.equal(3, (exec("exit 3")))
    assert.equal(128 + 15, (exec("kill -TERM $$")))
    local code, out, err = exec("true", { port = 1 })
    assert.equal(255, code)
    assert.equal("", out)
    assert.matches("cannot connect to 127.0.0.1:1", err)
  end)

  it("exec keeps stdout and stderr apart", function()
    local code, out, err = exec("echo to-out; echo to-err >&2; exit 4")
    assert.equal(4, code)
    assert.equal("to-out\n", out)
    assert.equal("to-err\n", err)
  end)

  it("exec streams 10 MB of stdin through sha256sum and back through cat", function()
    local f = dir .. "/in10"
    random_file(f, 10)
    local data = fs.read(f)
    local code, out = exec("sha256sum", { input = data })
    assert.equal(0, code)
    assert.equal(sha256_file(f), out:match("^(%x+)"))
    local code2, echoed = exec("cat", { input = data })
    assert.equal(0, code2)
    assert.equal(#data, #echoed)
    assert.is_true(data == echoed)
  end)

  it("exec with stdin=false sends EOF at once; env reaches the command", function()
    local code, out = exec("cat; echo done", { input = "ignored\n", args = { "--no-stdin" } })
    assert.equal(0, code)
    assert.equal("done\n", out)
    -- MB_ACCEPTED_* passes sshd's AcceptEnv; OTHER does not and is exported instead
    code, out = exec('echo "$MB_ACCEPTED_A|$OTHER"', { args = { "--env", "MB_ACCEPTED_A=1",
      "--env", "OTHER=it's b" } })
    assert.equal(0, code)
    assert.equal("1|it's b\n", out)
  end)

  it("exec{command=, fds=} pumps the streams to the fds it is given", function()
    local script = dir .. "/fds.lua"
    assert(fs.write(script, string.format([[
local ssh = require("moonbase.engine.ssh")
local s = assert(ssh.connect{host = "127.0.0.1", port = %d, user = %q, key = %q,
  host_key = %q})
-- stdout to fd 2 and stderr to fd 1; no stdin
return assert(s:exec{command = "cat; echo out; echo err >&2; exit 6", fds = {false, 2, 1}})
]], port, user, dir .. "/client", host_key)))
    local code, out, err = process.run({ helpers.bin, "--lua", script }, { input = "unread\n" })
    assert.equal(6, code)
    assert.equal("err\n", out)
    assert.equal("out\n", err)
  end)

  it("run captures status, stdout and stderr, with optional input", function()
    local s <close> = session()
    local code, out, err = s:run("echo out; echo err >&2; exit 5")
    assert.equal(5, code)
    assert.equal("out\n", out)
    assert.equal("err\n", err)
    -- 12 MiB both ways at once: more than either side's window (the case
    -- where a window adjust must not be missed)
    local big = string.rep("0123456789abcdef", 65536 * 12)
    code, out = s:run("cat", big)
    assert.equal(0, code)
    assert.is_true(out == big)
    code, out = s:run("wc -c")
    assert.equal(0, code)
    assert.equal("0", out:match("%d+"))
    for i = 1, 5 do -- one channel after another on one session
      assert.equal(i % 7, (s:run("exit " .. i % 7)))
    end
  end)

  it("put and get copy 20 MB with the same sha256, mode and mtime", function()
    local s <close> = session()
    local src, remote, back = dir .. "/src20", dir .. "/remote20", dir .. "/back20"
    random_file(src, 20)
    sh("chmod 0751 " .. src .. " && touch -d '2021-02-03 04:05:06' " .. src)
    local mtime = fs.stat(src).mtime
    assert.is_true(s:put(src, remote, { preserve = true }))
    assert.is_true(s:get(remote, back, { preserve = true }))
    local want = sha256_file(src)
    local _, remote_sum = s:run("sha256sum " .. remote)
    assert.equal(want, remote_sum:match("^(%x+)")) -- checked on the far side too
    assert.equal(want, sha256_file(back))
    for _, p in ipairs({ remote, back }) do
      local st = fs.stat(p)
      assert.equal(tonumber("751", 8), st.mode)
      assert.equal(math.floor(mtime), math.floor(st.mtime))
    end
    local rst = s:stat(remote)
    assert.same({ "file", 20000000, tonumber("751", 8), math.floor(mtime) },
      { rst.type, rst.size, rst.mode, rst.mtime })
    -- without preserve: the given mode, a fresh mtime
    assert.is_true(s:put(src, dir .. "/plain", { mode = tonumber("600", 8) }))
    local pst = fs.stat(dir .. "/plain")
    assert.equal(tonumber("600", 8), pst.mode)
    assert.is_true(pst.mtime > mtime + 1000)
  end)

  it("put_data, get_data, mkdir, readdir and stat", function()
    local s <close> = session()
    local d = dir .. "/tree"
    assert.is_true(s:mkdir(d, tonumber("700", 8)))
    local ok, msg, code = s:mkdir(d)
    assert.is_nil(ok)
    assert.equal("exists", code)
    assert.matches("exists", msg)
    assert.is_true(s:put_data("hello\n", d .. "/b.txt", tonumber("640", 8)))
    assert.is_true(s:put_data("", d .. "/a.txt"))
    assert.is_true(s:mkdir(d .. "/sub"))
    assert.equal("hello\n", s:get_data(d .. "/b.txt"))
    assert.equal("", s:get_data(d .. "/a.txt"))
    local names = {}
    for _, e in ipairs(s:readdir(d)) do names[#names + 1] = e.name .. ":" .. e.type end
    assert.same({ "a.txt:file", "b.txt:file", "sub:directory" }, names)
    local st = s:stat(d .. "/b.txt")
    assert.same({ "file", 6, tonumber("640", 8) }, { st.type, st.size, st.mode })
    assert.equal(tonumber("700", 8), s:stat(d).mode)
    local none, m2, c2 = s:get_data(d .. "/missing")
    assert.is_nil(none)
    assert.equal("notfound", c2)
    assert.matches("missing", m2)
    assert.equal("notfound", select(3, s:stat(d .. "/missing")))
    assert.equal("notfound", select(3, s:readdir(d .. "/missing")))
    assert.equal("notfound", select(3, s:get(d .. "/missing", dir .. "/x")))
    assert.is_nil(fs.exists(dir .. "/x"))
  end)

  it("refuses a server whose host key is not the expected one", function()
    local _, other = ssh.keypair("someone-else")
    local s, msg, code = ssh.connect(opts({ host_key = other }))
    assert.is_nil(s)
    assert.equal("hostkey", code)
    assert.truthy(msg:find("REMOTE HOST KEY CHANGED for 127.0.0.1:" .. port .. ": expected "
      .. ssh.fingerprint(other) .. ", got " .. ssh.fingerprint(host_key), 1, true), msg)
    assert.matches("refusing to connect", msg)
  end)

  it("fails fast with 'unreachable' on a closed port, 'auth' on an unknown key", function()
    local t0 = system.gettime()
    local s, msg, code = ssh.connect(opts({ port = 1 }))
    assert.is_nil(s)
    assert.equal("unreachable", code)
    assert.matches("Connection refused", msg)
    -- at once: well inside the connect timeout a retry loop would wait out
    assert.is_true(system.gettime() - t0 < 10)
    local stranger = ssh.keypair()
    s, msg, code = ssh.connect(opts({ key = false, key_data = stranger }))
    assert.is_nil(s)
    assert.equal("auth", code)
    assert.matches("refused the key", msg)
    -- the key may be given as text too
    local priv = fs.read(dir .. "/client")
    local s2 <close> = assert(ssh.connect(opts({ key = false, key_data = priv })))
    assert.equal(0, (s2:run("true")))
  end)

  it("a broken connection fails at once with 'unreachable'; alive() tells", function()
    local s <close> = session()
    assert.is_true(s:alive())
    local _, ppid = s:run("echo $PPID") -- the sshd process serving this connection
    assert(process.kill(tonumber(ppid), process.SIGKILL))
    local t0 = system.gettime()
    local ok, msg, code = s:run("true")
    assert.is_nil(ok)
    assert.equal("unreachable", code)
    assert.matches("connection to .* is lost", msg)
    assert.is_false(s:alive())
    assert.equal("unreachable", select(3, s:stat("/")))
    assert.is_true(system.gettime() - t0 < 20) -- not the keepalive's wait
  end)

  it("handles are closable once, usable in <close>, strict about options", function()
    local s
    do
      local c <close> = session()
      s = c
      assert.matches("^ssh session " .. user .. "@127.0.0.1:" .. port .. "$", tostring(c))
    end
    assert.equal("ssh session (closed)", tostring(s))
    assert.has_error(function() s:run("true") end, "attempt to use a closed ssh session")
    s:close() -- again: fine
    assert.has_error(function() ssh.connect(opts({ bogus = 1 })) end,
      "ssh.connect: unknown option 'bogus'")
    assert.has_error(function() ssh.connect({ host = "127.0.0.1" }) end)
    local c <close> = session()
    assert.has_error(function() c:put("a", "b", { mode = 1, presrve = true }) end,
      "session:put: unknown option 'presrve'")
  end)

  it("shell gives an interactive PTY that follows the terminal's size (tmux)", function()
    if not fs.exists("/usr/bin/tmux") then
      process.run({ "sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q tmux" })
    end
    if not fs.exists("/usr/bin/tmux") then
      pending("tmux is not installed and could not be installed")
      return
    end
    local sock, result = dir .. "/tmux.sock", dir .. "/shell.status"
    local script = dir .. "/shell.lua"
    assert(fs.write(script, string.format([[
local ssh = require("moonbase.engine.ssh")
local s = assert(ssh.connect{host = "127.0.0.1", port = %d, user = %q, key = %q,
  host_key = %q, timeout = 10})
local status, msg = s:shell{}
local f = io.open(%q, "w")
f:write(tostring(status), " ", tostring(msg), "\n")
f:close()
]], port, user, dir .. "/client", host_key, result)))
    local function tmux(...)
      return process.run({ "tmux", "-S", sock, ... })
    end
    local function screen()
      local _, out = tmux("capture-pane", "-p", "-t", "t")
      return out
    end
    local function wait_for(pattern, what)
      for _ = 1, 150 do
        if ("\n" .. screen()):find(pattern) then return true end
        system.sleep(0.1)
      end
      error("timed out waiting for " .. what .. "; screen:\n" .. screen())
    end
    assert.equal(0, (tmux("new-session", "-d", "-s", "t", "-x", "80", "-y", "24",
      helpers.bin .. " --lua " .. script)))
    local ok, err = pcall(function()
      wait_for("[#$]%s*\n", "the remote prompt")
      tmux("send-keys", "-t", "t", "echo hi-$((6*7))", "Enter")
      wait_for("\nhi%-42\n", "hi-42")
      tmux("send-keys", "-t", "t", "stty size", "Enter")
      wait_for("\n24 80\n", "stty size 24 80")
      tmux("resize-window", "-t", "t", "-x", "100", "-y", "30")
      tmux("send-keys", "-t", "t", "stty size", "Enter")
      wait_for("\n30 100\n", "stty size 30 100 after the resize")
      tmux("send-keys", "-t", "t", "exit 7", "Enter")
      for _ = 1, 100 do
        if fs.exists(result) then break end
        system.sleep(0.1)
      end
    end)
    tmux("kill-server")
    assert(ok, err)
    assert.equal("7 nil\n", fs.read(result))
  end)
end)
