-- Clone and rename on real tiny guests through the CLI, on moonbase's private
-- network (ctest runs the suite in a network namespace of its own,
-- tests/lib/in-netns.sh, so the bridge, taps and dnsmasq never touch the
-- host). One source instance is cloned; the clone is renamed; the source is
-- deleted; the tests run in order and share the guests.
-- Proves: the clone boots with its own name (hostname), address, MAC, host
-- key (OpenSSH with StrictHostKeyChecking through ssh-config accepts each),
-- instance-id (a per-instance runcmd ran again) and machine-id, with the
-- source's files; its disk is a copy of the source's overlay on the same
-- cached image; both reach each other by name; the renamed instance keeps
-- its disk and answers at NEW.moonbase (the old name no longer does); the
-- clone runs on after the source is deleted.
-- Run (in a network namespace): tests/lib/in-netns.sh build/moonbase --lua
--   tests/run-busted.lua tests/e2e/clone_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")

local BOOT = "300"
local SRC, CLONE, NEW = "orig", "orig-clone1", "renamed"
local MACHINE_ID = "0123456789abcdef0123456789abcdef"

describe("clone and rename on real VMs #e2e", function()
  local why = support.unavailable()
  why = why or support.netns_unavailable()
  if why then
    it("needs QEMU, root and a network namespace", function() pending(why) end)
    return
  end

  local h, tmp, skip, sha
  local timer = support.timer()
  local timed = timer.timed

  local function need()
    if skip then pending(skip) end
  end

  local function guest(name, cmd) return h:guest(name, cmd) end

  local function info(name)
    return json.decode(h:ok({ "info", name, "--format", "json" }))[name]
  end

  local function ping(from, to)
    return h:run({ "exec", from, "--", "sudo", "ping", "-c", "1", "-W", "5", to .. ".moonbase" })
  end

  setup(function()
    h, skip = support.tiny_home({ private_network = true, tag = "clone" })
    if not h then return end
    tmp = support.tmpdir("clone")
  end)

  teardown(function()
    if h and not skip then
      h:run({ "delete", "--all", "--purge" })
      h:run({ "networks", "--prune" })
    end
    support.cleanup()
    if tmp then fs.rmtree(tmp) end
    timer.report("clone")
  end)

  it("clones a stopped instance: a copy of its overlay on the same image", function()
    need()
    local ci = tmp .. "/cloud-init.yaml"
    fs.write(ci, "#cloud-config\nruncmd:\n  - [sh, -c, 'hostname >> /var/tmp/runcmd.log']\n")
    timed("launch", function()
      h:ok({ "launch", "--name", SRC, "--memory", "256M", "--cloud-init", ci,
        "--timeout", BOOT })
    end)
    -- a systemd guest has a machine-id on its disk; the tiny image leaves it
    -- empty, so give it one as systemd would
    sha = guest(SRC, "head -c 1048576 /dev/urandom > ~/data && sha256sum ~/data && " ..
      "echo " .. MACHINE_ID .. " | sudo tee /etc/machine-id >/dev/null && sync"):match("^(%x+)")
    h:ok({ "stop", SRC })
    local out = timed("clone", function() return h:ok({ "clone", SRC }) end)
    assert.equal("Cloned: " .. SRC .. " -> " .. CLONE .. "\n", out)
    local src_disk = h:instance_dir(SRC) .. "/disk.qcow2"
    local disk = h:instance_dir(CLONE) .. "/disk.qcow2"
    local a = json.decode(support.must({ "qemu-img", "info", "--output=json", src_disk }))
    local b = json.decode(support.must({ "qemu-img", "info", "--output=json", disk }))
    assert.equal(a["full-backing-filename"], b["full-backing-filename"])
    assert.equal(a["virtual-size"], b["virtual-size"])
    assert.truthy(b["full-backing-filename"]:find(h.dir .. "/cache/images/", 1, true))
    assert.equal(0, process.run({ "qemu-img", "compare", "-q", src_disk, disk }))
    assert.equal("stopped", info(CLONE).state)
  end)

  it("boots the clone with its own name, address, MAC, host key, instance-id and " ..
    "machine-id, the source's files, and both reach each other by name", function()
      need()
      timed("start both", function()
        h:ok({ "start", SRC })
        h:ok({ "start", CLONE })
      end)
      assert.equal(CLONE .. "\n", guest(CLONE, "hostname"))
      assert.equal(SRC .. "\n", guest(SRC, "hostname"))
      assert.equal(sha, guest(CLONE, "sha256sum ~/data"):match("^(%x+)"))
      local si, ci = info(SRC), info(CLONE)
      assert.truthy(si.ipv4[1] and ci.ipv4[1] and si.ipv4[1] ~= ci.ipv4[1])
      local mac = "cat /sys/class/net/eth0/address"
      assert.are_not.equal(guest(SRC, mac), guest(CLONE, mac))
      local iid = "cat /var/lib/cloud/data/instance-id"
      assert.are_not.equal(guest(SRC, iid), guest(CLONE, iid))
      -- the per-instance runcmd ran again in the clone, after the source's
      assert.equal(SRC .. "\n" .. CLONE .. "\n", guest(CLONE, "cat /var/tmp/runcmd.log"))
      assert.equal(SRC .. "\n", guest(SRC, "cat /var/tmp/runcmd.log"))
      local mid = guest(CLONE, "cat /etc/machine-id"):gsub("%s+$", "")
      assert.truthy(mid:match("^" .. ("%x"):rep(32) .. "$"), mid)
      assert.are_not.equal(MACHINE_ID, mid)
      assert.equal(MACHINE_ID .. "\n", guest(SRC, "cat /etc/machine-id"))
      -- OpenSSH, strict host key checking, through ssh-config: each answers
      -- with its own pinned key
      local cfg = tmp .. "/ssh_config"
      fs.write(cfg, h:ok({ "ssh-config", SRC, CLONE }))
      for _, n in ipairs({ SRC, CLONE }) do
        local out = support.must({ "ssh", "-F", cfg, "-o", "BatchMode=yes", n, "hostname" })
        assert.equal(n .. "\n", out)
      end
      local k1 = fs.read(h:instance_dir(SRC) .. "/known_hosts")
      local k2 = fs.read(h:instance_dir(CLONE) .. "/known_hosts")
      assert.are_not.equal(k1:match("ssh%-ed25519 (%S+)"), k2:match("ssh%-ed25519 (%S+)"))
      local c1 = ping(SRC, CLONE)
      assert.equal(0, c1)
      local c2, out2 = ping(CLONE, SRC)
      assert.equal(0, c2)
      assert.truthy(out2:find(si.ipv4[1], 1, true), out2)
    end)

  it("renames the stopped clone: its disk kept, it answers at NEW.moonbase", function()
    need()
    local code, _, err = h:run({ "rename", CLONE, NEW })
    assert.equal(2, code)
    assert.truthy(err:find("rename needs it stopped", 1, true), err)
    h:ok({ "stop", CLONE })
    assert.equal("Renamed: " .. CLONE .. " -> " .. NEW .. "\n", h:ok({ "rename", CLONE, NEW }))
    timed("start renamed", function() h:ok({ "start", NEW }) end)
    assert.equal(sha, guest(NEW, "sha256sum ~/data"):match("^(%x+)"))
    local c, out = ping(SRC, NEW)
    assert.equal(0, c, out)
    assert.truthy(out:find(info(NEW).ipv4[1], 1, true), out)
    assert.are_not.equal(0, (ping(SRC, CLONE)))
    assert.truthy(h:ok({ "hosts" }):find(NEW .. ".moonbase", 1, true))
  end)

  it("keeps the clone working once the source is deleted", function()
    need()
    h:ok({ "delete", "--purge", SRC })
    assert.is_nil(fs.exists(h:instance_dir(SRC)))
    h:ok({ "stop", NEW })
    timed("start after the source is gone", function()
      h:ok({ "start", NEW })
    end)
    assert.equal(sha, guest(NEW, "sha256sum ~/data"):match("^(%x+)"))
  end)
end)
