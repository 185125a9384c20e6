-- A real guest through the daemon: `moonbase daemon` runs as root inside this
-- suite's network namespace (tests/lib/in-netns.sh) and an unprivileged user
-- in the group moonbase drives it over the unix socket: the instance gets
-- moonbase0 networking (which that user could not make), exec passes stdin
-- and the exit status, a shell runs in tmux with a resize, transfer copies
-- both ways. One tiny-image instance, shared by the tests in order.
-- Run: tests/lib/in-netns.sh build/moonbase --lua tests/run-busted.lua tests/e2e/daemon_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local NAME = "dvm"
local USER = "mb-e2e-user"

describe("a real VM through the daemon #e2e", function()
  local why = support.unavailable() or support.netns_unavailable()
  if why then
    it("needs QEMU, root and a network namespace", function() pending(why) end)
    return
  end

  local host, h, sockdir, sock, daemon_pid, uhome, skip

  -- moonbase as the unprivileged user, through the daemon
  local function as_user(args, opts)
    opts = opts or {}
    local argv = { "setpriv", "--reuid=" .. USER, "--regid=" .. USER, "--init-groups",
      "--inh-caps=-all", "env", "MOONBASE_SERVER=unix://" .. sock, "MOONBASE_HOME=" .. uhome,
      "NO_COLOR=1", "HOME=" .. uhome, support.bin }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local code, out, err = process.run(argv, { input = opts.input, cwd = opts.cwd or uhome })
    return code, out or "", err or ""
  end
  local function user_ok(args, opts)
    local code, out, err = as_user(args, opts)
    assert(code == 0, string.format("moonbase %s exited %d: %s%s", table.concat(args, " "), code,
      err, out))
    return out
  end

  setup(function()
    local msg
    host, msg = support.host()
    if not host then
      skip = "the tiny test image is not available: " .. tostring(msg)
      return
    end
    h = support.home(host, { tag = "daemon", private_network = true })
    assert(process.run({ "sh", "-c", "getent group moonbase >/dev/null || groupadd --system " ..
      "moonbase; id " .. USER .. " >/dev/null 2>&1 || useradd --system --no-create-home " ..
      "--shell /bin/sh " .. USER .. "; usermod -aG moonbase " .. USER }) == 0)
    sockdir = support.tmpdir("dsock")
    uhome = support.tmpdir("duser")
    assert(process.run({ "chmod", "755", sockdir }) == 0)
    assert(process.run({ "chown", USER, uhome }) == 0)
    sock = sockdir .. "/moonbase.sock"
    local env = { MOONBASE_SERVER = false }
    for k, v in pairs(h.env) do env[k] = v end
    daemon_pid = assert(process.spawn(support.argv({ "daemon", "--listen", "unix:" .. sock },
      true), { env = env, stdout = h.dir .. "/daemon.log", stderr = h.dir .. "/daemon.log" }))
    support.wait_for("the daemon's socket", 10, function() return fs.exists(sock) end)
  end)

  teardown(function()
    if daemon_pid then
      process.kill(daemon_pid, 15)
      process.wait(daemon_pid)
    end
    support.cleanup()
    if sockdir then fs.rmtree(sockdir) end
    if uhome then fs.rmtree(uhome) end
  end)

  local function need()
    if skip then pending(skip) end
  end

  it("launches as a user in the group moonbase, on moonbase0", function()
    need()
    local out = user_ok({ "launch", "--name", NAME, "--timeout", "300" })
    assert.truthy(out:find("Launched: " .. NAME, 1, true), out)
    local info = json.decode(user_ok({ "info", NAME, "--format", "json" }))[NAME]
    assert.equal("running", info.state)
    assert.truthy(#info.ipv4 > 0, "no address on moonbase0")
    -- the daemon (root) made the network; the record says the NIC is on it
    local rec = h:record(NAME)
    assert.truthy(rec.nics and rec.nics[1].network == "moonbase0", json.encode(rec.nics or {}))
    -- and moonbase reaches the guest's SSH at that address (not a forward on 127.0.0.1)
    assert.equal(info.ipv4[1] .. ":22", info.ssh)
  end)

  it("execs with stdin, separate streams and the exit status", function()
    need()
    local code, out, err = as_user({ "exec", NAME, "--", "sh", "-c",
      "cat; echo to-err >&2; exit 7" }, { input = "hello through the daemon\n" })
    assert.equal(7, code)
    assert.equal("hello through the daemon\n", out)
    assert.equal("to-err\n", err)
    code, out = as_user({ "exec", NAME, "--", "wc", "-c" }, { input = string.rep("x", 100000) })
    assert.equal(0, code)
    assert.equal("100000", out:match("%d+"))
  end)

  it("opens a shell on a terminal, follows a resize, returns its status", function()
    need()
    local cmd = table.concat({ "setpriv", "--reuid=" .. USER, "--regid=" .. USER,
      "--init-groups", "env", "MOONBASE_SERVER=unix://" .. sock, "MOONBASE_HOME=" .. uhome,
      "HOME=" .. uhome, "TERM=xterm", support.bin, "shell", NAME }, " ") ..
      "; echo SHELL-EXIT=$?; sleep 30"
    local t = support.tmux(uhome, "dshell", cmd, 100, 30)
    t:wait("@" .. NAME .. ":[^\n]*[#$] *\n", "the guest's prompt", 60)
    t:keys("echo hi-$((6*7))", "Enter")
    t:wait("\nhi%-42 *\n", "hi-42")
    t:keys("stty size", "Enter")
    t:wait("\n30 100 *\n", "the first size", 20)
    t:resize(120, 40)
    util.sleep(0.5)
    t:keys("clear; stty size", "Enter")
    t:wait("\n40 120 *\n", "the size after a resize", 20)
    t:keys("exit 3", "Enter")
    t:wait("SHELL%-EXIT=3", "the shell's exit status", 20)
    t:kill()
  end)

  it("transfers files both ways", function()
    need()
    local src = uhome .. "/up.txt"
    assert(fs.write(src, "sent through the daemon\n"))
    assert(process.run({ "chown", USER, src }) == 0)
    user_ok({ "transfer", src, NAME .. ":up.txt" })
    local code, out = as_user({ "exec", NAME, "--", "cat", "up.txt" })
    assert.equal(0, code)
    assert.equal("sent through the daemon\n", out)
    user_ok({ "transfer", NAME .. ":up.txt", uhome .. "/back.txt" })
    assert.equal("sent through the daemon\n", fs.read(uhome .. "/back.txt"))
    -- the copy belongs to the user who asked for it, not to the daemon's root
    local st = fs.stat(uhome .. "/back.txt")
    assert.truthy(st)
    local _, owner = process.run({ "stat", "-c", "%U", uhome .. "/back.txt" })
    assert.equal(USER, (owner:gsub("%s+$", "")))
  end)

  it("stops and deletes it", function()
    need()
    user_ok({ "stop", NAME })
    user_ok({ "delete", "--purge", NAME })
    assert.equal("No instances found.\n", user_ok({ "list" }))
  end)
end)
