-- The pure logic of moonbase.network: subnet choice against a host's routes
-- and addresses, subnet checks, address allocation and its stability,
-- exhaustion, static addresses, MAC/tap/bridge naming. No host is touched.
local network = require("moonbase._core.network")
local ipv4 = require("moonbase._core.ipv4")

local function rec(subnet, name)
  local c = assert(ipv4.parse_cidr(subnet))
  return { name = name or "net", bridge = "mb-" .. (name or "net"), subnet = c.text,
    gateway = ipv4.format(c.network + 1), prefix = c.prefix, leases = {} }
end

local function message(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok, "expected an error")
  return type(e) == "table" and e.message or tostring(e), type(e) == "table" and e.code
end

-- a host like a laptop on a LAN with docker and a VPN
local facts = {
  routes = {
    { dst = "0.0.0.0", prefix = 0, gateway = "192.168.1.1", dev = "wlan0" },
    { dst = "192.168.1.0", prefix = 24, dev = "wlan0" },
    { dst = "172.17.0.0", prefix = 16, dev = "docker0" },
    { dst = "10.8.0.0", prefix = 16, dev = "tun0" },
  },
  addresses = {
    { dev = "lo", address = "127.0.0.1", prefix = 8 },
    { dev = "wlan0", address = "192.168.1.23", prefix = 24 },
    { dev = "docker0", address = "172.17.0.1", prefix = 16 },
  },
}

describe("network subnets", function()
  it("lists what the host occupies, without the default route or lo", function()
    local occ = network.occupied(facts)
    local texts = {}
    for _, o in ipairs(occ) do texts[#texts + 1] = o.cidr.text end
    table.sort(texts)
    assert.same({ "10.8.0.0/16", "172.17.0.0/16", "172.17.0.0/16", "192.168.1.0/24",
      "192.168.1.0/24" }, texts)
    assert.equal(3, #network.occupied(facts, { docker0 = true }))
  end)

  it("picks a /24 in 10/8 that collides with nothing, the same one every time", function()
    local s = network.pick_subnet(network.occupied(facts), "moonbase0")
    local c = assert(ipv4.parse_cidr(s))
    assert.equal(24, c.prefix)
    assert.truthy(s:match("^10%.%d+%.%d+%.0/24$"), s)
    for _, o in ipairs(network.occupied(facts)) do assert.is_false(ipv4.overlaps(c, o.cidr)) end
    assert.equal(s, network.pick_subnet(network.occupied(facts), "moonbase0"))
    assert.are_not.equal(s, network.pick_subnet(network.occupied(facts), "backend"))
  end)

  it("steps around a route that covers its first choice", function()
    local first = network.pick_subnet({}, "moonbase0")
    local occ = { { cidr = ipv4.parse_cidr(first), what = "x" } }
    local second = network.pick_subnet(occ, "moonbase0")
    assert.are_not.equal(first, second)
    -- a /12 around the first choice too
    occ[1].cidr = ipv4.cidr(ipv4.parse_cidr(first).network, 12)
    local third = network.pick_subnet(occ, "moonbase0")
    assert.is_false(ipv4.overlaps(ipv4.parse_cidr(third), occ[1].cidr))
  end)

  it("falls back to 172.16/12, then 192.168/16, when 10/8 is taken", function()
    local occ = { { cidr = ipv4.parse_cidr("10.0.0.0/8"), what = "vpn" } }
    assert.truthy(network.pick_subnet(occ):match("^172%.1[6-9]%."))
    occ[2] = { cidr = ipv4.parse_cidr("172.16.0.0/12"), what = "x" }
    assert.truthy(network.pick_subnet(occ):match("^192%.168%."))
    occ[3] = { cidr = ipv4.parse_cidr("192.168.0.0/16"), what = "y" }
    assert.is_nil(network.pick_subnet(occ))
  end)

  it("checks a requested subnet: form, size, private, no overlap", function()
    local o = { facts = facts, records = { rec("10.77.0.0/24", "backend") } }
    assert.equal("10.99.0.0/24", network.check_subnet("10.99.0.0/24", o).text)
    local cases = {
      { "10.99.0.0", "is not a subnet in CIDR form" },
      { "10.99.0.5/24", "has host bits set (did you mean 10.99.0.0/24?)" },
      { "10.99.0.0/30", "the prefix length must be 8 to 29" },
      { "8.8.8.0/24", "is not a private range" },
      { "10.8.3.0/24", "overlaps the host's route to 10.8.0.0/16 on tun0 (try: 10." },
      { "192.168.1.0/25", "overlaps the host's route to 192.168.1.0/24 on wlan0" },
      { "10.77.0.0/16", "overlaps moonbase network backend (10.77.0.0/24)" },
    }
    for _, c in ipairs(cases) do
      local ok, msg = network.check_subnet(c[1], o)
      assert.is_nil(ok, c[1])
      assert.truthy(msg:find(c[2], 1, true), msg)
    end
    -- a network may keep its own subnet (its bridge's route is not a collision)
    local own = { facts = { routes = { { dst = "10.77.0.0", prefix = 24, dev = "mb-backend" } },
      addresses = {} }, records = { rec("10.77.0.0/24", "backend") }, network = "backend" }
    assert.truthy(network.check_subnet("10.77.0.0/24", own))
  end)
end)

describe("network addresses (IPAM)", function()
  it("allocates the lowest free address after the gateway, once per instance", function()
    local r = rec("10.77.0.0/24")
    local a = network.reserve(r, "web", {}, { r })
    assert.equal("10.77.0.2", a.ipv4)
    assert.equal("10.77.0.3", network.reserve(r, "db", {}, { r }).ipv4)
    -- the same instance gets the same lease back, whatever happened in between
    local again, new = network.reserve(r, "web", {}, { r })
    assert.is_false(new)
    assert.equal(a, again)
    assert.equal("10.77.0.2", again.ipv4)
    -- a freed address is reused by the next new instance
    r.leases.web = nil
    assert.equal("10.77.0.2", network.reserve(r, "cache", {}, { r }).ipv4)
  end)

  it("gives each instance a distinct, stable MAC and tap", function()
    local r = rec("10.77.0.0/24")
    local a = network.reserve(r, "web", {}, { r })
    local b = network.reserve(r, "db", {}, { r })
    assert.truthy(a.mac:match("^52:54:00:%x%x:%x%x:%x%x$"))
    assert.are_not.equal(a.mac, b.mac)
    assert.are_not.equal(a.tap, b.tap)
    assert.truthy(#a.tap <= 15 and a.tap:match("^mbt%x+$"), a.tap)
    assert.equal(a.mac, network.mac_for("web", "net"))
    assert.equal(a.tap, network.tap_name("web", "net"))
    assert.are_not.equal(a.tap, network.tap_name("web", "net", { [a.tap] = true }))
  end)

  it("runs out with a clear message and changes nothing", function()
    local r = rec("10.77.0.0/29") -- .1 gateway, .2-.6 for instances
    for i = 1, 5 do network.reserve(r, "i" .. i, {}, { r }) end
    local msg = message(function() network.reserve(r, "i6", {}, { r }) end)
    assert.equal("network: no free address left on net (10.77.0.0/29, 5 instances): delete " ..
      "some with --purge, or use a network with a larger subnet", msg)
    assert.is_nil(r.leases.i6)
  end)

  it("validates a static address against the subnet and the leases", function()
    local r = rec("10.77.0.0/24", "backend")
    assert.equal("10.77.0.10", network.reserve(r, "web", { ip = "10.77.0.10" }, { r }).ipv4)
    assert.is_true(r.leases.web.static)
    local cases = {
      { "10.77.1.10", "10.77.1.10 is not in backend's subnet 10.77.0.0/24 (use an address " ..
        "from 10.77.0.2 to 10.77.0.254)" },
      { "10.77.0.10", "10.77.0.10 on backend is already used by web (pick another address, " ..
        "or leave out ip= to get a free one)" },
      { "10.77.0.1", "10.77.0.1 is backend's gateway" },
      { "10.77.0.255", "is the network or broadcast address" },
      { "10.77.0.0", "is the network or broadcast address" },
      { "10.77.0.300", "is not an IPv4 address" },
    }
    for _, c in ipairs(cases) do
      local msg = message(function() network.reserve(r, "db", { ip = c[1] }, { r }) end)
      assert.truthy(msg:find(c[2], 1, true), msg)
      assert.is_nil(r.leases.db)
    end
    -- allocation skips a static address
    network.reserve(r, "a", {}, { r })
    for i = 3, 10 do network.reserve(r, "n" .. i, {}, { r }) end
    for n, l in pairs(r.leases) do
      if n ~= "web" then assert.are_not.equal("10.77.0.10", l.ipv4) end
    end
  end)

  it("refuses to move an instance's address, and a MAC another instance has", function()
    local r = rec("10.77.0.0/24")
    network.reserve(r, "web", {}, { r })
    local msg = message(function() network.reserve(r, "web", { ip = "10.77.0.50" }, { r }) end)
    assert.truthy(msg:find("web already has 10.77.0.2 on net", 1, true), msg)
    local mac = r.leases.web.mac
    msg = message(function() network.reserve(r, "db", { mac = mac }, { r }) end)
    assert.truthy(msg:find("MAC address " .. mac .. " is already used", 1, true), msg)
    msg = message(function() network.reserve(r, "db", { mac = "zz:54:00:00:00:01" }, { r }) end)
    assert.truthy(msg:find('invalid MAC address "zz:54:00:00:00:01"', 1, true), msg)
    msg = message(function() network.reserve(r, "db", { mac = "53:54:00:00:00:01" }, { r }) end)
    assert.truthy(msg:find("is a multicast address", 1, true), msg)
    assert.equal("52:54:00:aa:bb:cc",
      network.reserve(r, "db", { mac = "52:54:00:AA:BB:CC" }, { r }).mac)
  end)

  it("names bridges within the kernel's 15 characters", function()
    assert.equal("moonbase0", network.bridge_name("moonbase0"))
    assert.equal("mb-backend", network.bridge_name("backend"))
    local long = network.bridge_name("a-very-long-network-name")
    assert.truthy(#long <= 15, long)
    assert.truthy(long:match("^mb%-a%-very%-%x%x%x%x$"), long)
    assert.are_not.equal("mb-backend", network.bridge_name("backend", { ["mb-backend"] = true }))
  end)

  it("validates network names", function()
    assert.is_true(network.valid_name("backend-2"))
    for _, bad in ipairs({ "Backend", "2net", "back_end", "net-", "", string.rep("a", 33) }) do
      local ok, msg = network.valid_name(bad)
      assert.is_nil(ok, bad)
      assert.truthy(msg:find("invalid network name", 1, true))
    end
  end)
end)
