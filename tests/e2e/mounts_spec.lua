-- Mounts on real QEMU guests, through the moonbase CLI only.
--   native  (9p) on the tiny image: launch --mount, data both ways (sha256 of
--           50 MB), mtime and modes, rename/delete/mkdir/symlink, a symlink to
--           a host file outside the share, --readonly enforced by QEMU even
--           after the guest remounts read-write, --restart, umount, stop/start.
--   classic (sshfs -o slave against the agent's SFTP server): first the clear
--           error on a guest without sshfs, then on the tiny image with the
--           host's Debian sshfs side-loaded into it (same release as the
--           guest), and on the real Debian 12 image (tests/images/
--           build-debian.sh, which ships sshfs) when it can be built: the same
--           checks plus "../" and symlink escapes from the guest, id maps,
--           --readonly, umount, stop/start. Absolute-path requests never come
--           from sshfs (it sends paths relative to the share); the server's
--           refusal of them is proven with OpenSSH's sftp in
--           tests/lua/sftp_server_spec.lua and in tests/unit/engine/sftp/test_sftp_server.c.
-- The tests of a block run in order on one instance; every wait is bounded and
-- whatever is left running is killed by pid at the end.
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e/mounts_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local BOOT = "300"
local BIG = 50 * 1000 * 1000
local SECRET = "TOPSECRET-outside-the-share"
local SHADOW = "root:$6$SHADOWHASHoutside:19000:0:99999:7:::"

local function sh(cmd)
  local code, out, err = support.run({ "sh", "-c", cmd })
  assert(code == 0, cmd .. " failed (" .. code .. "): " .. err .. out)
  return out
end

local function q(s) return support.quote(s) end

local function sha256(path) return sh("sha256sum < " .. q(path)):match("^(%x+)") end

-- A folder next to the shares with a secret and a shadow-like file.
local function outside(tmp)
  assert(fs.write(tmp .. "/outside-secret", SECRET .. "\n"))
  assert(fs.write(tmp .. "/shadow", SHADOW .. "\n", tonumber("640", 8)))
end

-- Helpers bound to one home and instance.
local function guest_of(h, name)
  local g = {}
  function g.run(cmd)
    return h:run({ "exec", name, "--", "sh", "-c", cmd })
  end
  function g.ok(cmd)
    local code, out, err = g.run(cmd)
    assert(code == 0, "guest command failed (" .. code .. "): " .. cmd .. "\n" .. err .. out)
    return out
  end
  function g.mounted(target, fstype)
    local m = g.ok("cat /proc/mounts")
    return m:find(" " .. target .. " " .. fstype .. " ", 1, true) ~= nil
  end
  function g.mounts()
    return json.decode(h:ok({ "info", name, "--format", "json" }))[name].mounts
  end
  return g
end

-- The checks both kinds share, on a mounted share: host dir <-> guest dir.
local function data_both_ways(g, hostdir, guestdir)
  sh("head -c " .. BIG .. " /dev/urandom > " .. q(hostdir .. "/from-host.bin"))
  local want = sha256(hostdir .. "/from-host.bin")
  assert.equal(want, g.ok("sha256sum < " .. guestdir .. "/from-host.bin"):match("^(%x+)"))
  local sum = g.ok("head -c " .. BIG .. " /dev/urandom > " .. guestdir .. "/from-guest.bin && " ..
    "sha256sum < " .. guestdir .. "/from-guest.bin"):match("^(%x+)")
  assert.equal(sum, sha256(hostdir .. "/from-guest.bin"))
  assert.equal(BIG, fs.stat(hostdir .. "/from-guest.bin").size)
  g.ok("rm " .. guestdir .. "/from-host.bin " .. guestdir .. "/from-guest.bin")
  assert.is_nil(fs.exists(hostdir .. "/from-guest.bin"))
end

-- mapped: a native share of moonbase running as root, whose guest owners and
-- modes live in xattrs (QEMU's mapped-xattr): the guest sees what it set, the
-- host's copies stay 0600/0700 and owned by QEMU's user
local MAPPED = util.geteuid() == 0

local function mtime_and_modes(g, hostdir, guestdir, mapped)
  -- host -> guest
  assert(fs.write(hostdir .. "/stamped", "x"))
  sh("chmod 640 " .. q(hostdir .. "/stamped") .. " && touch -d '2021-02-03 04:05:06 UTC' " ..
    q(hostdir .. "/stamped"))
  local st = fs.stat(hostdir .. "/stamped")
  assert.equal(string.format("640 %d", math.floor(st.mtime)),
    (g.ok("stat -c '%a %Y' " .. guestdir .. "/stamped"):gsub("%s+$", "")))
  -- guest -> host
  g.ok("echo y > " .. guestdir .. "/g-stamped && chmod 604 " .. guestdir .. "/g-stamped && " ..
    "TZ=UTC touch -t 201912312359.58 " .. guestdir .. "/g-stamped")
  st = fs.stat(hostdir .. "/g-stamped")
  assert.equal("604", (g.ok("stat -c %a " .. guestdir .. "/g-stamped"):gsub("%s+$", "")))
  assert.equal(tonumber(mapped and "600" or "604", 8), st.mode)
  assert.equal(sh("date -u -d '2019-12-31 23:59:58' +%s"):gsub("%s", ""),
    tostring(math.floor(st.mtime)))
  g.ok("mkdir " .. guestdir .. "/exe && chmod 751 " .. guestdir .. "/exe")
  assert.equal("751", (g.ok("stat -c %a " .. guestdir .. "/exe"):gsub("%s+$", "")))
  assert.equal(tonumber(mapped and "700" or "751", 8), fs.stat(hostdir .. "/exe").mode)
  g.ok("rmdir " .. guestdir .. "/exe && rm " .. guestdir .. "/g-stamped " .. guestdir ..
    "/stamped")
end

local function tree_operations(g, hostdir, guestdir, mapped)
  g.ok(table.concat({
    "cd " .. guestdir, "mkdir -p d/e", "echo one > d/e/f", "mv d/e/f d/moved",
    "ln -s moved d/link", "cat d/link", "echo gone > d/gone", "rm d/gone", "rmdir d/e",
  }, " && "))
  assert.equal("one\n", fs.read(hostdir .. "/d/moved"))
  assert.equal("moved", (g.ok("readlink " .. guestdir .. "/d/link"):gsub("%s+$", "")))
  if mapped then
    -- QEMU's mapped model keeps a guest's symlink as a file holding its target
    assert.equal("moved", fs.read(hostdir .. "/d/link"))
  else
    assert.equal("moved", fs.readlink(hostdir .. "/d/link"))
  end
  assert.is_nil(fs.exists(hostdir .. "/d/gone"))
  assert.is_nil(fs.exists(hostdir .. "/d/e"))
  -- a symlink made on the host inside the share works in the guest (not in
  -- the mapped model, which reads links from files: docs/mounts.md says so)
  assert(fs.symlink("d/moved", hostdir .. "/host-link"))
  if mapped then
    assert.are_not.equal(0, (g.run("cat " .. guestdir .. "/host-link")))
  else
    assert.equal("one\n", g.ok("cat " .. guestdir .. "/host-link"))
  end
  -- a rename made on the host shows in the guest
  assert(fs.rename(hostdir .. "/d/moved", hostdir .. "/d/renamed"))
  g.ok("for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do " ..
    "[ -e " .. guestdir .. "/d/renamed ] && exit 0; sleep 1; done; exit 1")
  g.ok("rm -r " .. guestdir .. "/d " .. guestdir .. "/host-link")
  assert.is_nil(fs.exists(hostdir .. "/d"))
end

-- From inside the guest nothing of the host outside the share is readable.
local function confined(g, hostdir, guestdir, tmp)
  assert(fs.symlink(tmp .. "/shadow", hostdir .. "/to-shadow"))
  assert(fs.symlink("../outside-secret", hostdir .. "/up"))
  for _, cmd in ipairs({
    "cat " .. guestdir .. "/../outside-secret",
    "cat " .. guestdir .. "/to-shadow",
    "cat " .. guestdir .. "/up",
    "cat " .. guestdir .. "/" .. tmp:gsub("^/", "") .. "/outside-secret",
    "cd " .. guestdir .. " && cat ../../" .. tmp:gsub("^/", "") .. "/shadow",
  }) do
    local _, out, err = g.run(cmd)
    assert.falsy((out .. err):find(SECRET, 1, true), cmd)
    assert.falsy((out .. err):find("SHADOWHASH", 1, true), cmd)
  end
  -- a symlink the guest makes to the host's absolute path leads nowhere either
  g.run("ln -s " .. tmp .. "/outside-secret " .. guestdir .. "/guest-abs")
  local _, out = g.run("cat " .. guestdir .. "/guest-abs")
  assert.falsy(out:find(SECRET, 1, true))
  g.run("rm -f " .. guestdir .. "/guest-abs")
  -- and the share itself still works
  assert(fs.write(hostdir .. "/plain", "plain\n"))
  assert.equal("plain\n", g.ok("cat " .. guestdir .. "/plain"))
  fs.remove(hostdir .. "/to-shadow")
  fs.remove(hostdir .. "/up")
  fs.remove(hostdir .. "/plain")
  assert.equal(SECRET .. "\n", fs.read(tmp .. "/outside-secret"))
  assert.equal(SHADOW .. "\n", fs.read(tmp .. "/shadow"))
end

-- The guest's root cannot plant setuid, setgid or sticky files on the host,
-- nor give a host file to root (issue 18: the guest must not gain the host).
local function no_setuid(g, hostdir, guestdir)
  assert(fs.write(hostdir .. "/hostfile", "host\n"))
  sh("chown 4321:4321 " .. q(hostdir .. "/hostfile") .. " && chmod 644 " ..
    q(hostdir .. "/hostfile"))
  -- each may succeed (in the guest's view) or be refused: the host is what counts
  for _, cmd in ipairs({
    "sudo sh -c 'cp /bin/busybox " .. guestdir .. "/suid && chmod 4755 " .. guestdir .. "/suid'",
    "sudo chmod 6755 " .. guestdir .. "/hostfile",
    "sudo chown 0:0 " .. guestdir .. "/hostfile",
    "sudo sh -c 'mkdir " .. guestdir .. "/sticky && chmod 3777 " .. guestdir .. "/sticky'",
    "sudo sh -c 'echo x > " .. guestdir .. "/rootfile && chown 0:0 " .. guestdir ..
      "/rootfile && chmod 2755 " .. guestdir .. "/rootfile'",
  }) do g.run(cmd) end
  for _, n in ipairs({ "suid", "hostfile", "sticky", "rootfile" }) do
    local st = fs.stat(hostdir .. "/" .. n)
    if st then
      assert.equal(0, st.mode & tonumber("7000", 8),
        string.format("%s has mode %o on the host", n, st.mode))
    end
  end
  local st = fs.stat(hostdir .. "/hostfile")
  assert.equal(4321, st.uid)
  assert.equal(4321, st.gid)
  g.run("sudo rm -rf " .. guestdir .. "/suid " .. guestdir .. "/sticky " .. guestdir ..
    "/rootfile " .. guestdir .. "/hostfile")
  fs.rmtree(hostdir .. "/sticky")
  for _, n in ipairs({ "suid", "hostfile", "rootfile" }) do fs.remove(hostdir .. "/" .. n) end
end

-- Copies the host's sshfs (and the libraries the guest lacks) into a tiny
-- guest: both are Debian 12, so the binaries fit.
local function sideload_sshfs(h, name, g)
  local sshfs = support.run({ "sh", "-c", "command -v sshfs" }) == 0 and
    sh("command -v sshfs"):gsub("%s+$", "")
  if not sshfs then return nil, "sshfs is not installed on the host (apt-get install sshfs)" end
  local files = { sshfs }
  for lib in sh("ldd " .. q(sshfs)):gmatch("=> (/%S+)") do
    local base = lib:match("[^/]+$")
    if g.run("test -e /lib/x86_64-linux-gnu/" .. base) ~= 0 then files[#files + 1] = lib end
  end
  for _, f in ipairs(files) do
    local real = fs.realpath(f)
    h:ok({ "transfer", real, name .. ":/tmp/" .. f:match("[^/]+$") })
  end
  local cmds = { "sudo mkdir -p /usr/local/bin", "sudo cp /tmp/sshfs /usr/local/bin/sshfs",
    "sudo chmod 755 /usr/local/bin/sshfs" }
  for i = 2, #files do
    local base = files[i]:match("[^/]+$")
    cmds[#cmds + 1] = "sudo cp /tmp/" .. base .. " /lib/x86_64-linux-gnu/" .. base
  end
  g.ok(table.concat(cmds, " && "))
  g.ok("sshfs --version >/dev/null 2>&1 || sshfs -V")
  return true
end

-- The classic checks on a running instance whose guest has sshfs.
local function classic_checks(ctx)
  local function need()
    if ctx.skip then pending(ctx.skip) end
  end

  it("classic: mounts with the guest user's ownership, and comes back in info", function()
    need()
    local h, g, tmp = ctx.h, ctx.g, ctx.tmp
    h:ok({ "mount", "--type", "classic", tmp .. "/cl", ctx.name .. ":/mnt/cl" })
    assert.is_true(g.mounted("/mnt/cl", "fuse.sshfs"))
    local ids = g.ok("id -u; id -g")
    local uid, gid = ids:match("(%d+)%s+(%d+)")
    assert.equal(uid .. " " .. gid .. "\n", g.ok("stat -c '%u %g' /mnt/cl/"))
    local m = g.mounts()
    assert.equal("classic", m[#m].type)
    assert.equal("/mnt/cl", m[#m].target)
    -- the guest user can write without sudo
    g.ok("echo mine > /mnt/cl/mine && rm /mnt/cl/mine")
  end)

  it("classic: 50 MB both ways with equal sha256", function()
    need()
    local t0 = util.now()
    data_both_ways(ctx.g, ctx.tmp .. "/cl", "/mnt/cl")
    ctx.timings[#ctx.timings + 1] = string.format("classic 2x50MB %.1fs", util.now() - t0)
  end)

  it("classic: mtime and permissions survive both ways", function()
    need()
    mtime_and_modes(ctx.g, ctx.tmp .. "/cl", "/mnt/cl")
  end)

  it("classic: rename, delete, mkdir, symlink within the share", function()
    need()
    tree_operations(ctx.g, ctx.tmp .. "/cl", "/mnt/cl")
  end)

  it("classic: ../, symlinks to host files and absolute links do not leave the share",
    function()
      need()
      confined(ctx.g, ctx.tmp .. "/cl", "/mnt/cl", ctx.tmp)
    end)

  it("classic: the guest cannot plant setuid files or give host files away", function()
    need()
    no_setuid(ctx.g, ctx.tmp .. "/cl", "/mnt/cl")
  end)

  it("classic: --readonly refuses writes, --uid-map shows the mapped owner", function()
    need()
    local h, g, tmp = ctx.h, ctx.g, ctx.tmp
    assert(fs.write(tmp .. "/cro/kept", "kept\n"))
    h:ok({ "mount", "--type", "classic", "--readonly", "--uid-map", util.geteuid() .. ":4242",
      tmp .. "/cro", ctx.name .. ":/mnt/cro" })
    assert.equal("kept\n", g.ok("cat /mnt/cro/kept"))
    assert.equal("4242\n", g.ok("stat -c %u /mnt/cro/kept"))
    for _, cmd in ipairs({ "echo x > /mnt/cro/new", "rm /mnt/cro/kept", "mkdir /mnt/cro/d",
      "sudo sh -c 'echo x > /mnt/cro/kept'", "mv /mnt/cro/kept /mnt/cro/k2" }) do
      assert.are_not.equal(0, (g.run(cmd)), cmd)
    end
    -- even root remounting it read-write gets nowhere: the server refuses
    g.run("sudo mount -o remount,rw /mnt/cro")
    assert.are_not.equal(0, (g.run("sudo sh -c 'echo x > /mnt/cro/kept'")))
    assert.same({ "kept" }, fs.list(tmp .. "/cro"))
    assert.equal("kept\n", fs.read(tmp .. "/cro/kept"))
    h:ok({ "umount", ctx.name .. ":/mnt/cro" })
  end)

  it("classic: the mount comes back after stop/start", function()
    need()
    local h, g = ctx.h, ctx.g
    h:ok({ "stop", ctx.name })
    local code, out, err = h:run({ "start", ctx.name })
    assert.equal(0, code, err .. out)
    assert.falsy(err:find("warning", 1, true), err)
    assert.is_true(g.mounted("/mnt/cl", "fuse.sshfs"))
    assert(fs.write(ctx.tmp .. "/cl/after-restart", "back\n"))
    assert.equal("back\n", g.ok("cat /mnt/cl/after-restart"))
  end)

  it("classic: umount removes it from the guest and the record", function()
    need()
    local h, g = ctx.h, ctx.g
    h:ok({ "umount", ctx.name .. ":/mnt/cl" })
    assert.is_false(g.mounted("/mnt/cl", "fuse.sshfs"))
    assert.equal("", g.ok("ls /mnt/cl"))
    for _, m in ipairs(g.mounts()) do assert.are_not.equal("/mnt/cl", m.target) end
    -- sshfs ended in the guest
    assert.are_not.equal(0, (g.run("ps | grep -v grep | grep -q 'sshfs -o'")))
  end)
end

describe("native mounts (9p) on the tiny image #e2e", function()
  local why = support.unavailable()
  if why then
    it("needs QEMU", function() pending(why) end)
    return
  end
  local NAME = "mnt"
  local ctx = { name = NAME, timings = {} }
  local h, g, tmp

  local function need()
    if ctx.skip then pending(ctx.skip) end
  end

  setup(function()
    local host, msg = support.host()
    if not host then
      ctx.skip = "the tiny test image is not available: " .. tostring(msg)
      return
    end
    h = support.home(host, { tag = "mounts" })
    g = guest_of(h, NAME)
    tmp = support.tmpdir("mount-files")
    outside(tmp)
    for _, d in ipairs({ "rw", "ro", "late", "cl", "cro" }) do
      assert(fs.mkdirs(tmp .. "/" .. d))
      sh("chmod 777 " .. q(tmp .. "/" .. d)) -- 9p shows host modes: let the guest user write
    end
    assert(fs.write(tmp .. "/ro/kept", "kept\n"))
    ctx.h, ctx.g, ctx.tmp = h, g, tmp
  end)

  teardown(function()
    support.cleanup()
    if tmp then fs.rmtree(tmp) end
    if #ctx.timings > 0 then
      io.stderr:write("\nmounts e2e timings: " .. table.concat(ctx.timings, ", ") .. "\n")
    end
  end)

  it("launch --mount: mounted in the guest and in its fstab", function()
    need()
    local t0 = util.now()
    h:ok({ "launch", "--name", NAME, "--memory", "512M", "--timeout", BOOT,
      "--mount", tmp .. "/rw:/mnt/rw" })
    ctx.timings[#ctx.timings + 1] = string.format("launch %.1fs", util.now() - t0)
    assert.is_true(g.mounted("/mnt/rw", "9p"))
    assert.truthy(g.ok("cat /etc/fstab"):find("\nmoonbase0 /mnt/rw 9p trans=virtio," ..
      "version=9p2000.L,msize=524288,nofail 0 0", 1, true))
    local m = g.mounts()
    assert.same({ source = tmp .. "/rw", target = "/mnt/rw", type = "native",
      readonly = false, tag = "moonbase0" }, m[1])
  end)

  it("native: 50 MB both ways with equal sha256", function()
    need()
    local t0 = util.now()
    data_both_ways(g, tmp .. "/rw", "/mnt/rw")
    ctx.timings[#ctx.timings + 1] = string.format("native 2x50MB %.1fs", util.now() - t0)
  end)

  it("native: mtime and permissions survive both ways", function()
    need()
    mtime_and_modes(g, tmp .. "/rw", "/mnt/rw", MAPPED)
  end)

  it("native: rename, delete, mkdir, symlink within the share", function()
    need()
    tree_operations(g, tmp .. "/rw", "/mnt/rw", MAPPED)
  end)

  it("native: the guest cannot plant setuid files or give host files away", function()
    need()
    -- as root the share is mapped; as a user QEMU runs as that user and
    -- the guest can do no more than the user can (the host is not at stake)
    if not MAPPED then pending("moonbase runs as a user here: QEMU's none model") end
    no_setuid(g, tmp .. "/rw", "/mnt/rw")
  end)

  it("native: nothing outside the share is reachable from the guest", function()
    need()
    confined(g, tmp .. "/rw", "/mnt/rw", tmp)
  end)

  it("native on a running instance: refused without --restart, nothing changed", function()
    need()
    local before = fs.read(h:instance_dir(NAME) .. "/instance.json")
    local code, out, err = h:run({ "mount", tmp .. "/ro", NAME .. ":/mnt/ro" })
    assert.equal(2, code, out .. err)
    assert.truthy(err:find("needs a restart (try: moonbase mount --restart", 1, true), err)
    assert.equal(before, fs.read(h:instance_dir(NAME) .. "/instance.json"))
    assert.is_false(g.mounted("/mnt/ro", "9p"))
  end)

  it("native --readonly --restart: restarts, mounts, and QEMU refuses writes even after a " ..
    "read-write remount", function()
      need()
      local t0 = util.now()
      h:ok({ "mount", "--readonly", "--restart", tmp .. "/ro", NAME .. ":/mnt/ro" })
      ctx.timings[#ctx.timings + 1] = string.format("mount --restart %.1fs", util.now() - t0)
      assert.is_true(g.mounted("/mnt/ro", "9p"))
      assert.is_true(g.mounted("/mnt/rw", "9p")) -- the first one came back too
      assert.equal("kept\n", g.ok("cat /mnt/ro/kept"))
      assert.are_not.equal(0, (g.run("echo x > /mnt/ro/new")))
      assert.are_not.equal(0, (g.run("sudo sh -c 'echo x > /mnt/ro/kept'")))
      -- the guest's root remounts it read-write: QEMU still refuses
      g.ok("sudo mount -o remount,rw /mnt/ro && grep ' /mnt/ro 9p rw,' /proc/mounts")
      assert.are_not.equal(0, (g.run("sudo sh -c 'echo x > /mnt/ro/new'")))
      assert.are_not.equal(0, (g.run("sudo rm /mnt/ro/kept")))
      assert.are_not.equal(0, (g.run("sudo mkdir /mnt/ro/d")))
      assert.same({ "kept" }, fs.list(tmp .. "/ro"))
      assert.equal("kept\n", fs.read(tmp .. "/ro/kept"))
    end)

  it("native on a stopped instance applies at the next start; both come back", function()
    need()
    h:ok({ "stop", NAME })
    local code, out, err = h:run({ "mount", tmp .. "/late", NAME .. ":/mnt/late" })
    assert.equal(0, code, out .. err)
    assert.truthy(err:find("applies when " .. NAME .. " starts", 1, true), err)
    code, out, err = h:run({ "start", NAME })
    assert.equal(0, code, err .. out)
    assert.falsy(err:find("warning", 1, true), err)
    for _, t in ipairs({ "/mnt/rw", "/mnt/ro", "/mnt/late" }) do
      assert.is_true(g.mounted(t, "9p"), t)
    end
    assert(fs.write(tmp .. "/late/x", "late\n"))
    assert.equal("late\n", g.ok("cat /mnt/late/x"))
  end)

  it("native: umount removes the mount and its fstab line", function()
    need()
    h:ok({ "umount", NAME .. ":/mnt/ro" })
    h:ok({ "umount", NAME .. ":/mnt/late" })
    assert.is_false(g.mounted("/mnt/ro", "9p"))
    assert.is_false(g.mounted("/mnt/late", "9p"))
    local fstab = g.ok("cat /etc/fstab")
    assert.falsy(fstab:find("/mnt/ro", 1, true), fstab)
    assert.truthy(fstab:find("/mnt/rw", 1, true), fstab)
    assert.equal(1, #g.mounts())
  end)

  it("classic: a guest without sshfs gets a clear error and nothing changes", function()
    need()
    if g.run("command -v sshfs") == 0 then pending("this guest has sshfs already") end
    local before = fs.read(h:instance_dir(NAME) .. "/instance.json")
    local code, out, err = h:run({ "mount", "--type", "classic", tmp .. "/cl",
      NAME .. ":/mnt/cl" })
    assert.equal(2, code, out .. err)
    assert.truthy(err:find("sshfs is not installed in the guest", 1, true), err)
    assert.truthy(err:find("moonbase does not install packages", 1, true), err)
    assert.equal(before, fs.read(h:instance_dir(NAME) .. "/instance.json"))
  end)

  it("classic: sshfs side-loaded into the tiny guest (Debian 12's, as the host's)", function()
    need()
    ctx.skip = "sshfs could not be side-loaded into the tiny guest"
    local ok, msg = sideload_sshfs(h, NAME, g)
    if not ok then
      ctx.skip = msg
      pending(msg)
    end
    ctx.skip = nil
  end)

  classic_checks(ctx)
end)

describe("classic mounts on the real Debian 12 image #e2e", function()
  local why = support.unavailable()
  if why then
    it("needs QEMU", function() pending(why) end)
    return
  end
  local NAME = "deb"
  local ctx = { name = NAME, timings = {} }
  local tmp

  setup(function()
    local img, msg = support.image("build-debian.sh", "MOONBASE_DEBIAN_IMAGE")
    if not img then
      ctx.skip = "the Debian test image is not available: " .. tostring(msg)
      return
    end
    local host
    host, msg = support.host({ img })
    if not host then
      ctx.skip = tostring(msg)
      return
    end
    ctx.h = support.home(host, { tag = "mounts-deb", image = "bookworm" })
    ctx.g = guest_of(ctx.h, NAME)
    tmp = support.tmpdir("mount-deb")
    outside(tmp)
    for _, d in ipairs({ "cl", "cro" }) do assert(fs.mkdirs(tmp .. "/" .. d)) end
    ctx.tmp = tmp
  end)

  teardown(function()
    support.cleanup()
    if tmp then fs.rmtree(tmp) end
    if #ctx.timings > 0 then
      io.stderr:write("\nmounts e2e (debian) timings: " .. table.concat(ctx.timings, ", ") ..
        "\n")
    end
  end)

  it("launches the Debian image", function()
    if ctx.skip then pending(ctx.skip) end
    local t0 = util.now()
    local code, out, err = ctx.h:run({ "launch", "--name", NAME, "--memory", "1G",
      "--timeout", BOOT })
    if code ~= 0 then
      ctx.skip = "the Debian image did not boot: " .. err .. out
      error(ctx.skip)
    end
    ctx.timings[#ctx.timings + 1] = string.format("launch %.1fs", util.now() - t0)
    ctx.g.ok("command -v sshfs")
  end)

  classic_checks(ctx)
end)
