-- The LXD driver on a stock LXD (Debian's lxd, started by tests/lib/lxd.sh
-- inside this suite's network namespace, with the dir storage pool `lxd init`
-- makes), through the moonbase CLI only, for what the lifecycle, network and
-- recipe suites (which run under lxd too) do not cover:
--   - bad input refused in one line before anything is made: LXD not running,
--     a virtual machine without KVM, an image with no LXD item, a name LXD
--     already has (someone else's container stays untouched), a bad name;
--   - the image imported into LXD once, by fingerprint;
--   - clone (LXD's copy with the clone's own MAC, address, hostname and
--     instance-id; the source's files, not its snapshots; both at once, the
--     clone independent of the source) and rename (the snapshots go along,
--     the old name is gone); running instances and taken names refused;
--   - a native mount: a disk device whose owner on the host (uid 1000, the
--     "host user") is the guest's default user in the container, read and
--     written from both sides, and a second one added to the running
--     instance without a restart, then taken out;
--   - --bridged: LXD's NIC on a host bridge (a "LAN" bridge with its own
--     DHCP, made in this namespace), and a UDP forward byte for byte;
--   - the second flavour: the Debian 12 image (systemd, real cloud-init,
--     OpenSSH) as a container, with a classic (sshfs) mount.
-- Every wait is bounded; what is left is stopped with the LXD.
-- Run: ctest -R e2e/lxd (or tests/lib/in-netns.sh build/moonbase --lua
--      tests/run-busted.lua tests/e2e/lxd_spec.lua)
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")

describe("the lxd driver on a stock LXD #e2e #lxd", function()
  local why = support.netns_unavailable()
  if why then
    it("needs root and a network namespace", function() pending(why) end)
    return
  end

  local h, lxd_dir, sock, tmp, skip, host

  local function need() if skip then pending(skip) end end

  local function lxc(args)
    local code, out, err = support.lxc(lxd_dir, args)
    assert(code == 0, "lxc " .. table.concat(args, " ") .. ": " .. err .. out)
    return out
  end

  local function lxd_instances()
    return lxc({ "list", "-c", "n", "-f", "csv" })
  end

  local function guest(name, cmd)
    local code, out, err = h:run({ "exec", name, "--", "sh", "-c", cmd })
    assert(code == 0, "guest " .. name .. " (" .. code .. "): " .. cmd .. "\n" .. err .. out)
    return out
  end

  -- one line, the exit status, and nothing made: no record, no LXD instance, no lease
  local function refused(args, code, words)
    local before = lxd_instances()
    local c, out, err = h:run(args)
    assert.equal(code, c, table.concat(args, " ") .. ": " .. err .. out)
    assert.truthy(err:find(words, 1, true), err)
    assert.equal(1, select(2, err:gsub("\n", "")), err)
    assert.same({}, fs.list(h.dir .. "/data/instances/lxd") or {})
    assert.equal(before, lxd_instances())
    for _, f in ipairs(fs.list(h.dir .. "/data/networks") or {}) do
      if f:match("%.json$") then
        local net = json.decode(fs.read(h.dir .. "/data/networks/" .. f))
        assert.same({}, net.leases or {}, f .. " has leases after a refused launch")
      end
    end
  end

  setup(function()
    local tiny, msg = support.tiny_image()
    if not tiny then skip = msg return end
    local debian = support.image("build-debian.sh", "MOONBASE_DEBIAN_IMAGE")
    tmp = support.tmpdir("lxd")
    -- an image without LXD items: the tiny one's disk only
    local nolxd = tmp .. "/nolxd"
    assert(fs.mkdirs(nolxd))
    support.must({ "ln", tiny .. "/disk.qcow2", nolxd .. "/disk.qcow2" })
    -- (one key a line: make-streams.sh reads it line by line)
    assert(fs.write(nolxd .. "/metadata.json", '{\n  "os": "debian-tiny",\n' ..
      '  "release": "nolxd",\n  "aliases": "nolxd",\n  "arch": "amd64",\n' ..
      '  "version": "1"\n}\n'))
    -- (a broken image host or an LXD that does not start fails the suite;
    -- only an LXD that cannot run here at all makes it pending)
    host = assert(support.host({ tiny, nolxd, debian }))
    sock, lxd_dir = support.lxd()
    if not sock and lxd_dir:match("^LXD cannot run here") then skip = lxd_dir return end
    assert(sock, lxd_dir)
    h = support.home(host, { tag = "lxd", scope = "lxd", private_network = true })
    h:ok({ "set", "local.driver=lxd", "local.lxd.socket=" .. sock })
  end)

  teardown(function()
    if h and not skip then h:run({ "delete", "--all", "--purge" }) end
    support.cleanup()
  end)

  it("refuses what cannot work, in one line, before anything is made", function()
    need()
    -- LXD not running: says how to start it
    h:ok({ "set", "local.lxd.socket=" .. tmp .. "/no-lxd/unix.socket" })
    refused({ "launch", "--name", "a" }, 2, "LXD is not running: nothing answers on LXD's " ..
      "socket " .. tmp .. "/no-lxd/unix.socket")
    h:ok({ "set", "local.lxd.socket=" .. sock })
    -- a virtual machine on a host without a KVM that runs guests (none, or a
    -- nested one that crawls)
    local kvm, kvm_words = util.kvm()
    if kvm ~= "usable" then
      h:ok({ "set", "local.lxd.instance-type=virtual-machine" })
      refused({ "launch", "--name", "a" }, 2, "LXD virtual machines need KVM, and this host " ..
        "has " .. kvm_words)
      h:ok({ "unset", "local.lxd.instance-type" })
    end
    -- an image with a disk but no LXD image
    refused({ "launch", "local:nolxd", "--name", "a" }, 2, 'image "local:nolxd" has no LXD ' ..
      "container image (lxd.tar.xz with squashfs or root.tar.xz)")
    -- a name LXD has already: someone else's container, which stays as it is
    lxc({ "init", "--empty", "theirs" })
    -- (-q: the image's first download shows its progress before the name is checked)
    refused({ "launch", "-q", "--name", "theirs" }, 2, 'already has an instance named "theirs" ' ..
      "that is not this moonbase's")
    assert.equal("theirs\n", lxd_instances())
    lxc({ "delete", "theirs" })
    -- a name LXD (and moonbase) cannot take
    refused({ "launch", "--name", "9lives" }, 1, "9lives")
  end)

  it("times out like every driver: exit 5, the console's tail, the container stopped",
    function()
      need()
      -- a container is up in about 2 s: a runcmd that sleeps keeps cloud-init from
      -- finishing inside the 5 s budget whatever the machine's load
      local ci = tmp .. "/slow.yaml"
      assert(fs.write(ci, "#cloud-config\nruncmd:\n  - [sleep, '120']\n"))
      local code, _, err = h:run({ "launch", "--name", "slow", "--memory", "256M",
        "--cloud-init", ci, "--timeout", "5" })
      assert.equal(5, code, err)
      assert.truthy(err:find("last lines of the console:", 1, true), err)
      assert.truthy(err:find("moonbase-tiny:", 1, true), err) -- the guest's own lines
      assert.truthy(err:find("the instance is stopped; try: moonbase info slow", 1, true), err)
      assert.equal("STOPPED", lxc({ "list", "slow", "-c", "s", "-f", "csv" }):gsub("%s+$", ""))
      support.wait_for("no agent left", 20, function()
        return #support.agents(h.dir, "slow") == 0
      end)
      assert.equal("stopped", json.decode(h:ok({ "list", "--format", "json" }))[1].state)
      h:ok({ "delete", "--purge", "slow" })
      assert.equal("", lxd_instances())
    end)

  it("imports the image into LXD once, by fingerprint", function()
    need()
    local code, _, err = h:run({ "launch", "--name", "one", "--memory", "256M" })
    assert.equal(0, code, err)
    local images = json.decode(lxc({ "image", "list", "-f", "json" }))
    assert.equal(1, #images)
    local rec = json.decode(fs.read(h:instance_dir("one") .. "/instance.json"))
    assert.equal(rec.image_id, images[1].fingerprint)
    code, _, err = h:run({ "launch", "--name", "two", "--memory", "256M" })
    assert.equal(0, code, err)
    assert.is_nil(err:find("Uploading image", 1, true), err)
    assert.equal(1, #json.decode(lxc({ "image", "list", "-f", "json" })))
    h:ok({ "delete", "--purge", "one", "two" })
    assert.equal("", lxd_instances())
  end)

  it("snapshots a container (its files, stateless), restores it stopped, deletes it",
    function()
      need()
      h:ok({ "launch", "--name", "snap", "--memory", "256M" })
      guest("snap", "echo before > /var/tmp/mark; sync")
      -- running: a snapshot of its files (LXD without CRIU keeps no memory)
      local out = h:ok({ "snapshot", "--name", "s1", "--comment", "first", "snap" })
      assert.truthy(out:find("s1", 1, true), out)
      -- LXD holds it (under moonbase's tag for it)
      local function lxd_snaps()
        return #json.decode(lxc({ "query", "/1.0/instances/snap/snapshots" }))
      end
      assert.equal(1, lxd_snaps())
      local list = json.decode(h:ok({ "info", "snap", "--format", "json" })).snap.snapshots
      assert.equal(1, #list)
      assert.equal("s1", list[1].name)
      assert.equal("first", list[1].comment)
      assert.equal("stopped", list[1].state) -- files only: restoring it leaves it stopped
      guest("snap", "echo after > /var/tmp/mark; sync")
      -- restore: the state it replaces is kept first; a file-only snapshot
      -- leaves the container stopped, with the file as it was
      local code, rout, rerr = h:run({ "restore", "snap.s1" })
      assert.equal(0, code, rerr)
      local kept = (rout .. rerr):match("(snapshot%d+)")
      assert.truthy(kept, rout .. rerr)
      assert.equal("stopped", json.decode(h:ok({ "info", "snap", "--format", "json" })).snap.state)
      h:ok({ "start", "snap" })
      assert.equal("before\n", guest("snap", "cat /var/tmp/mark"))
      -- the safety snapshot holds "after"
      h:ok({ "restore", "--destructive", "snap." .. kept })
      h:ok({ "start", "snap" })
      assert.equal("after\n", guest("snap", "cat /var/tmp/mark"))
      -- bad input changes nothing
      code, _, rerr = h:run({ "restore", "snap.nope" })
      assert.equal(2, code, rerr)
      assert.equal(1, select(2, rerr:gsub("\n", "")), rerr)
      code, _, rerr = h:run({ "snapshot", "--name", "s1", "snap" })
      assert.equal(2, code, rerr)
      assert.equal(2, lxd_snaps()) -- s1 and the safety snapshot
      h:ok({ "delete", "snap.s1" })
      assert.equal(1, lxd_snaps())
      h:ok({ "delete", "--purge", "snap" })
      assert.equal("", lxd_instances())
    end)

  -- one line, the exit status, and nothing changed: moonbase's instances and LXD's
  local function refused_change(args, code, words)
    local before, dirs = lxd_instances(), fs.list(h.dir .. "/data/instances/lxd")
    table.sort(dirs)
    local c, out, err = h:run(args)
    assert.equal(code, c, table.concat(args, " ") .. ": " .. err .. out)
    assert.truthy(err:find(words, 1, true), err)
    assert.equal(1, select(2, err:gsub("\n", "")), err)
    assert.is_nil(err:find("traceback", 1, true), err)
    local after = fs.list(h.dir .. "/data/instances/lxd")
    table.sort(after)
    assert.same(dirs, after)
    assert.equal(before, lxd_instances())
  end

  it("clones a stopped container: its files, its own name, MAC, address and instance-id; " ..
    "both run at once; deleting the source leaves the clone", function()
      need()
      local SRC, CLONE = "src", "src-clone1"
      h:ok({ "launch", "--name", SRC, "--memory", "256M" })
      local sha = guest(SRC, "head -c 262144 /dev/urandom > /var/tmp/data && " ..
        "sha256sum /var/tmp/data && sync"):match("^(%x+)")
      h:ok({ "snapshot", "--name", "s1", SRC })
      -- running: refused, as by every driver (its files change under a copy)
      refused_change({ "clone", SRC }, 2, "clone needs it stopped; try: moonbase stop " .. SRC)
      h:ok({ "stop", SRC })
      assert.equal("Cloned: " .. SRC .. " -> " .. CLONE .. "\n", h:ok({ "clone", SRC }))
      -- LXD's copy, without the source's snapshots; stopped until started
      assert.equal(0, #json.decode(lxc({ "query", "/1.0/instances/" .. CLONE .. "/snapshots" })))
      assert.equal(1, #json.decode(lxc({ "query", "/1.0/instances/" .. SRC .. "/snapshots" })))
      assert.equal("STOPPED", lxc({ "list", CLONE, "-c", "s", "-f", "csv" }):gsub("%s+$", ""))
      assert.same({}, json.decode(h:ok({ "info", CLONE, "--format", "json" }))[CLONE].snapshots
        or {})
      h:ok({ "start", SRC })
      h:ok({ "start", CLONE })
      assert.equal(CLONE .. "\n", guest(CLONE, "hostname"))
      assert.equal(SRC .. "\n", guest(SRC, "hostname"))
      assert.equal(sha, guest(CLONE, "sha256sum /var/tmp/data"):match("^(%x+)"))
      -- its own MAC (moonbase's, on LXD's NIC) and address
      local mac = "cat /sys/class/net/eth0/address"
      local smac, cmac = guest(SRC, mac), guest(CLONE, mac)
      assert.are_not.equal(smac, cmac)
      assert.equal(h:record(CLONE).nics[1].mac .. "\n", cmac)
      local si = json.decode(h:ok({ "info", SRC, "--format", "json" }))[SRC]
      local ci = json.decode(h:ok({ "info", CLONE, "--format", "json" }))[CLONE]
      assert.truthy(si.ipv4[1] and ci.ipv4[1] and si.ipv4[1] ~= ci.ipv4[1])
      assert.equal(ci.ipv4[1] .. "\n", guest(CLONE, "ip -4 -o addr show eth0 | " ..
        "awk '{print $4}' | cut -d/ -f1"))
      -- a new instance-id: cloud-init's per-instance steps ran again
      local iid = "cat /var/lib/cloud/data/instance-id"
      assert.are_not.equal(guest(SRC, iid), guest(CLONE, iid))
      -- both on moonbase0 at once: each reaches the other by name
      local out = h:ok({ "exec", SRC, "--", "sudo", "ping", "-c", "1", "-W", "5",
        CLONE .. ".moonbase" })
      assert.truthy(out:find(ci.ipv4[1], 1, true), out)
      out = h:ok({ "exec", CLONE, "--", "sudo", "ping", "-c", "1", "-W", "5",
        SRC .. ".moonbase" })
      assert.truthy(out:find(si.ipv4[1], 1, true), out)
      -- independent: deleting the source leaves the clone running and whole
      h:ok({ "delete", "--purge", SRC })
      assert.equal(CLONE .. "\n", lxd_instances())
      assert.equal(sha, guest(CLONE, "sha256sum /var/tmp/data"):match("^(%x+)"))
      h:ok({ "stop", CLONE })
      h:ok({ "start", CLONE })
      assert.equal(sha, guest(CLONE, "sha256sum /var/tmp/data"):match("^(%x+)"))
      h:ok({ "delete", "--purge", CLONE })
      assert.equal("", lxd_instances())
    end)

  it("renames a stopped container: it runs under the new name with its snapshots, the old " ..
    "name is gone; taken names and a running one are refused, changing nothing", function()
      need()
      h:ok({ "launch", "--name", "old", "--memory", "256M" })
      h:ok({ "launch", "--name", "other", "--memory", "256M" })
      guest("old", "echo kept > /var/tmp/mark; sync")
      h:ok({ "snapshot", "--name", "base", "old" })
      guest("old", "echo changed > /var/tmp/mark; sync")
      refused_change({ "rename", "old", "new" }, 2, "rename needs it stopped; try: " ..
        "moonbase stop old")
      h:ok({ "stop", "old" })
      -- taken names: moonbase's own, and someone else's container on LXD (left as it is)
      refused_change({ "rename", "old", "other" }, 2, 'instance "other" already exists')
      refused_change({ "clone", "old", "--name", "other" }, 2,
        'instance "other" already exists')
      lxc({ "init", "--empty", "theirs" })
      refused_change({ "rename", "old", "theirs" }, 2, 'already has an instance named ' ..
        '"theirs" that is not this moonbase\'s')
      refused_change({ "clone", "old", "--name", "theirs" }, 2, 'already has an instance ' ..
        'named "theirs" that is not this moonbase\'s')
      assert.equal("", lxc({ "config", "get", "theirs", "user.moonbase.home" }):gsub("%s+$", ""))
      lxc({ "delete", "theirs" })
      refused_change({ "rename", "old", "9lives" }, 1, "9lives")

      assert.equal("Renamed: old -> new\n", h:ok({ "rename", "old", "new" }))
      assert.equal("new\nother\n", lxd_instances())
      assert.is_nil(fs.exists(h:instance_dir("old")))
      local code, _, err = h:run({ "exec", "old", "--", "true" })
      assert.are_not.equal(0, code)
      assert.equal(1, select(2, err:gsub("\n", "")), err)
      -- its snapshot went along, in LXD and in moonbase's records
      assert.equal(1, #json.decode(lxc({ "query", "/1.0/instances/new/snapshots" })))
      local snaps = json.decode(h:ok({ "info", "new", "--format", "json" })).new.snapshots
      assert.equal(1, #snaps)
      assert.equal("base", snaps[1].name)
      h:ok({ "start", "new" })
      assert.equal("changed\n", guest("new", "cat /var/tmp/mark"))
      assert.truthy(h:ok({ "hosts" }):find("new.moonbase", 1, true))
      local ip = json.decode(h:ok({ "info", "new", "--format", "json" })).new.ipv4[1]
      local out = h:ok({ "exec", "other", "--", "sudo", "ping", "-c", "1", "-W", "5",
        "new.moonbase" })
      assert.truthy(out:find(ip, 1, true), out)
      -- and restoring it works under the new name
      h:ok({ "restore", "--destructive", "new.base" })
      h:ok({ "start", "new" })
      assert.equal("kept\n", guest("new", "cat /var/tmp/mark"))
      h:ok({ "delete", "--purge", "new", "other" })
      assert.equal("", lxd_instances())
    end)

  it("shares a host user's folder natively: the guest's default user reads and writes it",
    function()
      need()
      -- the host user: uid 1000 (tests/lib/lxd.sh lets LXD map it, see docs/lxd.md)
      local share = tmp .. "/share"
      assert(fs.mkdirs(share))
      assert(fs.write(share .. "/from-host.txt", "written on the host\n"))
      support.must({ "chown", "-R", "1000:1000", share })
      local code, _, err = h:run({ "launch", "--name", "m", "--memory", "256M", "--mount",
        share .. ":/srv/share" })
      assert.equal(0, code, err)
      local user = guest("m", "id -un"):gsub("%s+$", "")
      -- the host user's files are the default user's in the guest
      assert.equal(user .. " " .. user .. "\n",
        guest("m", "stat -c '%U %G' /srv/share/from-host.txt"))
      assert.equal("written on the host\n", guest("m", "cat /srv/share/from-host.txt"))
      guest("m", "echo written in the guest > /srv/share/from-guest.txt && " ..
        "echo appended >> /srv/share/from-host.txt")
      -- and the guest's are the host user's on the host
      local st = fs.stat(share .. "/from-guest.txt")
      assert.same({ 1000, 1000 }, { st.uid, st.gid })
      assert.equal("written in the guest\n", fs.read(share .. "/from-guest.txt"))
      assert.equal("written on the host\nappended\n", fs.read(share .. "/from-host.txt"))
      -- LXD's disk device, not a 9p or sshfs mount
      assert.equal(share .. "\n", lxc({ "config", "device", "get", "m", "moonbase0", "source" }))

      -- a second share of the same owner goes into the running container at once
      local second = tmp .. "/second"
      assert(fs.mkdirs(second))
      assert(fs.write(second .. "/x.txt", "second share\n"))
      support.must({ "chown", "-R", "1000:1000", second })
      local boot = guest("m", "cut -d' ' -f22 /proc/1/stat")
      h:ok({ "mount", second, "m:/srv/second" })
      assert.equal("second share\n", guest("m", "cat /srv/second/x.txt"))
      assert.equal(boot, guest("m", "cut -d' ' -f22 /proc/1/stat"))
      local info = json.decode(h:ok({ "info", "m", "--format", "json" })).m
      assert.equal(2, #info.mounts)
      h:ok({ "umount", "m:/srv/second" })
      assert.equal(1, (h:run({ "exec", "m", "--", "test", "-e", "/srv/second/x.txt" })))
      -- and after a stop and start, the first is there as before
      h:ok({ "stop", "m" })
      h:ok({ "start", "m" })
      assert.equal("written in the guest\n", guest("m", "cat /srv/share/from-guest.txt"))
      assert.equal(user .. "\n", guest("m", "stat -c %U /srv/share/from-guest.txt"))
      h:ok({ "delete", "--purge", "m" })
    end)

  it("puts a NIC on a host bridge (--bridged) and forwards UDP to the container", function()
    need()
    for _, p in ipairs({ "dnsmasq", "cc" }) do
      if not support.have(p) then pending(p .. " is not installed") return end
    end
    -- the "LAN": a bridge of this suite's namespace with a DHCP server of its own
    local lan, echo = "br-lxdlan", tmp .. "/udp_echo"
    support.must({ "cc", "-static", "-O2", "-o", echo, support.src ..
      "/tests/e2e/udp_echo.c" })
    support.must({ "ip", "link", "add", lan, "type", "bridge" })
    support.must({ "ip", "addr", "add", "192.168.78.1/24", "dev", lan })
    support.must({ "ip", "link", "set", lan, "up" })
    local leases = tmp .. "/lan-leases"
    local dnsmasq = process.spawn({ "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
      "--interface=" .. lan, "--except-interface=lo", "--bind-interfaces", "--port=0",
      "--dhcp-range=192.168.78.50,192.168.78.99,255.255.255.0,1h",
      "--dhcp-leasefile=" .. leases, "--pid-file=" .. tmp .. "/lan-dnsmasq.pid" })
    local ok, e = pcall(function()
      h:ok({ "set", "local.bridged-network=" .. lan })
      h:ok({ "launch", "--name", "b", "--memory", "256M", "--bridged" })
      local nics = h:record("b").nics
      local bnic = nics[#nics]
      assert.equal("bridged", bnic.network)
      -- LXD's NIC on the LAN's bridge, with moonbase's MAC
      local dev = "eth" .. (#nics - 1)
      assert.equal(lan .. "\n", lxc({ "config", "device", "get", "b", dev, "parent" }))
      local ip = support.wait_for("a lease on the LAN for " .. bnic.mac, 60, function()
        for line in (fs.read(leases) or ""):gmatch("[^\n]+") do
          local m, a = line:match("^%d+ (%S+) (%S+)")
          if m == bnic.mac then return a end
        end
      end)
      assert.truthy(guest("b", "ip -4 -o addr"):find("inet " .. ip .. "/24", 1, true))
      -- UDP to an echo in the container, byte for byte (the agent relays it
      -- to the container's moonbase0 address)
      h:ok({ "transfer", echo, "b:udp_echo" })
      guest("b", "chmod +x udp_echo && (setsid ./udp_echo serve 5000 >/dev/null 2>&1 &)")
      h:ok({ "forward", "b", "15000:5000/udp" })
      local payload = tmp .. "/udp-payload"
      support.must({ "sh", "-c", "head -c 300000 /dev/urandom > " .. payload })
      local code, _, err = process.run({ "sh", "-c", support.quote(echo) ..
        " send 127.0.0.1 15000 1400 < " .. payload .. " > " .. payload .. ".back" })
      assert.equal(0, code, err)
      assert.equal(fs.read(payload), fs.read(payload .. ".back"))
      h:ok({ "delete", "--purge", "b" })
    end)
    process.kill(dnsmasq, process.SIGKILL)
    process.wait(dnsmasq)
    h:run({ "unset", "local.bridged-network" })
    process.run({ "ip", "link", "delete", lan })
    assert(ok, e)
  end)

  it("runs the Debian 12 image (systemd, cloud-init, OpenSSH) as a container", function()
    need()
    local img = support.image("build-debian.sh", "MOONBASE_DEBIAN_IMAGE")
    if not img then pending("the Debian 12 image could not be built") return end
    local ci = tmp .. "/debian.yaml"
    assert(fs.write(ci, "#cloud-config\nruncmd:\n  - echo debian-runcmd > /var/tmp/ran\n"))
    local t0 = util.now()
    local code, _, err = h:run({ "launch", "local:12", "--name", "deb", "--memory", "512M",
      "--cloud-init", ci, "--timeout", "600" })
    assert.equal(0, code, err)
    io.stderr:write(string.format("[e2e] lxd: Debian 12 container launched in %.1f s\n",
      util.now() - t0))
    assert.equal("systemd\n", guest("deb", "ps -o comm= -p 1"))
    assert.truthy(guest("deb", "cloud-init status"):find("status: done", 1, true))
    assert.equal("debian-runcmd\n", guest("deb", "cat /var/tmp/ran"))
    assert.truthy(guest("deb", "ls /usr/sbin/sshd && cat /etc/os-release")
      :find('VERSION_ID="12"', 1, true))
    -- its network is moonbase0's, by name too
    local ip = json.decode(h:ok({ "info", "deb", "--format", "json" })).deb.ipv4[1]
    assert.equal(ip .. "\n", guest("deb", "ip -4 -o addr show eth0 | awk '{print $4}' | " ..
      "cut -d/ -f1"))
    -- a classic mount: sshfs in the container (moonbase gives it /dev/fuse)
    local cl = tmp .. "/classic"
    assert(fs.mkdirs(cl))
    assert(fs.write(cl .. "/c.txt", "from the host\n"))
    h:ok({ "mount", "--type", "classic", cl, "deb:/mnt/cl" })
    assert.equal("from the host\n", guest("deb", "cat /mnt/cl/c.txt"))
    assert.truthy(guest("deb", "grep ' /mnt/cl ' /proc/mounts"):find("fuse.sshfs", 1, true))
    guest("deb", "echo from the guest > /mnt/cl/back.txt")
    assert.equal("from the guest\n", fs.read(cl .. "/back.txt"))
    h:ok({ "umount", "deb:/mnt/cl" })
    h:ok({ "delete", "--purge", "deb" })
  end)
end)
