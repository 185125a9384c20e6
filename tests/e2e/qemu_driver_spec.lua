-- The QEMU driver on a real guest: the tiny test image (tests/images/build-tiny.sh)
-- booted under TCG with user networking (restrict=on, SSH forwarded on
-- 127.0.0.1 only) and a NoCloud seed carrying a generated client key and a
-- pinned ed25519 host key. Proves create/start/state/suspend/resume/shutdown/
-- kill -9/destroy on the real process, snapshots of the running guest with
-- its memory (QMP snapshot-save, resumed with -loadvm), plus the qemu-img
-- operations on the stopped overlay. Every QEMU started here is killed in after_each; every
-- wait is bounded.
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e
-- MOONBASE_TINY_IMAGE=<dir> uses an already built image instead of the script.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local iso = require("moonbase.engine.iso")
local util = require("moonbase.engine.util")
local core_driver = require("moonbase.engine.driver")

local SRC = os.getenv("MOONBASE_SRC") or "."
package.path = SRC .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local run, must, have, wait_for = support.run, support.must, support.have, support.wait_for
local tiny_image = support.tiny_image
local MAC = "52:54:00:6d:62:01"
local SSH_TIMEOUT = 180 -- boot to SSH under TCG on a busy 2-core machine
local timings = {}

local function exists(path)
  return fs.exists(path) and true or false
end

-- A TCP port on 127.0.0.1 nobody listens on (not in /proc/net/tcp as LISTEN).
local function free_port()
  local listening = {}
  for _, f in ipairs({ "/proc/net/tcp", "/proc/net/tcp6" }) do
    for line in ((fs.read(f)) or ""):gmatch("[^\n]+") do
      local port, st = line:match("^%s*%d+: %x+:(%x+) %x+:%x+ (%x+)")
      if port and st == "0A" then listening[tonumber(port, 16)] = true end
    end
  end
  math.randomseed(util.getpid() * 7919 + math.floor(util.now() * 1000))
  for _ = 1, 200 do
    local p = math.random(20000, 50000)
    if not listening[p] then return p end
  end
  error("no free port on 127.0.0.1")
end

-- A Lua literal of v (tables, strings, numbers, booleans).
local function literal(v)
  if type(v) ~= "table" then return string.format("%q", v) end
  local parts = {}
  for k, x in pairs(v) do
    parts[#parts + 1] = string.format("[%s] = %s", literal(k), literal(x))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

describe("qemu driver on a real VM #e2e", function()
  local drv, img, tmp, inst, ssh_base
  local DISK, SEED, SSH_PORT -- the instance's overlay and seed, its SSH forward

  local function qemu_pid()
    local s = fs.read(inst.dir .. "/qemu.pid")
    return s and tonumber(s:match("%d+"))
  end

  local function ssh(cmd)
    local argv = { "timeout", "30" }
    for _, a in ipairs(ssh_base) do argv[#argv + 1] = a end
    argv[#argv + 1] = cmd
    return run(argv)
  end

  local function must_ssh(cmd)
    local c, o, e = ssh(cmd)
    assert.equal(0, c, e .. o)
    return o
  end

  local function console()
    return drv:console_log(inst, 65536) or ""
  end

  -- SSH once the guest says dropbear listens (connecting earlier only hangs
  -- in slirp), then until a command runs with the pinned host key.
  local function ready_count()
    local n = 0
    for _ in console():gmatch("ssh ready") do n = n + 1 end
    return n
  end

  -- seen: how many boots had reached "ssh ready" before this one
  local function wait_ssh(t0, seen)
    wait_for("the guest's 'ssh ready' on the console", SSH_TIMEOUT, function()
      assert(qemu_pid() and process.alive(qemu_pid()), "QEMU died:\n" .. console())
      return ready_count() > (seen or 0)
    end)
    wait_for("SSH on 127.0.0.1:" .. SSH_PORT, 60, function()
      return ssh("true") == 0
    end)
    return util.now() - t0
  end

  -- Starts inst from a separate moonbase process, which exits at once.
  local function start_elsewhere(i)
    local script = tmp .. "/start-elsewhere.lua"
    assert(fs.write(script, "local d = assert(require('moonbase.engine.driver').open('qemu', "
      .. "{ ['restrict-user-network'] = true }))\n"
      .. "assert(d:start(" .. literal(i) .. "))\n"))
    must({ fs.readlink("/proc/self/exe"), "--lua", script })
  end

  local function uptime()
    local code, out, err = ssh("cat /proc/uptime")
    assert.equal(0, code, err)
    return tonumber(out:match("^([%d.]+)"))
  end

  setup(function()
    if not have("qemu-system-x86_64") or not have("qemu-img") then return end
    img = assert(tiny_image())
    drv = assert(core_driver.open("qemu", { ["restrict-user-network"] = true }))
    tmp = must({ "mktemp", "-d", "/tmp/mb-e2e-qemu-XXXXXX" }):gsub("%s+$", "")
    local home = tmp .. "/home"
    local dir = home .. "/data/instances/qemu/e2e-vm"
    assert(fs.mkdirs(dir, 448))
    must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "moonbase-e2e",
      "-f", tmp .. "/id_user" })
    must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@e2e-vm",
      "-f", tmp .. "/hostkey" })
    local meta = fs.read(img .. "/metadata.json")
    DISK, SEED, SSH_PORT = dir .. "/disk.qcow2", dir .. "/cidata.iso", free_port()
    inst = {
      name = "e2e-vm", dir = dir,
      image = { path = img .. "/disk.qcow2", kernel = img .. "/vmlinuz",
        initrd = img .. "/initrd.img",
        cmdline = meta:match('"kernel_cmdline"%s*:%s*"([^"]*)"') },
      cpus = 1, memory = 256 * 1024 * 1024, disk_size = 1024 * 1024 * 1024,
      nics = { { attach = "user", mac = MAC, host_port = SSH_PORT } },
    }
    local user = meta:match('"default_user"%s*:%s*"([^"]*)"') or "debian"
    local hostpub = fs.read(tmp .. "/hostkey.pub"):gsub("%s+$", "")
    local user_data = table.concat({
      "#cloud-config",
      "ssh_authorized_keys:",
      "  - " .. fs.read(tmp .. "/id_user.pub"):gsub("%s+$", ""),
      "ssh_keys:",
      "  ed25519_private: |",
      (fs.read(tmp .. "/hostkey"):gsub("%s+$", ""):gsub("([^\n]+)", "    %1")),
      "  ed25519_public: " .. hostpub,
      "",
    }, "\n")
    assert(iso.write(SEED, "cidata", {
      ["meta-data"] = "instance-id: iid-e2e-" .. util.getpid() .. "\nlocal-hostname: e2e-vm\n",
      ["user-data"] = user_data,
      ["network-config"] = "version: 2\nethernets:\n  primary:\n    match:\n      macaddress: \""
        .. MAC .. "\"\n    dhcp4: true\n",
    }))
    -- busybox's volume_id (the tiny image's findfs, like CirrOS's) reads a
    -- 68 KiB superblock buffer and ignores any device smaller than that; the
    -- seed writer does not pad yet, so pad here (genisoimage pads too)
    local st = fs.stat(SEED)
    if st.size < 69632 then assert(fs.truncate(SEED, 1024 * 1024)) end
    local kh = tmp .. "/known_hosts"
    assert(fs.write(kh, string.format("[127.0.0.1]:%d %s\n", SSH_PORT,
      hostpub:match("^(%S+ %S+)"))))
    ssh_base = { "ssh", "-p", tostring(SSH_PORT), "-i", tmp .. "/id_user",
      "-o", "UserKnownHostsFile=" .. kh, "-o", "StrictHostKeyChecking=yes",
      "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
      user .. "@127.0.0.1" }
  end)

  after_each(function()
    -- whatever happened, no QEMU of ours outlives the test
    local pid = inst and qemu_pid()
    if pid and process.alive(pid) then
      process.kill(pid, 9)
      wait_for("QEMU to die", 10, function() return process.wait(pid, true) or
        not process.alive(pid) end)
    end
    if drv and inst then drv:destroy(inst) end
  end)

  teardown(function()
    if tmp then fs.rmtree(tmp) end
    if next(timings) then
      local parts = {}
      for k, v in pairs(timings) do parts[#parts + 1] = string.format("%s %.1fs", k, v) end
      table.sort(parts)
      io.stderr:write("\nqemu e2e timings: " .. table.concat(parts, ", ") .. "\n")
    end
  end)

  local function need_qemu()
    if not drv then
      pending("qemu-system-x86_64 or qemu-img is not installed " ..
        "(apt-get install qemu-system-x86 qemu-utils)")
      return false
    end
    return true
  end

  it("boots, suspends and resumes with uptime continuing, shuts down, dies to kill -9",
    function()
      if not need_qemu() then return end
      assert.equal("absent", drv:state(inst))
      assert(drv:create(inst))
      assert.equal("stopped", drv:state(inst))
      local info = must({ "qemu-img", "info", "--output=json", DISK })
      assert.truthy(info:find('"backing-filename": "' .. img .. '/disk.qcow2"', 1, true))
      assert.truthy(info:find('"virtual-size": 1073741824', 1, true))

      local t0 = util.now()
      assert(drv:start(inst))
      timings["start returned"] = util.now() - t0
      assert.equal("running", drv:state(inst))
      local ok, msg, code = drv:start(inst)
      assert.is_nil(ok)
      assert.equal("state", code, msg)
      timings["boot to SSH"] = wait_ssh(t0)
      assert.equal("running", drv:state(inst))
      local host, port = drv:ssh_address(inst)
      assert.same({ "127.0.0.1", SSH_PORT }, { host, port })
      assert.same({}, drv:ipv4(inst))

      -- native mounts need a restart while QEMU runs
      ok, msg, code = drv:mount_native(inst, { source = tmp, tag = "share" })
      assert.is_nil(ok)
      assert.equal("state", code)
      assert.truthy(msg:find("needs a restart (try: --restart)", 1, true), msg)

      -- suspend: state saved, no QEMU left
      local up1 = uptime()
      local pid1 = qemu_pid()
      t0 = util.now()
      assert(drv:suspend(inst))
      timings["suspend"] = util.now() - t0
      assert.equal("suspended", drv:state(inst))
      assert.is_false(process.alive(pid1))
      assert.is_true(exists(inst.dir .. "/suspend.state"))
      assert.is_false(exists(inst.dir .. "/qemu.pid"))

      -- resume: the same boot goes on (uptime continued, not reset)
      t0 = util.now()
      assert(drv:resume(inst))
      timings["resume"] = util.now() - t0
      assert.equal("running", drv:state(inst))
      assert.is_false(exists(inst.dir .. "/suspend.state"))
      wait_for("SSH after resume", 60, function() return ssh("true") == 0 end)
      local up2 = uptime()
      assert.is_true(up2 >= up1, string.format("uptime went from %.2f to %.2f", up1, up2))
      timings["guest uptime before suspend"], timings["guest uptime after resume"] = up1, up2

      -- a snapshot of the running guest keeps its memory: a process started
      -- before it runs again after the restore, and the uptime goes on from it
      must_ssh("echo before > ~/f; (while :; do sleep 1; done) >/dev/null 2>&1 & echo $! > ~/pid")
      local up_snap = uptime()
      t0 = util.now()
      assert(drv:snapshot_take(inst, "hot"))
      timings["running snapshot"] = util.now() - t0
      local list = drv:snapshot_list(inst)
      assert.equal(1, #list)
      assert.equal("hot", list[1].name)
      assert.is_true(list[1].memory)
      assert.is_true(list[1].size > 0)
      must_ssh("echo after > ~/f; kill $(cat ~/pid)")
      -- long enough that a clock running on (not from the snapshot) would show
      util.sleep(12)
      assert.is_nil((drv:snapshot_restore(inst, "hot"))) -- running: the caller stops it first
      assert(drv:shutdown(inst, { force = true }))
      assert(drv:snapshot_restore(inst, "hot"))
      assert.equal("suspended", drv:state(inst)) -- its memory waits for the next start
      local ok0, msg0, code0 = drv:snapshot_delete(inst, "hot")
      assert.is_nil(ok0)
      assert.equal("state", code0, msg0)
      t0 = util.now()
      assert(drv:start(inst))
      timings["start from the snapshot"] = util.now() - t0
      assert.equal("running", drv:state(inst))
      assert.is_false(exists(inst.dir .. "/resume.snapshot"))
      wait_for("SSH after the restore", 60, function() return ssh("true") == 0 end)
      assert.equal("before\nalive\n", must_ssh("cat ~/f; kill -0 $(cat ~/pid) && echo alive"))
      local up3 = uptime()
      assert.is_true(up3 >= up_snap and up3 < up_snap + (util.now() - t0) + 3,
        string.format("uptime %.2f after the restore (%.1f s ago), %.2f at the snapshot", up3,
          util.now() - t0, up_snap))
      timings["guest uptime at the snapshot"], timings["after its restore"] = up_snap, up3
      -- deleting a snapshot of a running guest goes through QMP
      assert(drv:snapshot_delete(inst, "hot"))
      assert.same({}, drv:snapshot_list(inst))

      -- ACPI shutdown: the guest powers off, QEMU exits
      t0 = util.now()
      assert(drv:shutdown(inst, { timeout = 90 }))
      timings["ACPI shutdown"] = util.now() - t0
      assert.equal("stopped", drv:state(inst))

      -- 9p shares join at the next start: one read-write, one read-only
      assert(fs.mkdirs(tmp .. "/share"))
      assert(fs.mkdirs(tmp .. "/ro"))
      assert(fs.write(tmp .. "/share/hello.txt", "hello from the host\n"))
      assert(fs.write(tmp .. "/ro/keep.txt", "read only\n"))
      assert(drv:mount_native(inst, { source = tmp .. "/share", tag = "share" }))
      inst.mounts = { { source = tmp .. "/share", tag = "share" },
        { source = tmp .. "/ro", tag = "ro", readonly = true } }
      local seen = ready_count()
      t0 = util.now()
      assert(drv:start(inst))
      timings["second boot to SSH"] = wait_ssh(t0, seen)
      local opts = "-o trans=virtio,version=9p2000.L,msize=524288"
      local code, out, err = ssh("sudo mkdir -p /mnt/share /mnt/ro && sudo mount -t 9p " .. opts
        .. " share /mnt/share && sudo mount -t 9p " .. opts .. " ro /mnt/ro && "
        .. "cat /mnt/share/hello.txt /mnt/ro/keep.txt && "
        .. "sudo sh -c 'echo from the guest > /mnt/share/guest.txt' && "
        .. "if sudo touch /mnt/ro/nope 2>/dev/null; then echo RO-WRITABLE; fi")
      assert.equal(0, code, err .. out)
      assert.equal("hello from the host\nread only\n", out)
      assert.equal("from the guest\n", fs.read(tmp .. "/share/guest.txt"))
      assert.is_false(exists(tmp .. "/ro/nope"))
      -- QEMU cannot save the memory of a guest with 9p in use: said so
      local okm, msgm, codem = drv:snapshot_take(inst, "with-9p")
      assert.is_nil(okm)
      assert.equal("state", codem, msgm)
      assert.truthy(msgm:find("native (9p) mount in use", 1, true), msgm)
      assert.same({}, drv:snapshot_list(inst))

      -- kill -9 from outside: the truth is "stopped"
      assert.equal("running", drv:state(inst))
      local pid = qemu_pid()
      must({ "kill", "-9", tostring(pid) })
      wait_for("the killed QEMU to be gone", 10, function()
        return drv:state(inst) == "stopped"
      end)
      -- this process is QEMU's parent: the driver has reaped the zombie
      assert(drv:shutdown(inst, { timeout = 5 }))
      assert.is_nil(process.wait(pid, true))

      assert(drv:destroy(inst))
      assert.is_false(exists(DISK))
      assert.equal("absent", drv:state(inst))
      inst.mounts = nil
    end)

  it("takes, lists, restores and deletes snapshots, clones and grows a stopped overlay",
    function()
      if not need_qemu() then return end
      assert(drv:create(inst))
      assert(drv:snapshot_take(inst, "clean"))
      local list = drv:snapshot_list(inst)
      assert.equal(1, #list)
      assert.equal("clean", list[1].name)
      assert.is_false(list[1].memory)
      local ok, _, code = drv:snapshot_take(inst, "clean")
      assert.is_nil(ok)
      assert.equal("exists", code)
      assert(drv:snapshot_restore(inst, "clean"))
      ok, _, code = drv:snapshot_restore(inst, "nope")
      assert.is_nil(ok)
      assert.equal("notfound", code)
      assert(drv:snapshot_delete(inst, "clean"))
      assert.same({}, drv:snapshot_list(inst))

      -- a clone is the overlay's data on the same base, without its snapshots
      assert(drv:snapshot_take(inst, "kept-home"))
      local cdir = inst.dir .. "-clone"
      local clone = { name = "e2e-clone", dir = cdir }
      assert(drv:clone(inst, clone))
      local info = must({ "qemu-img", "info", "--output=json", cdir .. "/disk.qcow2" })
      assert.truthy(info:find('"backing-filename": "' .. img .. '/disk.qcow2"', 1, true))
      assert.truthy(info:find('"virtual-size": 1073741824', 1, true), info)
      assert.equal("stopped", drv:state(clone))
      assert.same({}, drv:snapshot_list(clone))
      must({ "qemu-img", "compare", "-q", DISK, cdir .. "/disk.qcow2" })
      assert(drv:snapshot_delete(inst, "kept-home"))
      assert(drv:destroy(clone))
      fs.rmtree(cdir)

      assert(drv:resize_disk(inst, 2 * 1024 ^ 3))
      ok, _, code = drv:resize_disk(inst, 1024 ^ 3)
      assert.is_nil(ok)
      assert.equal("usage", code)
      assert(drv:mount_native(inst, { source = tmp, tag = "share" }))

      -- QEMU is started by another moonbase process that exits, so this one
      -- is not its parent; clone and rename refuse it while it runs
      start_elsewhere(inst)
      ok, _, code = drv:clone(inst, { name = "e2e-c2", dir = inst.dir .. "-c2" })
      assert.is_nil(ok)
      assert.equal("state", code)
      ok, _, code = drv:rename(inst, { name = "e2e-r", dir = inst.dir .. "-r" })
      assert.is_nil(ok)
      assert.equal("state", code)
      -- a running disk grows through QMP block_resize
      assert(drv:resize_disk(inst, 3 * 1024 ^ 3))
      local live = must({ "qemu-img", "info", "-U", "--output=json", DISK })
      assert.truthy(live:find('"virtual-size": 3221225472', 1, true), live)
      local pid = qemu_pid()
      assert.is_nil(process.wait(pid, true)) -- not our child
      assert(drv:shutdown(inst, { force = true }))
      -- gone, or a zombie until its new parent (init here) reaps it
      local stat = fs.read("/proc/" .. pid .. "/stat")
      assert.is_true(stat == nil or stat:match("%) (%a)") == "Z", stat)
      assert.equal("stopped", drv:state(inst))
      assert(drv:destroy(inst))
    end)

  it("reports QEMU's own words when it exits at startup", function()
    if not need_qemu() then return end
    assert(drv:create(inst))
    local bad = {}
    for k, v in pairs(inst) do bad[k] = v end
    bad.image = { path = inst.image.path, kernel = tmp .. "/no-such-vmlinuz",
      initrd = inst.image.initrd, cmdline = inst.image.cmdline }
    local ok, msg, code = drv:start(bad)
    assert.is_nil(ok)
    assert.equal("failed", code)
    assert.truthy(msg:find("exited at startup", 1, true), msg)
    assert.truthy(msg:find("no-such-vmlinuz", 1, true), msg)
    assert.equal("stopped", drv:state(inst))
    assert(drv:destroy(inst))
  end)
end)
