-- Mounts on real QEMU guests, through the moonbase CLI only.
--   native  (9p) on the tiny image: launch --mount, data both ways (sha256 of
--           50 MB), mtime and modes, rename/delete/mkdir/symlink, a symlink to
--           a host file outside the share, --readonly enforced by QEMU even
--           after the guest remounts read-write, --restart, umount, stop/start.
--   classic (sshfs -o slave against the agent's SFTP server): first the clear
--           error on a guest without sshfs, then on the tiny image with the
--           host's Debian sshfs side-loaded into it (same release as the
--           guest): the same checks plus "../" and symlink escapes from
--           the guest, id maps, --readonly, umount, stop/start. They run on
--           the real Debian 12 image (with the sshfs it ships) in
--           debian_spec.lua, on the guest that suite boots anyway; the checks
--           both suites share are in mount_checks.lua. Absolute-path requests never come
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
local mc = require("mount_checks")({ it = it, pending = pending, assert = assert })
local BOOT, sh, q, outside, guest_of = mc.BOOT, mc.sh, mc.q, mc.outside, mc.guest_of
local data_both_ways, mtime_and_modes, tree_operations = mc.data_both_ways,
  mc.mtime_and_modes, mc.tree_operations
local confined, no_setuid, MAPPED = mc.confined, mc.no_setuid, mc.MAPPED
local sideload_sshfs, classic_checks = mc.sideload_sshfs, mc.classic_checks

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
