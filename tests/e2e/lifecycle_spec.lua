-- The instance lifecycle on a real QEMU guest, through the moonbase CLI only:
-- the tiny image (tests/images/build-tiny.sh) served by a local simplestreams
-- host, user networking with restrict=on. One instance is launched with a
-- cloud-init runcmd and taken through exec (status, streams, 10 MB of stdin,
-- --workdir, --env), transfer (both ways, -r, -p, stdin/stdout), ssh-config
-- with OpenSSH, shell through tmux (with a window resize), the agent killed
-- and restarted, a changed host key, stop/start/suspend/resume/restart,
-- QEMU killed from outside, delete/recover/purge. The tests run in order and
-- share the instance; every wait is bounded, and whatever is left running is
-- killed by pid at the end.
-- The same tests run for each driver: MOONBASE_E2E_DRIVER= qemu (the
-- default), libvirt (libvirt as Debian ships it, QEMU as libvirt-qemu:
-- tests/lib/libvirtd.sh host, with local.driver=libvirt) or lxd (a stock
-- LXD of the suite's own, tests/lib/lxd.sh, the tiny image as a container
-- on moonbase0 in the suite's network namespace); ctest has one entry per driver. Where a
-- container differs from a VM, the test says what it checks instead: limits
-- are LXD's (its config and the container's cgroup, as /proc shows the host),
-- suspend is a freeze (the processes stay, frozen), a restart is a new init
-- (the container shares the host's kernel and boot id), and "killed from
-- outside" is `lxc stop --force`.
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e/lifecycle_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local NAME = "life"
local DRIVER = os.getenv("MOONBASE_E2E_DRIVER") or "qemu"
-- the file in the instance directory holding the pid of the guest's QEMU
local PIDFILE = ({ qemu = "qemu.pid", libvirt = "libvirt.pid", lxd = "" })[DRIVER]
local CONTAINER = DRIVER == "lxd"
local BOOT = "300" -- --timeout for a boot under TCG on a busy 2-core machine

local function sha256_file(path)
  return support.must({ "sha256sum", path }):match("^(%x+)")
end

local function lines_of(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

describe("instance lifecycle on a real VM (driver " .. DRIVER .. ") #e2e", function()
  local why = support.unavailable()
  if not why and not PIDFILE then
    why = "MOONBASE_E2E_DRIVER=" .. DRIVER .. ": this suite knows the drivers qemu, libvirt " ..
      "and lxd"
  end
  if why then
    it("needs QEMU", function() pending(why) end)
    return
  end

  local host, h, tmp, skip, lxd_dir
  local timings = {}

  local function timed(what, fn)
    local t0 = util.now()
    local r = table.pack(fn())
    timings[#timings + 1] = string.format("%s %.1fs", what, util.now() - t0)
    return table.unpack(r, 1, r.n)
  end

  local function need()
    if skip then pending(skip) end
  end

  local function exec(args, opts)
    local argv = { "exec", NAME }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return h:run(argv, opts)
  end

  local function guest(cmd)
    local code, out, err = exec({ "--", "sh", "-c", cmd })
    assert(code == 0, "guest command failed (" .. code .. "): " .. cmd .. "\n" .. err .. out)
    return out
  end

  local function state()
    local out = h:ok({ "list", "--format", "json" })
    for _, r in ipairs(json.decode(out)) do
      if r.name == NAME then return r.state end
    end
    return "absent"
  end

  local function info()
    return json.decode(h:ok({ "info", NAME, "--format", "json" }))[NAME]
  end

  local function uptime()
    return tonumber(guest("cat /proc/uptime"):match("^([%d.]+)"))
  end

  -- the guest's process on this host: QEMU, or the container's init
  local function qemu_pid()
    if CONTAINER then
      local code, out = support.lxc(lxd_dir, { "query", "/1.0/instances/" .. NAME .. "/state" })
      return code == 0 and math.tointeger(json.decode(out).pid) or nil
    end
    local s = fs.read(h:instance_dir(NAME) .. "/" .. PIDFILE)
    return s and math.tointeger(tonumber(s:match("%d+")))
  end

  local function lxc(args)
    local code, out, err = support.lxc(lxd_dir, args)
    assert(code == 0, "lxc " .. table.concat(args, " ") .. ": " .. err .. out)
    return out
  end

  -- (the dnsmasq of moonbase0, which the lxd suite's containers are on,
  -- serves the network, not the instance: it stays)
  local function no_processes_left(what)
    support.wait_for(what .. ": no QEMU or agent of the home left", 20, function()
      for _, p in ipairs(support.processes(h.dir)) do
        if not p.cmd:match("^dnsmasq ") then return false end
      end
      return true
    end)
  end

  setup(function()
    local msg
    host, msg = support.host()
    if not host then
      skip = "the tiny test image is not available: " .. tostring(msg)
      return
    end
    local uri, sock
    if DRIVER == "libvirt" then
      uri, msg = support.libvirtd()
      if not uri then
        skip = msg
        return
      end
    elseif CONTAINER then
      -- LXD's containers join moonbase's own bridges: root, in a namespace of ours
      local no = support.netns_unavailable()
      if no then
        skip = no
        return
      end
      sock, lxd_dir = support.lxd()
      if not sock and lxd_dir:match("^LXD cannot run here") then
        skip = lxd_dir
        return
      end
      assert(sock, lxd_dir) -- an LXD that does not start fails the suite
    end
    h = support.home(host, { tag = "life-" .. DRIVER, scope = CONTAINER and "lxd" or nil,
      private_network = CONTAINER })
    if uri then h:ok({ "set", "local.libvirt.uri=" .. uri, "local.driver=libvirt" }) end
    if sock then h:ok({ "set", "local.lxd.socket=" .. sock, "local.driver=lxd" }) end
    tmp = support.tmpdir("life-files")
  end)

  teardown(function()
    if h and not skip then
      -- what a failed test leaves behind is shown, then killed
      for _, p in ipairs(support.processes(h.dir)) do
        io.stderr:write(string.format("[e2e] left running: %d %s\n", p.pid, p.cmd:sub(1, 120)))
      end
    end
    support.cleanup()
    if tmp then fs.rmtree(tmp) end
    if #timings > 0 then
      io.stderr:write("\nlifecycle e2e timings (" .. DRIVER .. "): " ..
        table.concat(timings, ", ") .. "\n")
    end
  end)

  it("launches with a cloud-init runcmd, showing the status line, and lists it running",
    function()
      need()
      local ci = tmp .. "/cloud-init.yaml"
      assert(fs.write(ci, table.concat({
        "#cloud-config",
        "runcmd:",
        "  - echo \"runcmd ran on $(hostname)\" > /var/tmp/runcmd.txt",
        "  - [ touch, /var/tmp/runcmd-argv ]",
        "",
      }, "\n")))
      local code, out, err = timed("launch", function()
        return h:run({ "launch", "--name", NAME, "--memory", "256M", "--cloud-init", ci,
          "--timeout", BOOT })
      end)
      assert.equal(0, code, err .. out)
      assert.equal("Launched: " .. NAME .. "\n", out)
      -- not a terminal: the status line is one line per step
      local steps = lines_of(err)
      local want = { "Starting…", "Waiting for SSH…", "Waiting for cloud-init…" }
      local at = 0
      for _, w in ipairs(want) do
        local found
        for i = at + 1, #steps do
          if steps[i] == w then found = i break end
        end
        assert(found, "status step \"" .. w .. "\" missing or out of order in:\n" .. err)
        at = found
      end

      assert.equal("running", state())
      assert.equal("runcmd ran on " .. NAME .. "\n", guest("cat /var/tmp/runcmd.txt"))
      guest("test -f /var/tmp/runcmd-argv")
      assert.equal(NAME .. "\n", guest("hostname"))
      if CONTAINER then
        assert.equal("RUNNING", lxc({ "list", NAME, "-c", "s", "-f", "csv" }):gsub("%s+$", ""))
        assert.equal("1\n", guest("nproc")) -- --cpus 1: limits.cpu
      else
        assert.equal(1, #support.qemus(h.dir))
      end
      assert.equal(1, #support.agents(h.dir, NAME))
    end)

  if DRIVER == "libvirt" then
    it("keeps the instance folder private: libvirt-qemu's QEMU runs on a copy in libvirt's pool",
      function()
        need()
        local d = h:instance_dir(NAME)
        local function stat(fmt, path)
          return (support.must({ "stat", "-c", fmt, path }):gsub("%s+$", ""))
        end
        assert.equal("700", stat("%a", d))
        -- the home (/tmp) is not on the mount of /var/lib/libvirt: the disk
        -- and the seed were uploaded to the pool, and come back at stop
        assert.equal("copy\n", fs.read(d .. "/libvirt.lent"))
        local dom = (fs.read(d .. "/libvirt.domain") or ""):match("\n([^\n]+)")
        local pool = "/var/lib/libvirt/images/moonbase/" .. dom
        assert.equal("libvirt-qemu 600", stat("%U %a", pool .. ".qcow2"))
        assert.are_not.equal(stat("%i", d .. "/disk.qcow2"), stat("%i", pool .. ".qcow2"))
        local q = support.qemus(h.dir)[1]
        assert.is_nil(q.cmd:find(h.dir, 1, true), q.cmd)
        assert.equal("libvirt-qemu",
          (support.must({ "ps", "-o", "user=", "-p", tostring(q.pid) }):gsub("%s+", "")))
      end)
  end

  it("reports state, image, cpus, memory, disk, SSH address and uptime in info", function()
    need()
    local i = info()
    assert.equal(NAME, i.name)
    assert.equal("running", i.state)
    assert.equal("local:tiny", i.image)
    assert.equal(1, i.cpus)
    assert.equal(256 * 1024 * 1024, i.memory)
    assert.equal(5 * 1024 ^ 3, i.disk_total)
    local port
    if CONTAINER then
      -- LXD's root file system, not a disk file of moonbase's; the guest is
      -- reached at its own address on moonbase0
      port = math.tointeger(tonumber((i.ssh or ""):match("^10%.[%d.]+:(22)$")))
      assert.is_truthy(port, "ssh address: " .. tostring(i.ssh))
      assert.equal(i.ssh, i.ipv4[1] .. ":22")
    else
      assert.is_number(i.disk_used)
      assert.is_true(i.disk_used > 0 and i.disk_used < 1024 ^ 3,
        "disk_used should be the overlay's allocation, got " .. tostring(i.disk_used))
      port = math.tointeger(tonumber((i.ssh or ""):match("^127%.0%.0%.1:(%d+)$")))
      assert.is_truthy(port, "ssh address: " .. tostring(i.ssh))
      assert.equal(h:record(NAME).ssh_port, port)
    end
    assert.is_number(i.uptime)
    util.sleep(1.1)
    assert.is_true(info().uptime >= i.uptime + 1)
    assert.equal(DRIVER, i.driver)
    -- the human table has the same facts
    local text = h:ok({ "info", NAME })
    assert.truthy(text:find("State:%s+running"), text)
    assert.truthy(text:find("SSH:%s+" .. i.ssh:gsub("%.", "%%."), 1), text)
    assert.truthy(text:find("Memory:%s+256M") or text:find("Memory:%s+256 ?Mi?B"), text)
  end)

  it("exec: exit statuses, separate stdout and stderr, --workdir, --env", function()
    need()
    local code, out, err = exec({ "--", "true" })
    assert.same({ 0, "", "" }, { code, out, err })
    assert.equal(1, (exec({ "--", "false" })))
    assert.equal(7, (exec({ "--", "sh", "-c", "exit 7" })))
    assert.equal(143, (exec({ "--", "sh", "-c", "kill -TERM $$" })))
    assert.equal(127, (exec({ "--", "no-such-command-here" })))
    code, out, err = exec({ "--", "sh", "-c", "echo to-out; echo to-err >&2; echo more-out" })
    assert.equal(0, code)
    assert.equal("to-out\nmore-out\n", out)
    assert.equal("to-err\n", err)
    -- arguments keep their spaces and quotes
    code, out = exec({ "--", "printf", "[%s]\\n", "a b", "it's", "" })
    assert.equal(0, code)
    assert.equal("[a b]\n[it's]\n[]\n", out)
    code, out = exec({ "--workdir", "/var/tmp", "--", "pwd" })
    assert.equal("/var/tmp\n", out)
    code, out = exec({ "--env", "ALPHA=1", "--env", "BETA=two words", "--", "sh", "-c",
      "echo \"$ALPHA|$BETA\"" })
    assert.equal(0, code)
    assert.equal("1|two words\n", out)
    code, out, err = exec({ "--env", "not valid", "--", "true" })
    assert.equal(1, code, err)
    -- a heredoc on stdin
    code, out = exec({ "--", "sh" }, { input = "echo from-heredoc\nexit 3\n" })
    assert.equal(3, code)
    assert.equal("from-heredoc\n", out)
  end)

  it("exec streams 10 MB of stdin and stdout intact", function()
    need()
    local big = tmp .. "/big.bin"
    support.must({ "sh", "-c", "head -c 10485760 /dev/urandom > " .. big })
    local want = sha256_file(big)
    local code, out, err = timed("exec 10 MB stdin", function()
      return support.run({ "sh", "-c", h:sh({ "exec", NAME, "--", "sha256sum" }) .. " < " .. big })
    end)
    assert.equal(0, code, err)
    assert.equal(want .. "  -\n", out)
    -- through a pipe, and back out through stdout
    code, out, err = support.run({ "sh", "-c", "cat " .. big .. " | " ..
      h:sh({ "exec", NAME, "--", "cat" }) .. " | sha256sum" })
    assert.equal(0, code, err)
    assert.equal(want .. "  -\n", out)
  end)

  it("transfers files both ways: sha256, -r, -p, stdin and stdout", function()
    need()
    local big = tmp .. "/big.bin"
    local want = sha256_file(big)
    timed("transfer 10 MB up", function() h:ok({ "transfer", big, NAME .. ":big.bin" }) end)
    assert.equal(want .. "  big.bin\n", guest("sha256sum big.bin"))
    local back = tmp .. "/big.back"
    timed("transfer 10 MB down", function() h:ok({ "transfer", NAME .. ":big.bin", back }) end)
    assert.equal(want, sha256_file(back))

    -- a tree with modes and old mtimes, up with -r -p
    local tree = tmp .. "/tree"
    assert(fs.mkdirs(tree .. "/sub/deeper"))
    assert(fs.write(tree .. "/a.txt", "alpha\n"))
    assert(fs.write(tree .. "/sub/b.txt", "beta\n"))
    assert(fs.write(tree .. "/sub/deeper/run.sh", "#!/bin/sh\necho run\n"))
    support.must({ "chmod", "0640", tree .. "/a.txt" })
    support.must({ "chmod", "0755", tree .. "/sub/deeper/run.sh" })
    support.must({ "touch", "-d", "2020-01-02 03:04:05 UTC", tree .. "/a.txt" })
    support.must({ "touch", "-d", "2021-06-07 08:09:10 UTC", tree .. "/sub/deeper/run.sh" })
    local a_mtime = fs.stat(tree .. "/a.txt").mtime
    h:ok({ "transfer", "-r", "-p", tree, NAME .. ":" })
    assert.equal(table.concat({
      "tree/a.txt 640 " .. math.floor(a_mtime),
      "tree/sub/b.txt", "tree/sub/deeper/run.sh 755 " ..
        math.floor(fs.stat(tree .. "/sub/deeper/run.sh").mtime), "" }, "\n"),
      guest("stat -c '%n %a %Y' tree/a.txt; echo tree/sub/b.txt; " ..
        "stat -c '%n %a %Y' tree/sub/deeper/run.sh"))
    assert.equal("run\n", guest("tree/sub/deeper/run.sh"))
    -- a directory without -r is refused
    local code, _, err = h:run({ "transfer", tree, NAME .. ":nope" })
    assert.equal(1, code)
    assert.truthy(err:find("-r", 1, true), err)

    -- and back down with -r -p into a new directory
    local down = tmp .. "/down"
    h:ok({ "transfer", "-r", "-p", NAME .. ":tree", down })
    assert.equal("alpha\n", fs.read(down .. "/a.txt"))
    assert.equal("beta\n", fs.read(down .. "/sub/b.txt"))
    assert.equal("#!/bin/sh\necho run\n", fs.read(down .. "/sub/deeper/run.sh"))
    local st = fs.stat(down .. "/a.txt")
    assert.equal(tonumber("640", 8), st.mode & 511)
    assert.equal(math.floor(a_mtime), math.floor(st.mtime))
    assert.equal(tonumber("755", 8), fs.stat(down .. "/sub/deeper/run.sh").mode & 511)

    -- several sources into a guest directory
    h:ok({ "transfer", tree .. "/a.txt", tree .. "/sub/b.txt", NAME .. ":tree/sub/deeper/" })
    assert.equal("alpha\nbeta\n", guest("cat tree/sub/deeper/a.txt tree/sub/deeper/b.txt"))

    -- --parents makes the missing folders on either side (Multipass's transfer -p)
    code, _, err = h:run({ "transfer", tree .. "/a.txt", NAME .. ":made/for/it/a.txt" })
    assert.is_true(code ~= 0, "no parents: refused")
    h:ok({ "transfer", "--parents", tree .. "/a.txt", NAME .. ":made/for/it/a.txt" })
    assert.equal("alpha\n", guest("cat made/for/it/a.txt"))
    h:ok({ "transfer", "--parents", NAME .. ":made/for/it/a.txt", tmp .. "/made/here/a.txt" })
    assert.equal("alpha\n", fs.read(tmp .. "/made/here/a.txt"))

    -- stdin to the guest, the guest to stdout
    h:ok({ "transfer", "-", NAME .. ":from-stdin.txt" }, { input = "piped in\n" })
    assert.equal("piped in\n", guest("cat from-stdin.txt"))
    assert.equal("piped in\n", h:ok({ "transfer", NAME .. ":from-stdin.txt", "-" }))

    -- a missing remote file fails clearly and leaves nothing behind
    code, _, err = h:run({ "transfer", NAME .. ":no-such-file", tmp .. "/nothing" })
    assert.is_true(code ~= 0)
    assert.truthy(err:find("no%-such%-file"), err)
    assert.is_falsy((fs.exists(tmp .. "/nothing")))
  end)

  it("prints an ssh-config that OpenSSH uses with the pinned host key", function()
    need()
    local cfg = h:ok({ "ssh-config", NAME })
    assert.truthy(cfg:find("StrictHostKeyChecking yes", 1, true), cfg)
    local file = tmp .. "/ssh_config"
    assert(fs.write(file, cfg))
    local known = cfg:match("UserKnownHostsFile (%S+)")
    local rec = h:record(NAME)
    assert.truthy((fs.read(known) or ""):find(rec.host_key:match("^%S+ %S+"), 1, true))
    local base = { "timeout", "60", "ssh", "-F", file, "-o", "BatchMode=yes",
      "-o", "ConnectTimeout=20" }
    local function ssh(...)
      local argv = { table.unpack(base) }
      for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
      return support.run(argv)
    end
    local code, out, err = ssh(NAME, "hostname")
    assert.equal(0, code, err)
    assert.equal(NAME .. "\n", out)
    code, out, err = ssh(NAME .. ".moonbase", "id -un")
    assert.equal(0, code, err)
    assert.equal(rec.user .. "\n", out)
    -- the pin is what OpenSSH checks: another key in known_hosts is refused
    support.must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp .. "/other" })
    local other = fs.read(tmp .. "/other.pub"):match("^(%S+ %S+)")
    local wrong = tmp .. "/known_wrong"
    assert(fs.write(wrong, NAME .. ".moonbase " .. other .. "\n"))
    code, out, err = ssh("-o", "UserKnownHostsFile=" .. wrong, NAME, "true")
    assert.equal(255, code, out)
    assert.truthy(err:find("REMOTE HOST IDENTIFICATION HAS CHANGED", 1, true)
      or err:find("Host key verification failed", 1, true), err)
  end)

  it("gives an interactive shell through tmux that follows the window size", function()
    need()
    local status = tmp .. "/shell.status"
    local t = support.tmux(tmp, "sh", "sh -c '" .. h:sh({ "shell", NAME }) ..
      "; echo \"shell-exit=$?\" > " .. status .. "'", 80, 24)
    local ok, err = pcall(function()
      t:wait("@" .. NAME .. ":[^\n]*[#$] *\n", "the guest's prompt", 60)
      t:keys("echo hi-$((6*7))", "Enter")
      t:wait("\nhi%-42 *\n", "hi-42")
      t:keys("stty size", "Enter")
      t:wait("\n24 80 *\n", "stty size 24 80")
      t:resize(100, 30)
      util.sleep(0.3)
      t:keys("stty size", "Enter")
      t:wait("\n30 100 *\n", "stty size 30 100 after resizing the window")
      t:resize(90, 20)
      util.sleep(0.3)
      t:keys("clear; stty size", "Enter")
      t:wait("\n20 90 *\n", "stty size 20 90 after a second resize")
      t:keys("exit 7", "Enter")
      support.wait_for("the shell to exit", 30, function() return fs.exists(status) end, 0.1)
    end)
    t:kill()
    assert(ok, err)
    assert.equal("shell-exit=7\n", fs.read(status))
  end)

  it("restarts a killed agent on the next exec, and QEMU lives on", function()
    need()
    local agents = support.agents(h.dir, NAME)
    assert.equal(1, #agents)
    local old, qpid = agents[1].pid, qemu_pid()
    process.kill(old, 9)
    support.wait_for("the agent to die", 10, function() return not process.alive(old) end)
    assert.is_true(process.alive(qpid))
    assert.equal("running", state())
    local code, out, err = timed("exec with an agent restart", function()
      return exec({ "--", "echo", "agent-back" })
    end)
    assert.equal(0, code, err)
    assert.equal("agent-back\n", out)
    agents = support.agents(h.dir, NAME)
    assert.equal(1, #agents)
    assert.is_true(agents[1].pid ~= old)
    assert.equal(qpid, qemu_pid())
    -- the new agent serves the next calls itself
    assert.equal(0, (exec({ "--", "true" })))
    assert.equal(agents[1].pid, support.agents(h.dir, NAME)[1].pid)
  end)

  it("refuses a changed host key loudly", function()
    need()
    local path = h:instance_dir(NAME) .. "/instance.json"
    local original = assert(fs.read(path))
    local rec = json.decode(original)
    support.must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp .. "/impostor" })
    rec.host_key = fs.read(tmp .. "/impostor.pub"):gsub("%s+$", "")
    assert(fs.write(path, json.encode(rec)))
    for _, a in ipairs(support.agents(h.dir, NAME)) do process.kill(a.pid, 9) end
    support.wait_for("the agent to die", 10, function()
      return #support.agents(h.dir, NAME) == 0
    end)
    local ok, err = pcall(function()
      local code, out, msg = exec({ "--", "echo", "should-not-run" })
      assert.equal(255, code, msg)
      assert.equal("", out)
      assert.truthy(msg:find("REMOTE HOST KEY CHANGED", 1, true), msg)
      assert.truthy(msg:find("refusing", 1, true), msg)
      -- the instance itself is untouched
      assert.equal("running", state())
    end)
    assert(fs.write(path, original))
    assert(ok, err)
    assert.equal("back\n", select(2, exec({ "--", "echo", "back" })))
  end)

  it("stops, starts, suspends and resumes (uptime continues), restarts", function()
    need()
    guest("echo on-disk > persist.txt; sync")
    local code, _, err = timed("stop", function() return h:run({ "stop", NAME }) end)
    assert.equal(0, code, err)
    assert.equal("stopped", state())
    assert.equal("stopped", h:record(NAME).state)
    no_processes_left("after stop")
    code, _, err = exec({ "--", "true" })
    assert.equal(2, code)
    assert.truthy(err:find("is stopped", 1, true), err)
    local ssh = info().ssh -- (JSON gives every column: none is null)
    assert.truthy(ssh == nil or ssh == json.null, tostring(ssh))
    -- stopping it again is a notice, not an error (Multipass's behaviour)
    local code2, _, err2 = h:run({ "stop", NAME })
    assert.equal(0, code2, err2)
    assert.truthy(err2:find("is stopped already", 1, true), err2)

    -- CPUs, memory and disk of a stopped instance change at its next start
    h:ok({ "set", "local." .. NAME .. ".cpus=2" })
    h:ok({ "set", "local." .. NAME .. ".memory=384M" })
    h:ok({ "set", "local." .. NAME .. ".disk=6G" })
    code, _, err = h:run({ "set", "local." .. NAME .. ".disk=1G" })
    assert.equal(1, code, err) -- a disk only grows
    assert.truthy(err:find("only grow", 1, true), err)

    -- -v: what moonbase does, on stderr, the agent's part included: the driver
    -- calls and the command line of the guest's QEMU
    code, _, err = timed("start", function() return h:run({ "-v", "start", NAME }) end)
    assert.equal(0, code, err)
    assert.truthy(("\n" .. err):find("\n%* [%d.]+ agent " .. NAME .. ": starting it %(boot%)"),
      err) -- (a line of its own: the first one, or after another)
    assert.truthy(err:find("%* [%d.]+ %[agent " .. NAME .. "%] driver " .. DRIVER .. ": start " ..
      NAME .. "\n"), err)
    if DRIVER == "qemu" then
      assert.truthy(err:find("%[agent " .. NAME .. "%] qemu: running: [^\n]*qemu%-system%-x86_64 " ..
        "[^\n]* %-smp 2 "), err)
    end
    assert.equal("running", state())
    assert.equal("on-disk\n", guest("cat persist.txt"))
    if CONTAINER then
      -- LXD's limits: the CPUs the container may run on, its memory cgroup
      assert.equal("2\n", guest("nproc"))
      assert.equal("384MiB\n", lxc({ "config", "get", NAME, "limits.memory" }))
      local limit = fs.read("/sys/fs/cgroup/memory/lxc.payload." .. NAME ..
        "/memory.limit_in_bytes") or fs.read("/sys/fs/cgroup/lxc.payload." .. NAME ..
        "/memory.max")
      assert.equal(tostring(384 * 1024 * 1024), (limit or ""):gsub("%s+$", ""))
      assert.equal("6GiB\n", lxc({ "config", "device", "get", NAME, "root", "size" }))
    else
      assert.equal("2\n", guest("grep -c ^processor /proc/cpuinfo"))
      local mem_kb = tonumber(guest("sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' " ..
        "/proc/meminfo"))
      assert.is_true(mem_kb > 300 * 1024 and mem_kb <= 384 * 1024, tostring(mem_kb))
      assert.equal(tostring(6 * 1024 * 1024 * 1024 // 512) .. "\n",
        guest("cat /sys/block/vda/size"))
    end
    local i = info()
    assert.same({ 2, 384 * 1024 ^ 2, 6 * 1024 ^ 3 }, { i.cpus, i.memory, i.disk_total })
    -- runcmd ran once per instance, not again at this boot
    assert.equal("runcmd ran on " .. NAME .. "\n", guest("cat /var/tmp/runcmd.txt"))

    -- suspend: the RAM goes to a file, no QEMU is left; start resumes it
    -- (a container is frozen: its processes stay, stopped, and go on after)
    guest("echo in-ram > /dev/shm/marker")
    local sleeper = guest("sleep 100000 >/dev/null 2>&1 & echo $!"):gsub("%s+$", "")
    -- a container shares the host's boot id: its init's start time tells boots apart
    local function boot_mark()
      return CONTAINER and guest("cut -d' ' -f22 /proc/1/stat")
        or guest("cat /proc/sys/kernel/random/boot_id")
    end
    local boot_id = boot_mark()
    local up1 = uptime()
    code, _, err = timed("suspend", function() return h:run({ "suspend", NAME }) end)
    assert.equal(0, code, err)
    assert.equal("suspended", state())
    no_processes_left("after suspend")
    if CONTAINER then
      assert.equal("FROZEN", lxc({ "list", NAME, "-c", "s", "-f", "csv" }):gsub("%s+$", ""))
    else
      -- the RAM image: the QEMU driver's own file; libvirt's managed save
      -- (the domain stays defined, with the image in libvirtd's state dir)
      assert.truthy(fs.exists(h:instance_dir(NAME) .. "/" ..
        (DRIVER == "libvirt" and "libvirt.domain" or "suspend.state")))
    end
    assert.equal(2, (exec({ "--", "true" })))
    util.sleep(1)
    -- MOONBASE_LOG=LEVEL:FILE: the CLI and the agent it starts (another
    -- process, which gets no flag) append to one file; nothing on stderr
    local logfile = tmp .. "/moonbase.log"
    code, _, err = timed("resume", function()
      return h:run({ "start", NAME }, { env = { MOONBASE_LOG = "2:" .. logfile } })
    end)
    assert.equal(0, code, err)
    assert.is_nil(err:find("* ", 1, true), err)
    local pids, text = {}, fs.read(logfile) or ""
    for pid in text:gmatch("%dZ moonbase%[(%d+)%] ") do pids[pid] = true end
    assert.equal(2, (function() local n = 0 for _ in pairs(pids) do n = n + 1 end return n end)(),
      text)
    assert.truthy(text:find("%] driver " .. DRIVER .. ": resume " .. NAME .. "\n"), text)
    assert.truthy(text:find("%] ssh [^\n]*: the host key is the one pinned at launch\n"), text)
    assert.truthy(text:find("%] ssh [^\n]*: authenticated with "), text)
    assert.equal("running", state())
    assert.equal("in-ram\n", guest("cat /dev/shm/marker"))
    assert.equal(boot_id, boot_mark())
    assert.equal(0, (exec({ "--", "kill", "-0", sleeper })), "the process did not live on")
    local up2 = uptime()
    assert.is_true(up2 >= up1, string.format("uptime went from %.2f to %.2f", up1, up2))
    timings[#timings + 1] = string.format("guest uptime %.1fs before suspend, %.1fs after",
      up1, up2)

    -- restart: a fresh boot (another boot id, tmpfs is empty)
    code, _, err = timed("restart", function() return h:run({ "-vv", "restart", NAME }) end)
    assert.equal(0, code, err)
    -- -vv adds the questions asked of the driver and the guest, and libvirt's XML
    assert.truthy(err:find("driver " .. DRIVER .. ": state " .. NAME .. "\n", 1, true), err)
    if DRIVER == "libvirt" then
      assert.truthy(err:find("libvirt: defining the domain:\n[^\n]*    <domain type=", 1), err)
    end
    assert.equal("running", state())
    assert.equal(1, (exec({ "--", "test", "-e", "/dev/shm/marker" })))
    assert.is_true(boot_mark() ~= boot_id)
    assert.equal("on-disk\n", guest("cat persist.txt"))
  end)

  it("notices QEMU killed from outside (list says stopped), and start works again", function()
    need()
    local pid = assert(qemu_pid())
    assert.equal("running", h:record(NAME).state)
    if CONTAINER then
      lxc({ "stop", NAME, "--force" }) -- LXD's own client, behind moonbase's back
    else
      assert.is_true(process.kill(pid, 9), "kill -9 of the recorded QEMU pid " .. pid)
    end
    support.wait_for("list to show the killed instance stopped", 20, function()
      return state() == "stopped"
    end)
    -- the record follows the hypervisor: repaired by whichever of list and
    -- the exiting agent takes the instance's lock first (the other one,
    -- finding it taken, leaves it to the holder, which may not have written
    -- yet when list returns: CI's lifecycle-libvirt saw it once)
    support.wait_for("the record to follow the hypervisor (stopped)", 10, function()
      return h:record(NAME).state == "stopped"
    end)
    no_processes_left("after kill -9 of QEMU")
    local code, _, err = timed("start after kill -9", function()
      return h:run({ "start", NAME })
    end)
    assert.equal(0, code, err)
    assert.equal("running", state())
    assert.equal("on-disk\n", guest("cat persist.txt"))
  end)

  it("deletes, recovers and purges: no QEMU and no files left", function()
    need()
    local dir = h:instance_dir(NAME)
    h:ok({ "delete", NAME })
    assert.equal("deleted", state())
    no_processes_left("after delete")
    if CONTAINER then -- kept, stopped, until purge
      assert.equal("STOPPED", lxc({ "list", NAME, "-c", "s", "-f", "csv" }):gsub("%s+$", ""))
    else
      assert.truthy(fs.exists(dir .. "/disk.qcow2"))
    end
    local code, _, err = h:run({ "start", NAME })
    assert.equal(2, code)
    assert.truthy(err:find("recover", 1, true), err)
    h:ok({ "recover", NAME })
    assert.equal("stopped", state())
    h:ok({ "delete", "--purge", NAME })
    assert.equal("absent", state())
    assert.is_falsy((fs.exists(dir)))
    assert.same({}, fs.list(h.dir .. "/data/instances/" .. h.scope) or {})
    if CONTAINER then assert.equal("", lxc({ "list", NAME, "-c", "n", "-f", "csv" })) end
    no_processes_left("after purge")
    assert.truthy(h:ok({ "list" }):find("No instances found", 1, true))
  end)
end)
