-- `moonbase networks`, `network create|delete` and `hosts` through the real
-- binary, with the host faked (MOONBASE_NET_FAKE: a JSON "host" in the temp
-- home), so nothing here touches the machine's network even as root. Bad
-- input: a one-line error, exit status 1 (2 for what does not exist), and not
-- a byte changed in the home (the fake host included).
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")

local function home(host)
  local h = helpers.home()
  h.env.MOONBASE_NET_FAKE = h.dir .. "/fakehost.json"
  assert(fs.write(h.env.MOONBASE_NET_FAKE, json.encode(host or {
    privileged = true,
    links = { { name = "lo", index = 1, loopback = true, up = true },
      { name = "eth0", index = 2, mac = "52:54:00:99:99:99", up = true } },
    addresses = { { dev = "eth0", address = "192.168.1.20", prefix = 24 } },
    routes = { { dst = "0.0.0.0", prefix = 0, gateway = "192.168.1.1", dev = "eth0" } },
  })))
  return h
end

local function fakehost(h)
  return json.decode((fs.read(h.env.MOONBASE_NET_FAKE)))
end

describe("network CLI", function()
  local h
  before_each(function() h = home() end)
  after_each(function() h:cleanup() end)

  it("creates, lists and deletes a named network", function()
    assert.equal("Name  Type      Subnet           Bridge  State  Instances  Description\n" ..
      "eth0  ethernet  192.168.1.20/24  --      up     --         host interface\n",
      h:ok({ "networks" }))
    assert.equal('Created network "backend" (10.77.0.0/24, bridge mb-backend)\n',
      h:ok({ "network", "create", "backend", "--subnet", "10.77.0.0/24" }))
    local rows = json.decode(h:ok({ "networks", "--format", "json" }))
    assert.same({ name = "backend", type = "moonbase", subnet = "10.77.0.0/24",
      bridge = "mb-backend", state = "up", instances = 0,
      description = "moonbase network" }, rows[1])
    local host = fakehost(h)
    assert.equal("mb-backend", host.links[3].name)
    assert.equal("moonbase:backend", host.links[3].alias)
    assert.equal('Deleted network "backend" (10.77.0.0/24)\n',
      h:ok({ "network", "delete", "backend" }))
    assert.equal(2, #fakehost(h).links)
  end)

  it("picks a subnet when none is given, clear of the host's", function()
    local out = h:ok({ "network", "create", "moonbase0" })
    local subnet = out:match("^Created network \"moonbase0\" %((10%.%d+%.%d+%.0/24), bridge " ..
      "moonbase0%)\n$")
    assert.truthy(subnet, out)
    assert.equal(subnet, json.decode((fs.read(h.dir .. "/data/networks/moonbase0.json"))).subnet)
  end)

  it("records a network but says it is not up when unprivileged", function()
    local u = home({ privileged = false })
    local code, out, err = u:run({ "network", "create", "backend", "--subnet", "10.77.0.0/24" })
    assert.equal(0, code, err)
    assert.equal('Created network "backend" (10.77.0.0/24, bridge mb-backend)\n', out)
    assert.equal("network: backend is recorded but not brought up: creating bridges and taps " ..
      "needs root or CAP_NET_ADMIN (run moonbase as root, e.g. with sudo); it comes up when " ..
      "an instance joins it with the private network available\n", err)
    code, _, err = u:run({ "networks", "--prune" })
    assert.equal(2, code)
    assert.equal("networks --prune: the private network is not available: creating bridges " ..
      "and taps needs root or CAP_NET_ADMIN (run moonbase as root, e.g. with sudo)\n", err)
    u:cleanup()
  end)

  it("prunes what moonbase made and says what it removed", function()
    h:ok({ "network", "create", "backend", "--subnet", "10.77.0.0/24" })
    local out = h:ok({ "networks", "--prune" })
    assert.truthy(out:find("Removed interface mb-backend\n", 1, true), out)
    assert.truthy(out:find("Stopped dnsmasq %(pid %d+%)\n"), out)
    assert.truthy(out:find("Removed nftables table ip moonbase\n", 1, true), out)
    assert.equal("Nothing of moonbase's on this host.\n", h:ok({ "networks", "--prune" }))
    local rows = json.decode(h:ok({ "networks", "--format", "json" }))
    assert.equal("down", rows[1].state) -- the record stays; it comes back on next use
  end)

  it("prints hosts lines from the leases, and refuses to delete a network in use", function()
    h:ok({ "network", "create", "backend", "--subnet", "10.77.0.0/24" })
    local p = h.dir .. "/data/networks/backend.json"
    local rec = json.decode((fs.read(p)))
    rec.leases = {
      web = { ipv4 = "10.77.0.2", mac = "52:54:00:00:00:02", tap = "mbt00000002" },
      db = { ipv4 = "10.77.0.3", mac = "52:54:00:00:00:03", tap = "mbt00000003" },
    }
    assert(fs.write(p, json.encode(rec)))
    assert.equal("10.77.0.3\tdb.moonbase db\n10.77.0.2\tweb.moonbase web\n", h:ok({ "hosts" }))
    assert.equal("10.77.0.2\tweb.moonbase web\n", h:ok({ "hosts", "web" }))
    local before = helpers.snapshot(h.dir)
    local code, out, err = h:run({ "network", "delete", "backend" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("network delete: backend is used by db, web (delete them with --purge " ..
      "first)\n", err)
    assert.same(before, helpers.snapshot(h.dir))
  end)

  it("prints nothing from hosts when no instance has an address", function()
    assert.equal("", h:ok({ "hosts" }))
  end)

  describe("bad input changes nothing", function()
    local cases = {
      { { "network", "create", "other", "--subnet", "10.77.0.128/25" }, 1,
        "network create: 10.77.0.128/25 overlaps moonbase network backend (10.77.0.0/24) " ..
        "(try: 10." },
      { { "network", "create", "other", "--subnet", "192.168.1.0/24" }, 1,
        "network create: 192.168.1.0/24 overlaps the host's route to 192.168.1.0/24 on eth0" },
      { { "network", "create", "other", "--subnet", "10.79.0.5/24" }, 1,
        'network create: "10.79.0.5/24" has host bits set (did you mean 10.79.0.0/24?)' },
      { { "network", "create", "other", "--subnet", "8.8.8.0/24" }, 1,
        "network create: 8.8.8.0/24 is not a private range: use one inside 10.0.0.0/8, " ..
        "172.16.0.0/12 or 192.168.0.0/16" },
      { { "network", "create", "other", "--subnet", "10.79.0.0/30" }, 1,
        "network create: 10.79.0.0/30: the prefix length must be 8 to 29" },
      { { "network", "create", "other", "--subnet", "nope" }, 1,
        'network create: "nope" is not a subnet in CIDR form (e.g. 10.77.0.0/24)' },
      { { "network", "create", "Bad_Name" }, 1, 'network create: invalid network name ' ..
        '"Bad_Name": use lowercase letters, digits and dashes' },
      { { "network", "create", "backend", "--subnet", "10.80.0.0/24" }, 2,
        'network create: network "backend" already exists (10.77.0.0/24)' },
      { { "network", "create" }, 1, "network create needs a NAME: moonbase network create" },
      { { "network" }, 1, "network: missing arguments: moonbase network create NAME" },
      { { "network", "frobnicate", "x" }, 1, 'network: unknown subcommand "frobnicate" ' ..
        "(use create or delete)" },
      { { "network", "delete", "nope" }, 2, 'network delete: there is no network "nope" ' ..
        "(try: moonbase networks)" },
      { { "network", "delete", "backend", "--subnet", "10.0.0.0/24" }, 1,
        "network delete takes no --subnet" },
      { { "network", "create", "a", "b", "c" }, 1, "too many arguments" },
      { { "networks", "--force" }, 1, "--force only goes with --prune" },
      { { "networks", "x" }, 1, "too many arguments (try: moonbase networks --help)" },
      { { "hosts", "ghost" }, 2, 'hosts: instance "ghost" does not exist (try: moonbase list)' },
      { { "set", "local.network.subnet=10.77.0.0/23" }, 1, "invalid value for " ..
        "local.network.subnet: 10.77.0.0/23 overlaps moonbase network backend" },
      { { "set", "local.network.subnet=300.1.1.0/24" }, 1,
        'invalid value for local.network.subnet: "300.1.1.0" is not an IPv4 address' },
    }
    for _, c in ipairs(cases) do
      it(table.concat(c[1], " "), function()
        h:ok({ "network", "create", "backend", "--subnet", "10.77.0.0/24" })
        local before = helpers.snapshot(h.dir)
        local code, out, err = h:run(c[1])
        assert.equal(c[2], code, err)
        assert.equal("", out)
        assert.truthy(err:find(c[3], 1, true), err)
        assert.equal(1, #helpers.lines(err), err)
        assert.same(before, helpers.snapshot(h.dir))
      end)
    end
  end)
end)
