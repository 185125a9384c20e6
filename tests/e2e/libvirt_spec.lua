-- The libvirt driver on a real guest, through the moonbase CLI only, against
-- libvirt as Debian's libvirt-daemon-system sets it up: QEMU runs as
-- libvirt-qemu with dynamic ownership on (ctest runs the suite under
-- tests/lib/libvirtd.sh host: virtlogd and libvirtd started by hand in a
-- network and mount namespace of the suite's own, seen as qemu:///system),
-- type qemu = TCG; the tiny image served by a local simplestreams host; user
-- networking with restrict=on and the SSH forward on 127.0.0.1 (passed to
-- QEMU by libvirt), or, where moonbase may make networks (root in that
-- namespace), its bridge moonbase0 with the instance's tap given to libvirt.
-- The home is on the mount of /var/lib/libvirt, as root's home is on most
-- machines, so the instance's files are lent to libvirt's storage pool by
-- hard links (lifecycle_spec, with its home elsewhere, proves the copies).
-- Proves: probe's refusal when libvirtd is unreachable; the lifecycle
-- (launch, exec, stop, start, suspend, start = resume, delete --purge) with
-- local.driver=libvirt, with a native 9p mount; the instance folder staying
-- 0700 while libvirt-qemu's QEMU opens only the pool's files; two instances
-- on moonbase0 reaching each other by name; the shared scope qemu <->
-- libvirt on one instance, by a file written in the guest under one driver
-- and read under the other, with a live instance refused to the driver that
-- does not run it; libvirt networks of moonbase's; one narrow test of a
-- libvirtd that runs QEMU as root (files used where they are); and
-- qemu:///session for a user without root (launch, exec).
-- The tests run in order and share the instance; every wait is bounded.
-- Run: tests/lib/libvirtd.sh host build/moonbase --lua tests/run-busted.lua \
--        tests/e2e/libvirt_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local NAME = "lv"

local LIBVIRTD = support.src .. "/tests/lib/libvirtd.sh"

describe("libvirt driver on a real VM #e2e", function()
  local why = support.unavailable()
  if not why then
    local code, out = support.run({ LIBVIRTD, "check" })
    if code ~= 0 then why = "libvirtd cannot run here: " .. out:gsub("%s+$", "") end
  end
  if why then
    it("needs QEMU and libvirtd", function() pending(why) end)
    return
  end

  local host, h, uri, skip, share
  local timings = {}
  local POOL = "/var/lib/libvirt/images/moonbase/"
  -- inside libvirtd.sh host, /var/lib/libvirt is the suite's own
  local own_host = (os.getenv("MOONBASE_TEST_LIBVIRT_URI") or "") ~= ""

  local function stat(fmt, path)
    return (support.must({ "stat", "-c", fmt, path }):gsub("%s+$", ""))
  end

  local function user_of(pid)
    return (support.must({ "ps", "-o", "user=", "-p", tostring(pid) }):gsub("%s+", ""))
  end

  -- the instance's QEMU runs as user; argv run in the guest prints want;
  -- then the instance is purged and the home cleaned up
  local function runs_as(home, name, user, argv, want)
    local q = support.qemus(home.dir)[1]
    assert.is_truthy(q, "no QEMU of the instance")
    assert.are.equal(user, user_of(q.pid))
    local c, o, e = home:run({ "exec", name, "--", table.unpack(argv) })
    assert.are.equal(0, c, e .. o)
    assert.are.equal(want, o)
    home:ok({ "delete", "--purge", name })
    home:cleanup()
    return q
  end


  local function timed(what, fn)
    local t0 = util.now()
    local r = table.pack(fn())
    timings[#timings + 1] = string.format("%s %.1fs", what, util.now() - t0)
    return table.unpack(r, 1, r.n)
  end

  local function need()
    if skip then pending(skip) end
  end

  local function guest(cmd)
    local code, out, err = h:run({ "exec", NAME, "--", "sh", "-c", cmd })
    assert(code == 0, "guest command failed (" .. code .. "): " .. cmd .. "\n" .. err .. out)
    return out
  end

  local function row()
    for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
      if r.name == NAME then return r end
    end
    return { state = "absent" }
  end

  local function use(driver)
    h:ok({ "set", "local.driver=" .. driver })
  end

  local function dir() return h:instance_dir(NAME) end

  local function domain()
    local t = fs.read(dir() .. "/libvirt.domain") or ""
    return t:match("\n([^\n]+)")
  end

  -- the QEMU libvirtd started for the domain (its -name guest=mb-lv-...)
  local function libvirt_qemu()
    for _, p in ipairs(support.qemus(h.dir)) do
      if p.cmd:find("guest=mb-" .. NAME .. "-", 1, true) then return p end
    end
  end

  setup(function()
    local msg
    host, msg = support.host()
    if not host then
      skip = msg
      return
    end
    uri, msg = support.libvirtd()
    if not uri then
      skip = msg
      return
    end
    -- in a network namespace of our own (ctest runs us so), moonbase may make
    -- its network moonbase0 as root; on the host's network it must not
    local own_netns = fs.readlink("/proc/self/ns/net") ~= fs.readlink("/proc/1/ns/net")
    h = support.home(host, { tag = "libvirt", private_network = own_netns,
      base = own_host and "/var/lib/libvirt" or nil })
    h:ok({ "set", "local.libvirt.uri=" .. uri, "local.driver=libvirt" })
  end)

  teardown(function()
    if h then h:cleanup() end
    if share then fs.rmtree(share) end
    support.cleanup()
    if #timings > 0 then io.stderr:write("[libvirt] " .. table.concat(timings, ", ") .. "\n") end
  end)

  it("refuses to launch when libvirtd is unreachable, and says how to start it", function()
    need()
    h:ok({ "set", "local.libvirt.uri=qemu:///system?socket=" .. support.tmpdir("nolibvirtd") ..
      "/libvirt-sock" })
    local code, out, err = h:run({ "launch", "--name", "nope" })
    h:ok({ "set", "local.libvirt.uri=" .. uri })
    assert.are_not.equal(0, code)
    assert.matches("libvirt driver cannot run here", err .. out, 1, true)
    assert.matches("libvirtd -d", err .. out, 1, true)
    assert.is_false(fs.exists(h:instance_dir("nope")) and true or false)
  end)

  it("launches through libvirt and runs commands in the guest", function()
    need()
    -- with a native (9p) mount: <filesystem type='mount'> in the domain XML
    share = support.tmpdir("libvirt-share")
    support.must({ "chmod", "777", share }) -- 9p shows host modes: let the guest user write
    assert(fs.write(share .. "/from-host", "host-side\n"))
    support.must({ "chmod", "644", share .. "/from-host" })
    timed("launch", function()
      h:ok({ "launch", "--name", NAME, "--mount", share .. ":/mnt/share" })
    end)
    assert.are.equal("running", row().state)
    assert.is_truthy(libvirt_qemu(), "no QEMU with -name guest=mb-" .. NAME .. "-...")
    local trace = fs.read(dir() .. "/libvirt.domain") or ""
    assert.are.equal(uri, trace:match("^[^\n]+"))
    local info = json.decode(h:ok({ "info", NAME, "--format", "json" }))[NAME]
    assert.are.equal("libvirt", info.driver)
    -- user networking: the forward on 127.0.0.1; as root, moonbase0 (inside
    -- this test's network namespace): the guest's own address
    assert.is_truthy(info.ssh:match("^127%.0%.0%.1:%d+$") or info.ssh:match("^[%d.]+:22$"),
      "unexpected SSH address " .. tostring(info.ssh))
    assert.matches("Linux " .. NAME, guest("uname -a"))
    -- the same console file as the QEMU driver's
    assert.matches("ssh ready", fs.read(dir() .. "/serial.log") or "")
    guest("echo libvirt-1 > ~/marker && sync")
    assert.are.equal("host-side\n", guest("cat /mnt/share/from-host"))
    guest("echo guest-side > /mnt/share/from-guest")
    assert.are.equal("guest-side\n", fs.read(share .. "/from-guest"))
  end)

  it("keeps the instance folder private: libvirt-qemu's QEMU opens the files lent to the pool",
    function()
      need()
      local q = libvirt_qemu()
      assert.are.equal("libvirt-qemu", user_of(q.pid)) -- as Debian runs it
      assert.are.equal("700", stat("%a", dir()))
      -- nothing on QEMU's command line is in the home: disk, seed, kernel
      -- and initrd are the pool's (the console comes from virtlogd)
      assert.is_nil(q.cmd:find(h.dir, 1, true), q.cmd)
      assert.matches(POOL, q.cmd, 1, true)
      if not own_host then
        pending("the home shares a mount with /var/lib/libvirt only under libvirtd.sh host")
      end
      -- on the same mount: hard links, no bytes copied
      local dom = domain()
      assert.are.equal("link\n", fs.read(dir() .. "/libvirt.lent"))
      assert.are.equal(stat("%i", dir() .. "/disk.qcow2"), stat("%i", POOL .. dom .. ".qcow2"))
      assert.are.equal(stat("%i", dir() .. "/cidata.iso"),
        stat("%i", POOL .. dom .. "-cidata.iso"))
      -- labelled by libvirt for its QEMU, readable by nobody else
      assert.are.equal("libvirt-qemu 600", stat("%U %a", POOL .. dom .. ".qcow2"))
      assert.are.equal("600", stat("%a", POOL .. dom .. "-cidata.iso"))
    end)

  it("stops and starts again with the same disk", function()
    need()
    local dom = domain()
    timed("stop", function() h:ok({ "stop", NAME }) end)
    assert.are.equal("stopped", row().state)
    assert.is_nil(libvirt_qemu())
    -- stopped: the domain is undefined, nothing of libvirt's is left, the
    -- disk is home (and the pool holds no file of the instance's)
    assert.is_false(fs.exists(dir() .. "/libvirt.domain") and true or false)
    assert.is_false(fs.exists(dir() .. "/libvirt.lent") and true or false)
    assert.is_false(fs.exists(POOL .. dom .. ".qcow2") and true or false)
    assert.is_false(fs.exists(POOL .. dom .. "-cidata.iso") and true or false)
    assert.are.equal("root 600", stat("%U %a", dir() .. "/disk.qcow2"))
    assert.are.equal("root 600", stat("%U %a", dir() .. "/cidata.iso"))
    timed("start", function() h:ok({ "start", NAME }) end)
    assert.are.equal("running", row().state)
    assert.are.equal("libvirt-1\n", guest("cat ~/marker"))
  end)

  it("suspends with a managed save, and start resumes the same boot", function()
    need()
    -- QEMU cannot save a guest with a 9p share mounted in it: said clearly
    local code, out, err = h:run({ "suspend", NAME })
    assert.are_not.equal(0, code)
    assert.matches("native (9p) mount", err .. out, 1, true)
    assert.are.equal("running", row().state)
    guest("sudo umount /mnt/share")
    local up = tonumber(guest("cat /proc/uptime"):match("^([%d.]+)"))
    timed("suspend", function() h:ok({ "suspend", NAME }) end)
    assert.are.equal("suspended", row().state)
    assert.is_nil(libvirt_qemu())
    code, _, err = h:run({ "stop", NAME })
    assert.are_not.equal(0, code)
    assert.matches("suspended", err)
    timed("resume", function() h:ok({ "start", NAME }) end)
    assert.are.equal("running", row().state)
    local up2 = tonumber(guest("cat /proc/uptime"):match("^([%d.]+)"))
    assert.is_true(up2 >= up, "uptime went back: not resumed (" .. up .. " -> " .. up2 .. ")")
  end)

  it("shares the scope with the qemu driver, one driver at a time", function()
    need()
    -- running under libvirt: the qemu driver sees it running, under libvirt
    use("qemu")
    local r = row()
    assert.are.equal("running", r.state)
    assert.are.equal("libvirt", r.driver)
    local code, out, err = h:run({ "stop", NAME })
    assert.are_not.equal(0, code)
    assert.matches("running under the libvirt driver", err .. out, 1, true)
    code, out, err = h:run({ "start", NAME })
    assert.are_not.equal(0, code)
    assert.matches("already running under the libvirt driver", err .. out, 1, true)
    assert.are.equal("libvirt-1\n", guest("cat ~/marker")) -- exec works from either
    -- stopped under libvirt, started under qemu: same disk, address and keys
    use("libvirt")
    h:ok({ "stop", NAME })
    use("qemu")
    assert.are.equal("stopped", row().state)
    timed("start under qemu", function() h:ok({ "start", NAME }) end)
    assert.is_nil(libvirt_qemu())
    assert.is_truthy(fs.exists(dir() .. "/qemu.pid"))
    assert.are.equal("libvirt-1\n", guest("cat ~/marker"))
    assert.are.equal("guest-side\n", guest("cat /mnt/share/from-guest")) -- 9p under qemu too
    guest("echo qemu-2 >> ~/marker && sync")
    -- and the other way: libvirt sees the QEMU driver's instance
    use("libvirt")
    r = row()
    assert.are.equal("running", r.state)
    assert.are.equal("qemu", r.driver)
    code, out, err = h:run({ "suspend", NAME })
    assert.are_not.equal(0, code)
    assert.matches("running under the qemu driver", err .. out, 1, true)
    use("qemu")
    h:ok({ "stop", NAME })
    use("libvirt")
    timed("start under libvirt", function() h:ok({ "start", NAME }) end)
    assert.is_truthy(libvirt_qemu())
    assert.are.equal("libvirt-1\nqemu-2\n", guest("cat ~/marker"))
  end)

  it("puts instances on moonbase's network: two reach each other by name", function()
    need()
    use("libvirt")
    local ssh = json.decode(h:ok({ "info", NAME, "--format", "json" }))[NAME].ssh or ""
    if ssh:match("^127%.0%.0%.1:") then
      pending("moonbase's private network is not available here (user networking: " ..
        "instances cannot reach each other); it needs root, dnsmasq and nft")
      return
    end
    timed("launch 2nd", function() h:ok({ "launch", "--name", NAME .. "2" }) end)
    local code, out, err = h:run({ "exec", NAME, "--", "sudo", "ping", "-c", "1", "-W", "5",
      NAME .. "2.moonbase" })
    assert.are.equal(0, code, err .. out)
    code, out, err = h:run({ "exec", NAME .. "2", "--", "sudo", "ping", "-c", "1", "-W", "5",
      NAME .. ".moonbase" })
    assert.are.equal(0, code, err .. out)
    h:ok({ "delete", "--purge", NAME .. "2" })
  end)

  it("deletes the instance and its domain", function()
    need()
    use("libvirt")
    h:ok({ "delete", "--purge", NAME })
    assert.are.equal("absent", row().state)
    assert.is_nil(libvirt_qemu())
    assert.is_false(fs.exists(dir()) and true or false)
  end)

  it("defines libvirt networks of its own (local.libvirt.networking=libvirt)", function()
    need()
    if fs.readlink("/proc/self/ns/net") == fs.readlink("/proc/1/ns/net") then
      pending("a libvirt network is a bridge with NAT: only inside the suite's own network " ..
        "namespace (ctest runs it in one: tests/lib/libvirtd.sh in-netns)")
      return
    end
    if not support.have("virsh") or not support.have("iptables") then
      pending("needs virsh (libvirt-clients) to check, and iptables, which libvirt 9.0's " ..
        "networks need (apt-get install libvirt-clients iptables)")
      return
    end
    local A, B = NAME .. "n1", NAME .. "n2"
    local function virsh(...)
      return support.must({ "virsh", "-q", "-c", uri, ... })
    end
    local function ours_in_libvirt()
      local left = {}
      for n in virsh("net-list", "--all", "--name"):gmatch("%S+") do
        if n:match("^mb%-") then left[#left + 1] = n end
      end
      return left
    end
    local function ours_in_ip_link()
      local left = {}
      for line in support.must({ "ip", "-o", "link" }):gmatch("[^\n]+") do
        local dev = line:match("^%d+:%s*([^:@]+)")
        if dev and (dev:match("^mbv") or dev:match("^mbt") or dev:match("^mb%-") or
            dev == "moonbase0" or line:find("alias moonbase:", 1, true)) then
          left[#left + 1] = dev
        end
      end
      return left
    end
    local function info(name)
      return json.decode(h:ok({ "info", name, "--format", "json" }))[name]
    end
    local function pings(from, to)
      local code, out, err = h:run({ "exec", from, "--", "sudo", "ping", "-c", "1", "-W", "5",
        to })
      assert.are.equal(0, code, from .. " -> " .. to .. ": " .. err .. out)
    end
    use("libvirt")
    h:ok({ "set", "local.libvirt.networking=libvirt" })

    -- `network create` defines a libvirt network, `network delete` removes it
    local out = h:ok({ "network", "create", "lvback", "--subnet", "10.213.7.0/24" })
    assert.matches("libvirt network mb%-lvback%-%x+", out)
    local back = out:match("(mb%-lvback%-%x+)")
    assert.matches("<ip address='10.213.7.1' prefix='24'>", virsh("net-dumpxml", back), 1, true)
    h:ok({ "network", "delete", "lvback" })
    assert.is_nil(virsh("net-list", "--all", "--name"):find(back, 1, true))

    timed("launch on the libvirt network", function()
      h:ok({ "launch", "--name", A })
      h:ok({ "launch", "--name", B })
    end)
    local ia, ib = info(A), info(B)
    local ipa, ipb = ia.ipv4[1], ib.ipv4[1]
    assert.is_truthy(ipa and ipb, "no addresses")
    assert.are_not.equal(ipa, ipb)
    assert.are.equal(ipa .. ":22", ia.ssh) -- SSH to the guest's address on the bridge
    -- the network is libvirt's, defined by moonbase: a static DHCP host per MAC, and the
    -- domains' NICs are on it, with no tap of the engine's
    local net = ours_in_libvirt()
    assert.are.equal(1, #net, "libvirt networks: " .. table.concat(net, " "))
    assert.matches("^mb%-moonbase0%-%x+$", net[1])
    local xml = virsh("net-dumpxml", net[1])
    for _, n in ipairs({ { A, ipa }, { B, ipb } }) do
      local mac = h:record(n[1]).mac
      assert.matches(string.format("<host mac='%s' name='%s' ip='%s'/>", mac, n[1], n[2]), xml,
        1, true)
      assert.matches("<hostname>" .. n[1] .. ".moonbase</hostname>", xml, 1, true)
      local dom = fs.read(h:instance_dir(n[1]) .. "/libvirt.domain"):match("\n([^\n]+)")
      local dxml = virsh("dumpxml", dom)
      assert.matches("<interface type='network'>", dxml, 1, true)
      assert.matches("network='" .. net[1] .. "'", dxml, 1, true)
    end
    local links = table.concat(ours_in_ip_link(), " ")
    assert.is_nil(links:find("mbt", 1, true), "engine taps: " .. links)
    assert.is_nil(links:find("moonbase0", 1, true), "the engine's bridge is up: " .. links)
    -- `moonbase networks` shows it as moonbase's
    local row
    for _, r in ipairs(json.decode(h:ok({ "networks", "--format", "json" }))) do
      if r.name == "moonbase0" then row = r end
    end
    assert.is_truthy(row, "moonbase0 is not listed")
    assert.are.equal("moonbase", row.type)
    assert.are.equal("up", row.state)
    assert.matches("libvirt network " .. net[1], row.description, 1, true)

    -- each reaches the other by address and by name
    pings(A, ipb)
    pings(B, ipa)
    pings(A, B .. ".moonbase")
    pings(B, A .. ".moonbase")

    -- the address stays through stop/start
    timed("stop/start on the libvirt network", function()
      h:ok({ "stop", A })
      h:ok({ "start", A })
    end)
    assert.are.equal(ipa, info(A).ipv4[1])
    pings(B, A .. ".moonbase")
    pings(A, ipb)

    -- prune refuses while instances use the network; after delete + prune nothing is left
    local code, pout, perr = h:run({ "networks", "--prune" })
    assert.are_not.equal(0, code)
    assert.matches("stop them first", perr .. pout, 1, true)
    h:ok({ "delete", "--purge", A })
    h:ok({ "delete", "--purge", B })
    assert.is_nil(virsh("net-dumpxml", net[1]):find("name='" .. A .. "'", 1, true))
    out = h:ok({ "networks", "--prune" })
    assert.matches("Removed libvirt network " .. net[1], out, 1, true)
    assert.are.same({}, ours_in_libvirt())
    assert.are.same({}, ours_in_ip_link())
    h:ok({ "set", "local.libvirt.networking=engine" })
  end)

  it("runs where libvirtd runs QEMU as root, with the files where they are", function()
    need()
    -- the configuration many guides give (and these tests once used):
    -- user = "root", no dynamic ownership, no security driver
    local lv2 = support.tmpdir("libvirtd-root")
    local code, out, err = support.run({ LIBVIRTD, "start", "--root-qemu", lv2 })
    assert.are.equal(0, code, err .. out)
    local ok, e = pcall(function()
      local ruri = out:match("(qemu:///system%?socket=%S+)")
      local h2 = support.home(host, { tag = "libvirt-root" })
      h2:ok({ "set", "local.libvirt.uri=" .. ruri, "local.driver=libvirt" })
      timed("launch (QEMU as root)", function() h2:ok({ "launch", "--name", "lvroot" }) end)
      local d = h2:instance_dir("lvroot")
      assert.is_false(fs.exists(d .. "/libvirt.lent") and true or false)
      local q = runs_as(h2, "lvroot", "root", { "uname", "-n" }, "lvroot\n")
      assert.matches(d .. "/disk.qcow2", q.cmd, 1, true)
    end)
    support.run({ LIBVIRTD, "stop", lv2 })
    assert(ok, e)
  end)

  it("runs under qemu:///session for a user without root: launch and exec", function()
    need()
    if not support.have("setpriv") or util.geteuid() ~= 0 then
      pending("needs root to run moonbase as another user (setpriv)")
    end
    -- nobody: no group libvirt, no root; the session libvirtd is started by
    -- libvirt's client on first use and runs QEMU as nobody
    local hu = support.home(host, { tag = "libvirt-session", user = "nobody" })
    hu:ok({ "set", "local.libvirt.uri=qemu:///session", "local.driver=libvirt" })
    local code, out, err = timed("launch (session)", function()
      return hu:run({ "launch", "--name", "lvs" })
    end)
    assert.are.equal(0, code, err .. out)
    -- user networking, as moonbase has without root: the forward on 127.0.0.1
    assert.matches("private network moonbase0 is not available", err, 1, true)
    local i = json.decode(hu:ok({ "info", "lvs", "--format", "json" })).lvs
    assert.are.equal("libvirt", i.driver)
    assert.matches("^127%.0%.0%.1:%d+$", i.ssh)
    local d = hu:instance_dir("lvs")
    assert.matches("^qemu:///session\n", fs.read(d .. "/libvirt.domain") or "")
    assert.is_false(fs.exists(d .. "/libvirt.lent") and true or false)
    runs_as(hu, "lvs", "nobody", { "id", "-un" }, "moonbase\n")
  end)

  -- instances on a remote libvirt host (qemu+ssh://): libvirt_remote_spec.lua
end)
