-- Snapshots on real tiny guests through the CLI, under the QEMU driver and
-- the libvirt driver (a private libvirtd, tests/lib/libvirtd.sh), and across
-- them (the scope "qemu" is shared: a snapshot taken under one driver is
-- restored under the other). User networking with restrict=on. One instance
-- is taken through every case in order (its boots are what costs), then a
-- recipe of three instances is snapshotted and restored together.
-- Proves: a file's sha256 back after restoring a snapshot of the stopped
-- instance; a snapshot of the running instance restored running, with a
-- process started before it running again and the guest's uptime going on
-- from the snapshot (not from a new boot, not from the clock); the safety
-- snapshot keeping the state a restore replaced; both directions between
-- the drivers; SIGKILL during a snapshot leaving nothing half-made that list
-- shows; a recipe's three instances back together.
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e/snapshots_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local NAME = "snap"
local BOOT = "300"

describe("snapshots on real VMs (qemu and libvirt) #e2e", function()
  local why = support.unavailable()
  if why then
    it("needs QEMU", function() pending(why) end)
    return
  end

  local h, skip, uri, no_libvirt
  local timer = support.timer()
  local timed = timer.timed

  local function need(libvirt)
    if skip then pending(skip) end
    if libvirt and no_libvirt then pending(no_libvirt) end
  end

  local function guest(cmd, name) return h:guest(name or NAME, cmd) end

  local function state(name)
    for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
      if r.name == (name or NAME) then return r.state, r.driver end
    end
    return "absent"
  end

  local function snapshots()
    local t = {}
    for _, r in ipairs(json.decode(h:ok({ "list", "--snapshots", "--format", "json" }))) do
      t[r.instance .. "." .. r.name] = r
    end
    return t
  end

  local function uptime(name)
    return tonumber(guest("cat /proc/uptime", name):match("^([%d.]+)"))
  end

  local function driver(name)
    h:ok({ "set", "local.driver=" .. name })
  end

  -- A running guest's state: a 1 MB file and a process; returns the file's
  -- sha256 and the uptime right before the snapshot is taken.
  local function mark(tag)
    local out = guest("head -c 1048576 /dev/urandom > ~/data && sha256sum ~/data && " ..
      "(setsid sh -c 'while :; do sleep 1; done' >/dev/null 2>&1 & echo $! > ~/pid.'" .. tag ..
      "') && cat /proc/uptime")
    return out:match("^(%x+)"), tonumber(out:match("\n([%d.]+)"))
  end

  -- After the snapshot: the file changed, the process killed, and time
  -- passing that a clock running on would show.
  local function spoil(tag)
    guest("echo changed > ~/data && kill $(cat ~/pid." .. tag .. ")")
    util.sleep(12)
  end

  -- The guest as the snapshot left it: the file, the process, the uptime.
  local function check_back(tag, sha, up, t_restore)
    assert.equal("running", (state()))
    assert.equal(sha, guest("sha256sum ~/data"):match("^(%x+)"))
    guest("kill -0 $(cat ~/pid." .. tag .. ")") -- the process runs again
    local now = uptime()
    local since = util.now() - t_restore
    assert.is_true(now >= up and now < up + since + 3, string.format("uptime %.1f after " ..
      "restoring (%.1f s ago), %.1f when the snapshot was taken", now, since, up))
    timer.note(string.format("uptime at snapshot %.1f, after restore %.1f", up, now))
  end

  setup(function()
    local msg
    h, skip = support.tiny_home({ tag = "snap" })
    if not h then return end
    uri, msg = support.libvirtd()
    if uri then
      h:ok({ "set", "local.libvirt.uri=" .. uri })
    else
      no_libvirt = msg
    end
  end)

  teardown(function()
    if h and not skip then
      h:run({ "delete", "--all", "--purge" })
      for _, p in ipairs(support.processes(h.dir)) do
        io.stderr:write(string.format("[e2e] left running: %d %s\n", p.pid, p.cmd:sub(1, 120)))
      end
    end
    support.cleanup()
    timer.report("snapshots")
  end)

  it("restores a stopped instance's disk: the file's sha256 is back (qemu)", function()
    need()
    timed("launch", function()
      h:ok({ "launch", "--name", NAME, "--memory", "256M", "--timeout", BOOT })
    end)
    local sha = guest("head -c 1048576 /dev/urandom > ~/data && sync && sha256sum ~/data")
      :match("^(%x+)")
    h:ok({ "stop", NAME })
    timed("stopped snapshot", function()
      assert.equal("Snapshot taken: snap.cold\n", h:ok({ "snapshot", NAME, "--name", "cold",
        "--comment", "before the change" }))
    end)
    assert.equal("stopped", snapshots()["snap.cold"].state)
    h:ok({ "start", NAME })
    guest("echo changed > ~/data && rm -f ~/data && sync")
    h:ok({ "stop", NAME })
    local out = timed("stopped restore", function() return h:ok({ "restore", "snap.cold" }) end)
    assert.equal("Snapshot taken: snap.snapshot1\nRestored: snap.cold\n", out)
    assert.equal("stopped", (state()))
    h:ok({ "start", NAME })
    assert.equal(sha, guest("sha256sum ~/data"):match("^(%x+)"))
    -- the safety snapshot kept the state that restore replaced: no file
    h:ok({ "stop", NAME })
    h:ok({ "restore", "snap.snapshot1", "--destructive" })
    h:ok({ "start", NAME })
    guest("test ! -e ~/data")
  end)

  it("restores a running instance running, its process and uptime going on (qemu)", function()
    need()
    local sha, up = mark("q")
    timed("running snapshot (qemu)", function()
      h:ok({ "snapshot", NAME, "--name", "hot" })
    end)
    local s = snapshots()["snap.hot"]
    assert.equal("running", s.state)
    assert.is_true(s.size > 10 * 1024 * 1024, "its memory: " .. tostring(s.size))
    spoil("q")
    local t0 = util.now()
    local out = timed("running restore (qemu)", function() return h:ok({ "restore", "snap.hot" }) end)
    assert.truthy(out:match("^Snapshot taken: snap%.snapshot2\nRestored: snap%.hot\n$"), out)
    check_back("q", sha, up, t0)
    local i = json.decode(h:ok({ "info", NAME, "--format", "json" }))[NAME]
    assert.equal(4, #i.snapshots)
    assert.equal("before restoring hot", i.snapshots[4].comment)
    assert.equal("running", i.snapshots[4].state) -- the replaced state, with its memory
  end)

  -- A running snapshot taken under one driver, the guest changed and
  -- stopped, the snapshot restored under the other driver.
  local function across(from, to, tag)
    local sha, up = mark(tag)
    h:ok({ "snapshot", NAME, "--name", tag })
    spoil(tag)
    h:ok({ "stop", NAME })
    driver(to)
    local t0 = util.now()
    timed("restore under " .. to .. " of a snapshot of " .. from, function()
      h:ok({ "restore", NAME .. "." .. tag, "--destructive" })
    end)
    local st, owner = state()
    assert.equal("running", st)
    assert.is_true(owner == nil or owner == to, tostring(owner)) -- the new driver runs it
    check_back(tag, sha, up, t0)
  end

  it("takes a snapshot under qemu and restores it under libvirt", function()
    need(true)
    across("qemu", "libvirt", "q2l")
    assert.truthy(fs.exists(h:instance_dir(NAME) .. "/libvirt.domain"))
  end)

  it("snapshots and restores a running instance under libvirt", function()
    need(true)
    local sha, up = mark("l")
    timed("running snapshot (libvirt)", function()
      h:ok({ "snapshot", NAME, "--name", "lhot" })
    end)
    spoil("l")
    local t0 = util.now()
    timed("running restore (libvirt)", function() h:ok({ "restore", "snap.lhot" }) end)
    check_back("l", sha, up, t0)
    -- snapshots of a running domain are deleted through libvirt
    h:ok({ "delete", "snap.lhot" })
    assert.is_nil(snapshots()["snap.lhot"])
  end)

  it("takes a snapshot under libvirt and restores it under qemu", function()
    need(true)
    across("libvirt", "qemu", "l2q")
    assert.truthy(fs.exists(h:instance_dir(NAME) .. "/qemu.pid"))
  end)

  it("leaves nothing half-made when the command is killed during a snapshot", function()
    need()
    driver("qemu")
    local before = snapshots()
    local env = { MOONBASE_HOME = h.dir, NO_COLOR = "1" }
    -- killed while QEMU writes the guest's memory into the overlay (it
    -- grows); a snapshot that finished first is not the case: tried again
    local disk = h:instance_dir(NAME) .. "/disk.qcow2"
    local killed = false
    for _ = 1, 4 do
      local size0 = fs.stat(disk).size
      local pid = assert(process.spawn(support.argv({ "snapshot", NAME, "--name", "killed" }),
        { env = env }))
      local saving = support.wait_for("the snapshot to start", 60, function()
        if process.wait(pid, true) then return "done" end
        return fs.stat(disk).size > size0 + 4 * 1024 * 1024 and "saving"
      end, 0.005)
      if saving == "saving" then
        process.kill(pid, 9)
        process.wait(pid)
        killed = true
        break
      end
      h:ok({ "delete", "snap.killed" })
    end
    assert.is_true(killed, "the snapshot command was never caught while QEMU saved")
    local after = snapshots()
    assert.is_nil(after["snap.killed"])
    for k in pairs(after) do assert.truthy(before[k], "a new snapshot listed: " .. k) end
    support.wait_for("the guest to run again", 60, function() return state() == "running" end)
    guest("true")
    -- what QEMU finished for the killed command is removed by the next one
    h:ok({ "snapshot", NAME, "--name", "killed" })
    local tags = support.must({ "qemu-img", "snapshot", "-U", "-l", disk })
    local n, listed = 0, 0
    for _ in pairs(snapshots()) do n = n + 1 end
    for _ in tags:gmatch("\n%d+%s+mb%-") do listed = listed + 1 end
    assert.equal(n, listed, tags)
    h:ok({ "delete", "snap.killed" })
  end)

  it("snapshots a recipe's three instances together and brings them back", function()
    need()
    local dir = support.tmpdir("snaprecipe")
    local recipe = dir .. "/trio.lua"
    fs.write(recipe, [[
project "trio"
for _, n in ipairs({ "a", "b", "c" }) do
  instance(n) { image = "local:tiny", memory = "256M" }
end
]])
    timed("up (3 instances)", function() h:ok({ "up", recipe }) end)
    local sums = {}
    for _, n in ipairs({ "a", "b", "c" }) do
      sums[n] = guest("head -c 65536 /dev/urandom > ~/data && sha256sum ~/data", "trio-" .. n)
        :match("^(%x+)")
    end
    timed("recipe snapshot", function()
      assert.equal("Snapshot taken: " .. recipe .. ".together\n",
        h:ok({ "snapshot", recipe, "--name", "together" }))
    end)
    for _, n in ipairs({ "a", "b", "c" }) do
      assert.equal("running", (state("trio-" .. n)))
      guest("rm ~/data", "trio-" .. n)
    end
    h:ok({ "stop", "trio-c" })
    local out = timed("recipe restore", function()
      return h:ok({ "restore", recipe .. ".together" })
    end)
    assert.truthy(out:find("Restored: " .. recipe .. ".together", 1, true), out)
    for _, n in ipairs({ "a", "b", "c" }) do
      assert.equal("running", (state("trio-" .. n)))
      assert.equal(sums[n], guest("sha256sum ~/data", "trio-" .. n):match("^(%x+)"))
    end
    h:ok({ "down", recipe, "--purge" })
    fs.rmtree(dir)
  end)
end)
