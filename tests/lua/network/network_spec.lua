-- moonbase.network's API (what launch/start/stop/delete call) on a fake host
-- (moonbase._core.netfake): records, leases, the host side it asks for, and
-- the errors. No privileges; the real host is never touched.
local network = require("moonbase._core.network")
local netfake = require("moonbase._core.netfake")
local nethost = require("moonbase._core.nethost")
local paths = require("moonbase._core.paths")
local ipv4 = require("moonbase._core.ipv4")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local helpers = require("helpers")

local function err_of(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_table(e, tostring(e))
  return e.message, e.code
end

local function link(host, name)
  for _, l in ipairs(host.state.links) do
    if l.name == name then return l end
  end
end

local function count(log, prefix)
  local n = 0
  for _, op in ipairs(log) do
    if op:sub(1, #prefix) == prefix then n = n + 1 end
  end
  return n
end

describe("network API (fake host)", function()
  local tmp, saved, host
  before_each(function()
    tmp = helpers.tmpdir("net")
    saved = { paths.data, paths.config }
    paths.data, paths.config = tmp .. "/data", tmp .. "/config"
    host = netfake.new({
      links = {
        { name = "lo", index = 1, loopback = true, up = true },
        { name = "eth0", index = 2, mac = "52:54:00:99:99:99", up = true },
        { name = "br-lan", index = 3, kind = "bridge", mac = "02:00:00:00:00:01", up = true },
        { name = "veth1", index = 4, kind = "veth", mac = "02:00:00:00:00:02", up = true },
      },
      addresses = { { dev = "lo", address = "127.0.0.1", prefix = 8 },
        { dev = "eth0", address = "192.168.1.20", prefix = 24 } },
      routes = { { dst = "0.0.0.0", prefix = 0, gateway = "192.168.1.1", dev = "eth0" },
        { dst = "10.128.0.0", prefix = 9, dev = "eth0" } },
    })
    network._host = host
  end)
  after_each(function()
    network._host = nil
    paths.data, paths.config = saved[1], saved[2]
    fs.rmtree(tmp)
  end)

  it("says when it is not available, and why", function()
    host.state.privileged = false
    local ok, why = network.available()
    assert.is_false(ok)
    assert.equal("creating bridges and taps needs root or CAP_NET_ADMIN (run moonbase as " ..
      "root, e.g. with sudo)", why)
    local msg, code = err_of(function() network.attach("web") end)
    assert.equal("unsupported", code)
    assert.truthy(msg:find("the private network is not available: creating bridges", 1, true))
    assert.is_nil(fs.exists(paths.data .. "/networks/moonbase0.json"))
    assert.truthy(network.fallback_notice(why):find("instances cannot reach each other", 1, true))
  end)

  it("creates moonbase0 on first attach with a subnet clear of the host's routes", function()
    local a = network.attach("web")
    local rec = json.decode((fs.read(paths.data .. "/networks/moonbase0.json")))
    local c = assert(ipv4.parse_cidr(rec.subnet))
    assert.is_false(ipv4.overlaps(c, ipv4.parse_cidr("10.128.0.0/9")))
    assert.is_false(ipv4.overlaps(c, ipv4.parse_cidr("192.168.1.0/24")))
    assert.same({ network = "moonbase0", bridge = "moonbase0", tap = rec.leases.web.tap,
      mac = rec.leases.web.mac, ipv4 = ipv4.format(c.network + 2),
      gateway = ipv4.format(c.network + 1), prefix = 24, dns = ipv4.format(c.network + 1),
      domain = "moonbase", hostname = "web.moonbase" }, a)
    -- the host side
    local br = link(host, "moonbase0")
    assert.equal("bridge", br.kind)
    assert.equal("moonbase:moonbase0", br.alias)
    assert.is_true(br.up)
    local tap = link(host, a.tap)
    assert.equal("tun", tap.kind)
    assert.equal("moonbase:web@moonbase0", tap.alias)
    assert.equal("moonbase0", tap.master)
    assert.is_true(tap.up)
    assert.same({ { dev = "moonbase0", address = a.gateway, prefix = 24 } },
      (function()
        local t = {}
        for _, x in ipairs(host.state.addresses) do
          if x.dev == "moonbase0" then t[#t + 1] = x end
        end
        return t
      end)())
    assert.is_true(host.state.ip_forward)
    assert.same({ { bridge = "moonbase0", subnet = rec.subnet } }, host.state.nat)
    local d = host.state.dnsmasq[network.runtime_dir("moonbase0")]
    assert.truthy(d.pid)
    assert.equal("moonbase", d.domain)
    -- the instance, then the host's names at the gateway (DNS only)
    local want = { { name = "web", mac = a.mac, ipv4 = a.ipv4 } }
    for _, n in ipairs(nethost.host_names()) do
      want[#want + 1] = { name = n, ipv4 = a.gateway }
    end
    assert.same(want, d.hosts)
    assert.equal("host", want[2].name)
  end)

  it("answers the same for the same instance, and keeps the address across detach", function()
    local a = network.attach("web")
    local b = network.attach("db")
    assert.are_not.equal(a.ipv4, b.ipv4)
    assert.are_not.equal(a.mac, b.mac)
    assert.same(a, network.attach("web"))
    assert.equal(2, count(host.state.log, "tun_create"))
    assert.equal(1, count(host.state.log, "bridge_create"))
    -- stop: the tap goes, the lease stays
    assert.same({ a.tap }, network.detach("web"))
    assert.is_nil(link(host, a.tap))
    assert.same({}, network.detach("web"))
    assert.equal(a.ipv4, network.address("web"))
    -- start again: same everything, a new tap
    assert.same(a, network.attach("web"))
    assert.truthy(link(host, a.tap))
    -- a third instance gets yet another address
    local c = network.attach("cache")
    assert.are_not.equal(c.ipv4, a.ipv4)
    assert.are_not.equal(c.ipv4, b.ipv4)
  end)

  it("keeps a given MAC and validates it", function()
    local a = network.attach("web", { mac = "52:54:00:12:34:56" })
    assert.equal("52:54:00:12:34:56", a.mac)
    local msg = err_of(function() network.attach("db", { mac = "52:54:00:12:34:56" }) end)
    assert.truthy(msg:find("already used by another instance", 1, true), msg)
    msg = err_of(function() network.attach("db", { mac = "nope" }) end)
    assert.truthy(msg:find('invalid MAC address "nope"', 1, true), msg)
  end)

  it("releases an address on purge: tap and DNS name gone, the address reusable", function()
    local a = network.attach("web")
    network.attach("db")
    assert.same({ { network = "moonbase0", ipv4 = a.ipv4 } }, network.release("web"))
    assert.is_nil(link(host, a.tap))
    assert.same({}, network.attachments("web"))
    local d = host.state.dnsmasq[network.runtime_dir("moonbase0")]
    assert.equal(1 + #nethost.host_names(), #d.hosts)
    assert.equal("db", d.hosts[1].name)
    assert.equal(a.ipv4, network.attach("new").ipv4)
    assert.same({}, network.release("nobody"))
  end)

  it("uses local.network.subnet, and refuses to change it under instances", function()
    local settings = require("moonbase.settings")
    settings.set("local.network.subnet", "10.100.7.0/24")
    local a = network.attach("web")
    assert.equal("10.100.7.2", a.ipv4)
    assert.equal("10.100.7.1", a.gateway)
    local msg, code = err_of(function() settings.set("local.network.subnet", "10.101.0.0/24") end)
    assert.equal("usage", code)
    assert.equal("local.network.subnet: moonbase0 still uses 10.100.7.0/24 for web (delete " ..
      "them with --purge first, or keep the subnet)", msg)
    assert.equal("10.100.7.0/24", settings.get("local.network.subnet"))
    msg = err_of(function() settings.set("local.network.subnet", "10.130.0.0/24") end)
    assert.truthy(msg:find("overlaps the host's route to 10.128.0.0/9 on eth0", 1, true), msg)
    -- with nothing on it, moonbase0 moves to the new subnet on next use
    network.release("web")
    settings.set("local.network.subnet", "10.101.0.0/24")
    assert.equal("10.101.0.2", network.attach("db").ipv4)
    assert.equal("10.101.0.1", host.state.addresses[#host.state.addresses].address)
  end)

  it("creates named networks, attaches with a static address, deletes when unused", function()
    local rec, up = network.create("backend", { subnet = "10.77.0.0/24" })
    assert.is_true(up)
    assert.equal("mb-backend", rec.bridge)
    assert.equal("moonbase:backend", link(host, "mb-backend").alias)
    local a = network.attach("api", { network = "backend", ip = "10.77.0.10" })
    assert.equal("10.77.0.10", a.ipv4)
    network.attach("api") -- and on moonbase0
    local att = network.attachments("api")
    assert.equal(2, #att)
    assert.equal("moonbase0", att[1].network)
    assert.equal("backend", att[2].network)
    local msg = err_of(function()
      network.attach("web", { network = "backend", ip = "10.77.0.10" })
    end)
    assert.truthy(msg:find("10.77.0.10 on backend is already used by api", 1, true), msg)
    msg = err_of(function() network.attach("web", { network = "backend", ip = "10.78.0.10" }) end)
    assert.truthy(msg:find("is not in backend's subnet 10.77.0.0/24", 1, true), msg)
    local code
    msg, code = err_of(function() network.attach("web", { network = "nope" }) end)
    assert.equal("notfound", code)
    assert.truthy(msg:find('there is no network "nope"', 1, true), msg)
    msg, code = err_of(function() network.create("backend", { subnet = "10.79.0.0/24" }) end)
    assert.equal("exists", code)
    msg, code = err_of(function() network.create("other", { subnet = "10.77.0.128/25" }) end)
    assert.equal("usage", code)
    assert.truthy(msg:find("overlaps moonbase network backend", 1, true), msg)
    msg, code = err_of(function() network.delete("backend") end)
    assert.equal("state", code)
    assert.equal("network delete: backend is used by api (delete it with --purge first)", msg)
    network.release("api")
    network.delete("backend")
    assert.is_nil(link(host, "mb-backend"))
    assert.is_nil(network.get("backend"))
    assert.same({ { bridge = "moonbase0", subnet = network.get("moonbase0").subnet } },
      host.state.nat)
  end)

  it("records a network without bringing it up when unprivileged", function()
    host.state.privileged = false
    local rec, up, why = network.create("backend", { subnet = "10.77.0.0/24" })
    assert.is_false(up)
    assert.truthy(why:find("CAP_NET_ADMIN", 1, true))
    assert.equal("10.77.0.0/24", rec.subnet)
    assert.is_nil(link(host, "mb-backend"))
    network.delete("backend")
    assert.is_nil(network.get("backend"))
  end)

  it("prunes every bridge, tap, dnsmasq and the NAT table, and keeps the leases", function()
    local a = network.attach("web")
    network.create("backend", { subnet = "10.77.0.0/24" })
    network.attach("web", { network = "backend" })
    link(host, a.tap).running = true
    local msg, code = err_of(function() network.prune() end)
    assert.equal("state", code)
    assert.truthy(msg:find("instances are using moonbase's network (web@moonbase0)", 1, true),
      msg)
    link(host, a.tap).running = false
    local r = network.prune()
    assert.equal(4, #r.links)
    assert.equal(2, #r.dnsmasq)
    assert.is_true(r.nat)
    for _, l in ipairs(host.state.links) do
      assert.is_nil((l.alias or ""):match("^moonbase:"), l.name)
    end
    assert.is_nil(host.state.nat)
    assert.same({}, host.dnsmasq_all())
    assert.truthy(link(host, "eth0") and link(host, "br-lan"))
    -- nothing left: a second prune says so
    r = network.prune()
    assert.same({ links = {}, dnsmasq = {}, nat = false, libvirt = {}, libvirt_failed = {} }, r)
    -- the next attach brings it all back with the same address
    assert.same(a, network.attach("web"))
  end)

  it("lists moonbase networks, then host bridges and ethernet devices", function()
    network.attach("web")
    network.create("backend", { subnet = "10.77.0.0/24" })
    local rows = require("moonbase.network").list()
    local names = {}
    for _, r in ipairs(rows) do names[#names + 1] = r.name .. ":" .. r.type end
    assert.same({ "moonbase0:moonbase", "backend:moonbase", "br-lan:bridge", "eth0:ethernet" },
      names)
    assert.equal(1, rows[1].instances)
    assert.equal("up", rows[1].state)
    assert.equal("192.168.1.20/24", rows[4].subnet)
  end)

  it("writes hosts lines: primary short names, others qualified by network", function()
    local a = network.attach("web")
    network.create("backend", { subnet = "10.77.0.0/24" })
    network.attach("web", { network = "backend", ip = "10.77.0.5" })
    local b = network.attach("db")
    assert.same({
      { ipv4 = b.ipv4, names = { "db.moonbase", "db" }, instance = "db", network = "moonbase0" },
      { ipv4 = a.ipv4, names = { "web.moonbase", "web" }, instance = "web",
        network = "moonbase0" },
      { ipv4 = "10.77.0.5", names = { "web.backend.moonbase" }, instance = "web",
        network = "backend" },
    }, require("moonbase.network").hosts())
  end)

  it("parses --network values", function()
    assert.same({ network = "backend", mode = "auto" }, network.parse_request("backend"))
    assert.same({ network = "backend", ip = "10.77.0.10", mac = "52:54:00:aa:bb:cc",
      mode = "auto" },
      network.parse_request("name=backend,ip=10.77.0.10,mac=52:54:00:AA:BB:CC,mode=auto"))
    assert.same({ network = "backend", mac = "52:54:00:aa:bb:cc", mode = "manual" },
      network.parse_request("name=backend,mac=52:54:00:AA:BB:CC,mode=manual"))
    local cases = {
      { "", "--network needs a value" },
      { "name=backend,colour=red", 'unknown key "colour"' },
      { "ip=10.0.0.1", "name=NAME is missing" },
      { "name=backend,mode=bridge", "mode must be auto or manual" },
      { "name=Backend", 'invalid network name "Backend"' },
      { "name=backend,mac=xx", 'invalid MAC address "xx"' },
      { "name=backend,ip", '"ip" is not KEY=VALUE' },
      { "name=backend,ip=10.77.0.10,mode=manual", "mode=manual leaves the NIC to the guest" },
      { "name=moonbase0,mode=manual", "moonbase0 is the instance's own network" },
    }
    for _, c in ipairs(cases) do
      local msg, code = err_of(function() network.parse_request(c[1]) end)
      assert.equal("usage", code)
      assert.truthy(msg:find(c[2], 1, true), msg)
    end
  end)

  it("checks launch's network requests without changing anything", function()
    network.create("backend", { subnet = "10.77.0.0/24" })
    network.attach("api", { network = "backend", ip = "10.77.0.10" })
    local before = helpers.snapshot(paths.data)
    network.check_requests("web", { { network = "moonbase0" },
      { network = "backend", ip = "10.77.0.11" } })
    local cases = {
      { { { network = "nope" } }, 'launch: there is no network "nope"', "notfound" },
      { { { network = "backend", ip = "10.77.0.10" } }, "already used by api", "usage" },
      { { { network = "backend", ip = "10.78.0.10" } }, "is not in backend's subnet", "usage" },
      { { { network = "backend" }, { network = "backend" } }, "network backend is given twice",
        "usage" },
      { { { network = "backend", mac = network.get("backend").leases.api.mac } },
        "is already used by another instance", "usage" },
    }
    for _, c in ipairs(cases) do
      local msg, code = err_of(function() network.check_requests("web", c[1]) end)
      assert.equal(c[3], code, msg)
      assert.truthy(msg:find(c[2], 1, true), msg)
    end
    assert.same(before, helpers.snapshot(paths.data))
  end)

  it("refuses a bridge name taken by an interface that is not moonbase's", function()
    host.state.links[#host.state.links + 1] = { name = "moonbase0", index = 9, kind = "bridge" }
    local msg = err_of(function() network.attach("web") end)
    assert.truthy(msg:find("the interface moonbase0 exists but is not moonbase's", 1, true), msg)
  end)
end)

describe("the host's names on its networks", function()
  it("are host and the host's own name, lower case, first label only", function()
    local names = require("moonbase._core.nethost").host_names()
    assert.equal("host", names[1])
    local own = fs.read("/proc/sys/kernel/hostname"):match("^([%w-]+)")
    if own and own ~= "host" then assert.equal(own:lower(), names[2]) end
    assert.truthy(#names <= 2)
  end)

  it("yield to an instance of that name", function()
    local nethost = require("moonbase._core.nethost")
    local hosts = nethost.dns_hosts_of({ gateway = "10.77.0.1",
      leases = { host = { mac = "52:54:00:00:00:01", ipv4 = "10.77.0.2" } } })
    local at = {}
    for _, h in ipairs(hosts) do at[#at + 1] = h.name .. "=" .. h.ipv4 end
    assert.equal("host=10.77.0.2", at[1])
    for i = 2, #at do assert.is_nil(at[i]:find("^host=")) end
  end)
end)
