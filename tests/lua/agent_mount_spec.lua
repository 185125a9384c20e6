-- The agent's classic mounts without a VM: an agent (agent.serve in a child
-- process) reaches a private OpenSSH server on 127.0.0.1 (tests/lib/sshd.sh)
-- as if it were a guest, and runs there the very sshfs command moonbase runs
-- in guests (mounts.classic_command, without its "sudo -n": this host's user
-- is root already). Proves the mount/umount ops, the serving threads, id
-- maps, --readonly, the errors (sshfs missing, a target served twice) and the
-- mounts an agent starts with, reported to its ready callback.
local ssh = require("moonbase.engine.ssh")
local agent = require("moonbase.engine.agent")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local mounts = require("moonbase.mounts")
local helpers = require("helpers")

local function sh(cmd)
  local code, out, err = process.run({ "sh", "-c", cmd })
  assert(code == 0, cmd .. " failed: " .. (err or ""))
  return ((out or ""):gsub("\n$", ""))
end

local function have(prog)
  return process.run({ "sh", "-c", "command -v " .. prog .. " >/dev/null" }) == 0
end

local function unavailable()
  if util.geteuid() ~= 0 then return "needs root (sshfs mounts as the SSH user)" end
  if not have("sshfs") then return "sshfs is not installed on this host" end
  if not fs.exists("/dev/fuse") then return "no /dev/fuse on this host" end
  if not fs.exists("/usr/sbin/sshd") then return "needs /usr/sbin/sshd (openssh-server)" end
end

local function as_root(cmd) return (cmd:gsub("^sudo %-n ", "")) end

local function mounted(target)
  return (fs.read("/proc/mounts") or ""):find(" " .. target .. " fuse.sshfs ", 1, true) ~= nil
end

describe("agent classic mounts over SSH (no VM)", function()
  local why = unavailable()
  if why then
    it("needs sshfs, FUSE and sshd", function() pending(why) end)
    return
  end

  local dir, port, host_pub, user
  local agents = {}

  -- Starts an agent serving on DIR/name.sock; returns the socket path and
  -- the file its ready callback writes.
  local function start_agent(name, initial)
    local script = dir .. "/" .. name .. ".lua"
    local ready = dir .. "/" .. name .. ".ready"
    assert(fs.write(script, [[
local agent = require("moonbase.engine.agent")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local cfg = json.decode(arg[1])
local ready_file = cfg.ready_file -- the test's, not an agent.serve option
cfg.ready_file = nil
cfg.ready = function(failures)
  local list = {}
  for i, m in pairs(failures) do list[#list + 1] = i .. ": " .. m end
  fs.write(ready_file, table.concat(list, "\n") .. "\n")
end
assert(agent.serve(cfg))
]]))
    local cfg = { socket = dir .. "/" .. name .. ".sock", host = "127.0.0.1", port = port,
      user = user, key = dir .. "/client", host_key = host_pub, timeout = 10,
      mounts = initial or {}, ready_file = ready }
    local pid = assert(process.spawn({ helpers.bin, "--lua", script,
      require("moonbase.engine.json").encode(cfg) }, { stdout = dir .. "/" .. name .. ".log",
      stderr = dir .. "/" .. name .. ".log" }))
    agents[#agents + 1] = { pid = pid, socket = cfg.socket }
    local deadline = util.now() + 60
    while not fs.exists(ready) do
      assert(util.now() < deadline, "the agent did not get ready: " ..
        tostring(fs.read(dir .. "/" .. name .. ".log")))
      assert(process.wait(pid, true) == nil, "the agent exited: " ..
        tostring(fs.read(dir .. "/" .. name .. ".log")))
      util.sleep(0.05)
    end
    return cfg.socket, ready
  end

  local function request(m, o)
    o = o or {}
    local req = mounts.agent_request(m, { uid = 4242, gid = 4343 })
    return { op = "mount", ["local"] = req.root, remote = req.target,
      command = o.command or as_root(req.command), check = req.check, readonly = req.readonly,
      uid_map = req.uid_map, gid_map = req.gid_map }
  end

  local function umount_request(m)
    return { op = "umount", remote = m.target, command = as_root(mounts.classic_umount_command(m)) }
  end

  setup(function()
    dir = helpers.tmpdir("agentmnt")
    user = sh("id -un")
    host_pub = assert(ssh.keygen(dir .. "/host_key", "test-host"))
    assert(ssh.keygen(dir .. "/client", "test-client"))
    assert(fs.write(dir .. "/authorized_keys", fs.read(dir .. "/client.pub")))
    port = tonumber(sh(helpers.src .. "/tests/lib/sshd.sh start " .. dir .. " " .. dir
      .. "/host_key " .. dir .. "/authorized_keys"))
    for _, d in ipairs({ "share", "ro", "mnt", "mnt-ro", "mnt2", "init" }) do
      assert(fs.mkdirs(dir .. "/" .. d))
    end
    assert(fs.write(dir .. "/share/hello", "hello\n"))
    assert(fs.write(dir .. "/ro/kept", "kept\n"))
    assert(fs.write(dir .. "/outside-secret", "TOPSECRET\n"))
    assert(fs.symlink(dir .. "/outside-secret", dir .. "/share/escape"))
  end)

  teardown(function()
    for _, t in ipairs({ "mnt", "mnt-ro", "mnt2", "init" }) do
      if mounted(dir .. "/" .. t) then process.run({ "umount", "-l", dir .. "/" .. t }) end
    end
    for _, a in ipairs(agents) do
      agent.call(a.socket, { op = "stop" })
      local ended
      for _ = 1, 50 do
        ended = process.wait(a.pid, true) ~= nil
        if ended then break end
        util.sleep(0.1)
      end
      if not ended then
        process.kill(a.pid, 9)
        process.wait(a.pid)
      end
    end
    process.run({ helpers.src .. "/tests/lib/sshd.sh", "stop", dir })
    fs.rmtree(dir)
  end)

  it("mounts through the agent, with the id maps, and umount ends the serving thread",
    function()
      local sock = start_agent("a")
      local m = { source = dir .. "/share", target = dir .. "/mnt" }
      assert.equal(0, agent.call(sock, request(m)))
      assert.is_true(mounted(m.target))
      assert.equal("hello\n", fs.read(m.target .. "/hello"))
      assert.equal(4242, fs.stat(m.target .. "/hello").uid)
      assert.equal(4343, fs.stat(m.target .. "/hello").gid)
      assert(fs.write(m.target .. "/from-mount", "written\n"))
      assert.equal("written\n", fs.read(m.source .. "/from-mount"))
      assert.equal(0, fs.stat(m.source .. "/from-mount").uid) -- the host's own user
      -- the escaping symlink leads nowhere through the mount
      assert.falsy((fs.read(m.target .. "/escape") or ""):find("TOPSECRET"))
      -- the same target again: refused, the first mount keeps working
      local ok, msg, code = agent.call(sock, request(m))
      assert.is_nil(ok)
      assert.equal("exists", code)
      assert.truthy(msg:find("is mounted already", 1, true), msg)
      assert.equal("hello\n", fs.read(m.target .. "/hello"))
      -- umount: gone, and the target can be served again (its thread ended)
      assert.equal(0, agent.call(sock, umount_request(m)))
      assert.is_false(mounted(m.target))
      assert.equal(0, agent.call(sock, request(m)))
      assert.is_true(mounted(m.target))
      assert.equal(0, agent.call(sock, umount_request(m)))
      -- umount of what is not mounted is fine (the guest may have done it)
      assert.equal(0, agent.call(sock, umount_request(m)))
    end)

  it("--readonly is refused by the server even if the mount were read-write", function()
    local sock = start_agent("b")
    local m = { source = dir .. "/ro", target = dir .. "/mnt-ro", readonly = true }
    -- the guest command without ",ro": only the server stands in the way
    local req = request(m)
    req.command = req.command:gsub(",ro'", "'")
    assert.falsy(req.command:find(",ro", 1, true))
    assert.equal(0, agent.call(sock, req))
    assert.equal("kept\n", fs.read(m.target .. "/kept"))
    assert.is_nil(fs.write(m.target .. "/new", "x"))
    assert.is_nil(fs.remove(m.target .. "/kept"))
    assert.same({ "kept" }, fs.list(m.source))
    assert.equal(0, agent.call(sock, umount_request(m)))
  end)

  it("a guest without sshfs: the error says so, with the command's status", function()
    local sock = start_agent("c")
    local m = { source = dir .. "/share", target = dir .. "/mnt2" }
    local script = as_root(mounts.classic_command(m)):gsub("command %-v sshfs",
      "command -v no-sshfs-here")
    local ok, msg, code = agent.call(sock, request(m, { command = script }))
    assert.is_nil(ok)
    assert.equal("unsupported", code)
    assert.truthy(msg:find(mounts.NO_SSHFS, 1, true), msg)
    assert.truthy(msg:find("(status 127)", 1, true), msg)
    assert.is_false(mounted(m.target))
    -- a bad root is refused before anything runs
    ok, msg = agent.call(sock, request({ source = dir .. "/nonexistent", target = m.target }))
    assert.is_nil(ok)
    assert.truthy(msg:find("cannot open the shared folder", 1, true), msg)
  end)

  it("an agent starts with the record's mounts, then reports which failed", function()
    local good = mounts.agent_request({ source = dir .. "/share", target = dir .. "/init" },
      { uid = 1, gid = 1 })
    good.command = as_root(good.command)
    local bad = { root = dir .. "/share", target = dir .. "/never", check = "false",
      command = "echo broken on purpose >&2; exit 3" }
    local _, ready = start_agent("d", { good, bad })
    assert.equal("2: broken on purpose (status 3)\n", fs.read(ready))
    assert.is_true(mounted(dir .. "/init"))
    assert.equal("hello\n", fs.read(dir .. "/init/hello"))
    process.run({ "umount", dir .. "/init" })
  end)
end)
