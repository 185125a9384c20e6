-- moonbase.network when libvirt serves the networks (local.driver=libvirt,
-- local.libvirt.networking=libvirt): the libvirt networks moonbase defines,
-- against libvirt's in-process test:///default connection (no libvirtd) and a
-- fake host (moonbase._core.netfake) that must see no bridge or tap of the
-- engine's. Records, leases and addresses are the same as the engine's.
local network = require("moonbase._core.network")
local netfake = require("moonbase._core.netfake")
local libvirtnet = require("moonbase._core.drvnet")
local paths = require("moonbase._core.paths")
local settings = require("moonbase.settings")
local instance = require("moonbase.instance")
local driver = require("moonbase.engine.driver")
local fs = require("moonbase.engine.fs")
local helpers = require("helpers")

local URI = "test:///default"

local function err_of(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.is_table(e, tostring(e))
  return e.message, e.code
end

local function libvirt_net(name)
  local conn = assert(driver.open("libvirt", { uri = URI }))
  for _, n in ipairs(assert(conn:network_list(URI))) do
    if n.name == name then return n end
  end
end

local function engine_links(host)
  local out = {}
  for _, l in ipairs(host.state.links) do
    if (l.alias or ""):match("^moonbase:") then out[#out + 1] = l.name end
  end
  return out
end

describe("network API served by libvirt (test:///default, fake host)", function()
  local tmp, saved, host
  before_each(function()
    tmp = helpers.tmpdir("lvnet")
    saved = { paths.data, paths.config }
    paths.data, paths.config = tmp .. "/data", tmp .. "/config"
    host = netfake.new({
      links = { { name = "lo", index = 1, loopback = true, up = true },
        { name = "eth0", index = 2, mac = "52:54:00:99:99:99", up = true } },
      addresses = { { dev = "eth0", address = "192.168.1.20", prefix = 24 } },
      routes = { { dst = "0.0.0.0", prefix = 0, gateway = "192.168.1.1", dev = "eth0" } },
    })
    network._host = host
    settings.set("local.libvirt.uri", URI)
    settings.set("local.libvirt.networking", "libvirt")
    instance.use_driver("libvirt")
  end)
  after_each(function()
    pcall(network.prune, { force = true })
    instance.use_driver("test")
    network._host = nil
    paths.data, paths.config = saved[1], saved[2]
    fs.rmtree(tmp)
  end)

  it("puts instances on a libvirt network it defines, with the engine's addresses", function()
    assert.equal(URI, network.driver_serves())
    local a = network.attach("web")
    local name = "mb-moonbase0-" .. libvirtnet.home_tag()
    assert.equal(name, a.driver_network)
    assert.is_nil(a.tap)
    assert.matches("^mbv%x%x%x%x%x%x%x%x$", a.bridge)
    assert.equal("web.moonbase", a.hostname)
    local rec = network.get("moonbase0")
    assert.same({ uri = URI, name = name, bridge = a.bridge }, rec.served_by)
    assert.equal(a.ipv4, rec.leases.web.ipv4)
    local n = libvirt_net(name)
    assert.truthy(n and n.active)
    assert.equal("moonbase0", n.network)
    assert.equal(a.bridge, n.bridge)
    -- the engine made nothing on the host
    assert.same({}, engine_links(host))
    -- the same address every time; a second instance gets another one
    assert.same(a, network.attach("web"))
    local b = network.attach("db")
    assert.are_not.equal(a.ipv4, b.ipv4)
    -- listed as moonbase's own, naming the libvirt network
    local row
    for _, r in ipairs(require("moonbase.network").list()) do
      if r.name == "moonbase0" then row = r end
      assert.are_not.equal(name, r.name) -- not a second time as a foreign libvirt network
    end
    assert.equal("moonbase", row.type)
    assert.equal("up", row.state)
    assert.equal(2, row.instances)
    assert.truthy(row.description:find("libvirt network " .. name, 1, true), row.description)
    -- the seed tells the guest the same address, gateway and DNS
    local yaml = network.cloud_init_yaml({ a })
    assert.truthy(yaml:find(a.ipv4 .. "/" .. a.prefix, 1, true))
  end)

  it("creates and deletes named networks in libvirt", function()
    local rec, up = network.create("backend", { subnet = "10.77.0.0/24" })
    assert.is_true(up)
    assert.equal("mb-backend-" .. libvirtnet.home_tag(), rec.served_by.name)
    assert.truthy(libvirt_net(rec.served_by.name).active)
    local a = network.attach("web", { network = "backend", ip = "10.77.0.10" })
    assert.equal("10.77.0.10", a.ipv4)
    local msg, code = err_of(function() network.delete("backend") end)
    assert.equal("state", code)
    assert.truthy(msg:find("used by web", 1, true), msg)
    network.release("web")
    network.delete("backend")
    assert.is_nil(libvirt_net(rec.served_by.name))
    assert.is_nil(network.get("backend"))
  end)

  it("prunes its libvirt networks, keeps the records, and brings them back", function()
    local a = network.attach("web")
    local name = a.driver_network
    local r = network.prune()
    assert.same({ name }, r.libvirt)
    assert.is_nil(libvirt_net(name))
    assert.equal(a.ipv4, network.get("moonbase0").leases.web.ipv4)
    r = network.prune()
    assert.same({}, r.libvirt)
    assert.same(a, network.attach("web"))
    assert.truthy(libvirt_net(name).active)
  end)

  it("changes who serves a network only while nobody holds an address on it", function()
    local a = network.attach("web")
    settings.set("local.libvirt.networking", "engine")
    assert.is_nil(network.driver_serves())
    local before = fs.read(paths.data .. "/networks/moonbase0.json")
    local msg, code = err_of(function() network.attach("web") end)
    assert.equal("state", code)
    assert.truthy(msg:find("is a libvirt network (" .. a.driver_network, 1, true), msg)
    assert.truthy(msg:find("holding the addresses of web", 1, true), msg)
    assert.equal(before, fs.read(paths.data .. "/networks/moonbase0.json"))
    assert.truthy(libvirt_net(a.driver_network).active)
    -- once released, the engine takes it over: the libvirt network goes
    network.release("web")
    local e = network.attach("db")
    assert.equal("moonbase0", e.bridge)
    assert.truthy(e.tap)
    assert.is_nil(libvirt_net(a.driver_network))
    assert.is_nil(network.get("moonbase0").served_by)
    -- and back to libvirt only after that instance is gone
    settings.set("local.libvirt.networking", "libvirt")
    msg, code = err_of(function() network.attach("db") end)
    assert.equal("state", code)
    assert.truthy(msg:find("served by moonbase's engine (bridge moonbase0)", 1, true), msg)
    network.release("db")
    local l = network.attach("web")
    assert.equal(a.driver_network, l.driver_network)
    assert.same({}, engine_links(host))
  end)
end)
