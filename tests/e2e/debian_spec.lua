-- The path a user takes with a real cloud image: Debian 12 built by
-- tests/images/build-debian.sh (systemd, real cloud-init, OpenSSH, GRUB on a
-- partitioned disk that SeaBIOS boots by itself), served by a local
-- simplestreams host and launched through the CLI under TCG. Proves cloud-init
-- finished, the hostname is the instance's name, the guest presents the host
-- key moonbase pinned at launch (to moonbase and to OpenSSH), an
-- interactive shell through tmux, window resizes included, and then, on the
-- same guest, the classic (sshfs) mount checks of tests/e2e/mount_checks.lua
-- with the Debian sshfs the image ships (one boot shared by both: the image
-- and the launch are the same).
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e/debian_spec.lua
-- MOONBASE_DEBIAN_IMAGE=<dir> uses an already built image.
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local mc = require("mount_checks")({ it = it, pending = pending, assert = assert })

local NAME = "deb"

describe("a Debian 12 cloud image on a real VM #e2e", function()
  local why = support.unavailable()
  if why then
    it("needs QEMU", function() pending(why) end)
    return
  end

  local h, tmp, skip
  local timings = {}
  local mounts = { name = NAME, timings = timings } -- the classic checks' context

  local function need()
    if skip then pending(skip) end
  end

  local function exec(...)
    return h:run({ "exec", NAME, "--", ... })
  end

  setup(function()
    local t0 = util.now()
    local img, msg = support.image("build-debian.sh", "MOONBASE_DEBIAN_IMAGE")
    if not img then
      skip = "the Debian 12 test image cannot be built here: " .. tostring(msg)
      return
    end
    timings[#timings + 1] = string.format("image %.1fs", util.now() - t0)
    local host
    host, msg = support.host({ img })
    if not host then
      skip = "the Debian 12 test image cannot be served: " .. tostring(msg)
      return
    end
    h = support.home(host, { tag = "debian", image = "bookworm" })
    tmp = support.tmpdir("debian-files")
    mounts.h, mounts.g, mounts.tmp = h, mc.guest_of(h, NAME), support.tmpdir("debian-mounts")
    mc.outside(mounts.tmp)
    for _, d in ipairs({ "cl", "cro" }) do assert(fs.mkdirs(mounts.tmp .. "/" .. d)) end
  end)

  teardown(function()
    support.cleanup()
    if tmp then fs.rmtree(tmp) end
    if mounts.tmp then fs.rmtree(mounts.tmp) end
    if #timings > 0 then
      io.stderr:write("\ndebian e2e timings: " .. table.concat(timings, ", ") .. "\n")
    end
  end)

  it("launches from its disk with SeaBIOS, and cloud-init finishes", function()
    need()
    local t0 = util.now()
    local code, out, err = h:run({ "launch", "--name", NAME, "--timeout", "600" })
    timings[#timings + 1] = string.format("launch %.1fs", util.now() - t0)
    assert.equal(0, code, err .. out)
    assert.equal("Launched: " .. NAME .. "\n", out)
    -- no external kernel: SeaBIOS boots GRUB from the disk
    local rec = h:record(NAME)
    assert.is_nil(rec.kernel)
    local ps = support.qemus(h.dir)
    assert.equal(1, #ps)
    assert.is_falsy(ps[1].cmd:find(" -kernel ", 1, true), ps[1].cmd)
    code, out, err = exec("cloud-init", "status")
    assert.equal(0, code, err)
    assert.truthy(out:find("status: done", 1, true), out)
    code, out = exec("cat", "/etc/os-release")
    assert.truthy(out:find('VERSION_ID="12"', 1, true), out)
  end)

  it("names the guest after the instance", function()
    need()
    local code, out, err = exec("hostname")
    assert.equal(0, code, err)
    assert.equal(NAME .. "\n", out)
    local i = json.decode(h:ok({ "info", NAME, "--format", "json" }))[NAME]
    assert.equal("running", i.state)
    assert.equal("local:bookworm", i.image)
  end)

  it("presents the host key pinned at launch, to moonbase and to OpenSSH", function()
    need()
    local rec = h:record(NAME)
    local code, out, err = exec("sudo", "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
    assert.equal(0, code, err)
    assert.equal(rec.host_key:match("^(%S+ %S+)"), out:match("^(%S+ %S+)"))
    -- cloud-init made no other host keys (moonbase's seed asks for none)
    code, out = exec("sudo", "sh", "-c", "ls /etc/ssh/ssh_host_*_key.pub")
    assert.equal("/etc/ssh/ssh_host_ed25519_key.pub\n", out)
    local cfg = tmp .. "/ssh_config"
    assert(fs.write(cfg, h:ok({ "ssh-config", NAME })))
    code, out, err = support.run({ "timeout", "60", "ssh", "-F", cfg, "-o", "BatchMode=yes",
      NAME, "cloud-init", "status" })
    assert.equal(0, code, err)
    assert.truthy(out:find("status: done", 1, true), out)
  end)

  it("gives an interactive bash through tmux", function()
    need()
    local status = tmp .. "/shell.status"
    local t = support.tmux(tmp, "deb", "sh -c '" .. h:sh({ "shell", NAME }) ..
      "; echo \"shell-exit=$?\" > " .. status .. "'", 80, 24)
    local ok, err = pcall(function()
      t:wait("@" .. NAME .. ":[^\n]*%$ *\n", "the guest's bash prompt", 60)
      t:keys("echo hi-$((6*7))", "Enter")
      t:wait("\nhi%-42 *\n", "hi-42")
      t:keys("stty size; tty", "Enter")
      t:wait("\n24 80 *\n/dev/pts/", "stty size 24 80 on a pts")
      t:resize(120, 40)
      util.sleep(0.3)
      t:keys("clear; stty size", "Enter")
      t:wait("\n40 120 *\n", "stty size 40 120 after resizing the window")
      t:keys("exit 3", "Enter")
      support.wait_for("the shell to exit", 30, function() return fs.exists(status) end, 0.1)
    end)
    t:kill()
    assert(ok, err)
    assert.equal("shell-exit=3\n", fs.read(status))
  end)

  it("ships sshfs, for classic mounts", function()
    mounts.skip = skip -- the checks below are skipped with this suite
    need()
    mounts.g.ok("command -v sshfs")
  end)

  mc.classic_checks(mounts)

  it("is purged with nothing left", function()
    need()
    h:ok({ "delete", "--purge", NAME })
    assert.same({}, fs.list(h.dir .. "/data/instances/qemu") or {})
    support.wait_for("no QEMU or agent left", 20, function()
      return #support.processes(h.dir) == 0
    end)
  end)
end)
