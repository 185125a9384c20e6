-- What the mount e2e suites share: helpers bound to a home and an instance,
-- the checks of a mounted share (data both ways, modes, tree operations,
-- confinement, no setuid), and the classic (sshfs) checks as it blocks on a
-- running instance whose guest has sshfs: tests/e2e/mounts_spec.lua (the
-- tiny image) and tests/e2e/debian_spec.lua (the real Debian 12 image, on the
-- guest that suite boots) define them with classic_checks(ctx).
-- A spec's busted functions are its own, not globals: a spec passes them,
--   local mc = require("mount_checks")({ it = it, pending = pending, assert = assert })
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

return function(busted)
local it, pending, assert = busted.it, busted.pending, busted.assert

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

return { BOOT = BOOT, BIG = BIG, sh = sh, q = q, sha256 = sha256, outside = outside,
  guest_of = guest_of, data_both_ways = data_both_ways, MAPPED = MAPPED,
  mtime_and_modes = mtime_and_modes, tree_operations = tree_operations, confined = confined,
  no_setuid = no_setuid, sideload_sshfs = sideload_sshfs, classic_checks = classic_checks }
end
