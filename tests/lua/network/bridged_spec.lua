-- launch --bridged, --network mode=manual and UDP forwards: the argument
-- checks through the real binary on the test driver with a fake host
-- (MOONBASE_NET_FAKE), and the network-config a guest gets, from the launch
-- code (moonbase._core.boot) on the same fake host. Nothing here touches the
-- machine's network, even as root.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local yaml = require("moonbase.engine.yaml")

local HOST = {
  privileged = true,
  links = { { name = "lo", index = 1, loopback = true, up = true },
    { name = "eth0", index = 2, mac = "52:54:00:99:99:99", up = true },
    { name = "br-lan", index = 3, kind = "bridge", mac = "02:00:00:00:00:01", up = true } },
  addresses = { { dev = "eth0", address = "192.168.1.20", prefix = 24 } },
  routes = { { dst = "0.0.0.0", prefix = 0, gateway = "192.168.1.1", dev = "eth0" } },
}

local function home()
  local h = helpers.home()
  h.env.MOONBASE_NET_FAKE = h.dir .. "/fakehost.json"
  assert(fs.write(h.env.MOONBASE_NET_FAKE, json.encode(HOST)))
  return h
end

-- Runs, expects exit `code`, one line on stderr containing `text`, and not a
-- byte changed in the home (the fake host included).
local function refused(h, args, code, text)
  local before = helpers.snapshot(h.dir)
  local c, out, err = h:run(args)
  assert.equal(code, c, table.concat(args, " ") .. ": " .. err .. out)
  assert.truthy(err:find(text, 1, true), err)
  assert.equal(1, select(2, err:gsub("\n", "")), err)
  assert.same(before, helpers.snapshot(h.dir))
  return err
end

describe("launch --bridged (test driver, fake host)", function()
  local h
  before_each(function() h = home() end)
  after_each(function() h:cleanup() end)

  it("needs local.bridged-network, and lists the host's bridges", function()
    local err = refused(h, { "launch", "--name", "b1", "--bridged" }, 1,
      "moonbase set local.bridged-network=IFACE")
    assert.truthy(err:find("host bridges: br-lan", 1, true), err)
  end)

  it("refuses an interface that does not exist, naming the setting", function()
    h:ok({ "set", "local.bridged-network=br-gone" })
    local err = refused(h, { "launch", "--name", "b1", "--bridged" }, 2,
      'the interface "br-gone" (local.bridged-network) does not exist')
    assert.truthy(err:find("moonbase set local.bridged-network=IFACE", 1, true), err)
    assert.truthy(err:find("host bridges: br-lan", 1, true), err)
  end)

  it("refuses a plain ethernet interface and says how to make a bridge", function()
    h:ok({ "set", "local.bridged-network=eth0" })
    local err = refused(h, { "launch", "--name", "b1", "--bridged" }, 1,
      "eth0 is a plain ethernet interface, not a Linux bridge")
    assert.truthy(err:find('docs/networking.md, "Bridged"', 1, true), err)
  end)

  it("refuses a setting that is not an interface name", function()
    refused(h, { "set", "local.bridged-network=no such" }, 1, "is not an interface name")
  end)

  it("launches with a bridge that exists", function()
    h:ok({ "set", "local.bridged-network=br-lan" })
    h:ok({ "launch", "--name", "b1", "--bridged" })
  end)

  it("refuses mode=manual with ip= and on moonbase0, and unknown modes", function()
    refused(h, { "launch", "--network", "name=back,mode=manual,ip=10.9.0.5" }, 1,
      "mode=manual leaves the NIC to the guest")
    refused(h, { "launch", "--network", "name=moonbase0,mode=manual" }, 1,
      "moonbase0 is the instance's own network")
    refused(h, { "launch", "--network", "name=back,mode=static" }, 1,
      "mode must be auto or manual")
  end)
end)

describe("forward NAME H:G/udp", function()
  local forwards = require("moonbase.forwards")

  it("parses udp and tcp, and refuses other protocols", function()
    assert.same({ address = "127.0.0.1", host_port = 5353, guest_port = 53, proto = "udp" },
      forwards.parse("5353:53/udp"))
    assert.same({ address = "::1", host_port = 8080, guest_port = 80, proto = "tcp" },
      forwards.parse("8080:80/TCP", "::1"))
    local ok, e = pcall(forwards.parse, "5353:53/sctp")
    assert.is_false(ok)
    assert.equal('forward: unknown protocol "sctp" (use tcp or udp)', e.message)
  end)

  it("refuses a bad protocol and a bad --remove through the CLI", function()
    local h = home()
    h:ok({ "launch", "--name", "f1" })
    refused(h, { "forward", "f1", "5353:53/sctp" }, 1, 'unknown protocol "sctp"')
    refused(h, { "forward", "f1", "--remove", "53/icmp" }, 1,
      "--remove expects HOSTPORT[/tcp|/udp]")
    h:cleanup()
  end)
end)

describe("network-config of extra NICs (launch code, fake host)", function()
  local network = require("moonbase._core.network")
  local netfake = require("moonbase._core.netfake")
  local paths = require("moonbase._core.paths")
  local settings = require("moonbase.settings")
  local boot = require("moonbase._core.boot")
  local tmp, saved, host

  before_each(function()
    tmp = helpers.tmpdir("bridged")
    saved = { paths.data, paths.config }
    paths.data, paths.config = tmp .. "/data", tmp .. "/config"
    host = netfake.new(json.decode(json.encode(HOST)))
    network._host = host
  end)
  after_each(function()
    network._host = nil
    paths.data, paths.config = saved[1], saved[2]
    fs.rmtree(tmp)
  end)

  it("leaves a mode=manual NIC out and gives the bridged one DHCP", function()
    network.create("back", { subnet = "10.78.0.0/24" })
    settings.set("local.bridged-network", "br-lan")
    local rec = { name = "web", mac = "52:54:00:12:34:56" }
    local text = boot.attach_networks(rec, { quiet = true, bridged = true,
      networks = { "name=back,mode=manual,mac=52:54:00:aa:bb:cc" } })
    local cfg = assert(yaml.parse(text))
    -- moonbase0: static; back: absent (the guest leaves it alone); bridged: DHCP
    assert.same({ "bridged", "moonbase0" }, (function()
      local k = {}
      for n in pairs(cfg.ethernets) do k[#k + 1] = n end
      table.sort(k)
      return k
    end)())
    assert.is_nil(text:find("52:54:00:aa:bb:cc", 1, true), text)
    assert.is_false(cfg.ethernets.moonbase0.dhcp4)
    local b = cfg.ethernets.bridged
    assert.is_true(b.dhcp4)
    assert.equal(200, b["dhcp4-overrides"]["route-metric"])
    assert.is_nil(b.addresses)
    -- the record has all three NICs; the manual one without an address
    assert.equal(3, #rec.nics)
    assert.same({ "moonbase0", "back", "bridged" },
      { rec.nics[1].network, rec.nics[2].network, rec.nics[3].network })
    assert.equal("manual", rec.nics[2].mode)
    assert.equal("52:54:00:aa:bb:cc", rec.nics[2].mac)
    assert.is_nil(rec.nics[2].ipv4)
    assert.equal(b.match.macaddress, rec.nics[3].mac)
    -- the bridged tap is a port of br-lan, and moonbase's (prune finds it)
    local tap
    for _, l in ipairs(host.state.links) do
      if l.name == rec.nics[3].tap then tap = l end
    end
    assert.equal("br-lan", tap.master)
    assert.equal("moonbase:web@bridged", tap.alias)
    boot.detach_networks(rec)
    for _, l in ipairs(host.state.links) do assert.are_not.equal(rec.nics[3].tap, l.name) end
  end)
end)

describe("recipes: bridged = true and UDP forwards (test driver, fake host)", function()
  package.path = helpers.src .. "/tests/lua/?.lua;" .. package.path
  local common = require("recipes.common")
  local r
  before_each(function()
    r = common.new()
    r.h.env.MOONBASE_NET_FAKE = r.home .. "/fakehost.json"
    assert(fs.write(r.h.env.MOONBASE_NET_FAKE, json.encode(HOST)))
  end)
  after_each(function() r:cleanup() end)

  local RECIPE = [[
instance "web" { bridged = %s, forwards = { "5353:53/udp", [8080] = 80 } }
]]

  it("launches with bridged = true, and plans a replace when it changes", function()
    r:write("app.lua", RECIPE:format("true"))
    -- the same one-line error as launch --bridged while the setting is unset
    local code, _, err = r:run({ "up", "app.lua", "-q" })
    assert.equal(2, code, err)
    assert.truthy(err:find("moonbase set local.bridged-network=IFACE", 1, true), err)
    r:ok({ "set", "local.bridged-network=br-lan" })
    r:ok({ "up", "app.lua", "-q" })
    local actions = r:actions("app.lua")
    assert.equal("keep", actions["app-web"] or actions.web)
    r:write("app.lua", RECIPE:format("false"))
    local _, plan = r:actions("app.lua")
    assert.equal("replace", plan.instances[1].action)
    assert.truthy(plan.instances[1].details:find("bridged changed", 1, true),
      plan.instances[1].details)
  end)
end)
