-- The network-config moonbase puts in a guest's NoCloud seed: netplan v2,
-- ethernets matched by MAC with static addresses, the default route and DNS
-- on the primary, search domain moonbase.
local network = require("moonbase._core.network")
local yaml = require("moonbase.engine.yaml")

local primary = { network = "moonbase0", bridge = "moonbase0", tap = "mbt0000aaaa",
  mac = "52:54:00:12:34:56", ipv4 = "10.77.0.2", gateway = "10.77.0.1", prefix = 24,
  dns = "10.77.0.1", domain = "moonbase", hostname = "web.moonbase" }
local extra = { network = "backend", bridge = "mb-backend", tap = "mbt0000bbbb",
  mac = "52:54:00:ab:cd:ef", ipv4 = "10.78.0.10", gateway = "10.78.0.1", prefix = 24,
  dns = "10.78.0.1", domain = "moonbase", hostname = "web.moonbase" }

describe("cloud-init network-config", function()
  it("matches each NIC by MAC, with the default gateway on the primary only", function()
    assert.same({
      version = 2,
      ethernets = {
        moonbase0 = {
          match = { macaddress = "52:54:00:12:34:56" }, addresses = { "10.77.0.2/24" },
          dhcp4 = false, gateway4 = "10.77.0.1",
          nameservers = { addresses = { "10.77.0.1" }, search = { "moonbase" } },
        },
        backend = {
          match = { macaddress = "52:54:00:ab:cd:ef" }, addresses = { "10.78.0.10/24" },
          dhcp4 = false,
          nameservers = { addresses = { "10.78.0.1" }, search = { "moonbase" } },
        },
      },
    }, network.cloud_init_config({ primary, extra }))
  end)

  it("as YAML parses back to the same table, MACs as strings", function()
    local text = network.cloud_init_yaml({ primary, extra })
    assert.truthy(text:find('macaddress: "52:54:00:12:34:56"', 1, true), text)
    local doc = assert(yaml.parse(text))
    local want = network.cloud_init_config({ primary, extra })
    assert.equal(2, math.tointeger(doc.version))
    for name, e in pairs(want.ethernets) do
      local got = doc.ethernets[name]
      assert.equal(e.match.macaddress, got.match.macaddress)
      assert.same(e.addresses, got.addresses)
      assert.equal(false, got.dhcp4)
      assert.same(e.nameservers, got.nameservers)
      assert.equal(e.gateway4, got.gateway4)
    end
  end)

  it("is empty for no attachments", function()
    assert.same({ version = 2, ethernets = {} }, network.cloud_init_config({}))
  end)

  it("names the primary's DNS server and search domain as the guest's resolver", function()
    local netplan = require("moonbase._core.netplan")
    assert.same({ nameserver = "10.77.0.1", search = "moonbase" },
      netplan.resolver({ primary, extra }))
    assert.is_nil(netplan.resolver({}))
  end)

  -- the bootcmd, run by sh on a copy of /etc: it writes a resolver only
  -- where no part of the stack manages the file
  it("writes /etc/resolv.conf only where there is none, not even a symlink", function()
    local netplan = require("moonbase._core.netplan")
    local process = require("moonbase.engine.process")
    local fs = require("moonbase.engine.fs")
    local cmd = netplan.resolver_bootcmd({ nameserver = "10.77.0.1", search = "moonbase" })
    local _, dir = process.run({ "mktemp", "-d", "/tmp/mb-resolver-XXXXXX" })
    dir = dir:gsub("%s+$", "")
    local conf = dir .. "/resolv.conf"
    local function run()
      local code, _, err = process.run({ "sh", "-c", (cmd:gsub("/etc/resolv%.conf", conf)) })
      assert.equal(0, code, err)
    end
    run() -- none: ifupdown without resolvconf, networkd without resolved
    assert.equal("nameserver 10.77.0.1\nsearch moonbase\n", fs.read(conf))
    fs.write(conf, "nameserver 192.0.2.53\n") -- NetworkManager's, or the image's
    run()
    assert.equal("nameserver 192.0.2.53\n", fs.read(conf))
    fs.remove(conf) -- resolvconf's or systemd-resolved's, its target not there yet
    process.run({ "ln", "-s", dir .. "/later/resolv.conf", conf })
    run()
    assert.equal(dir .. "/later/resolv.conf", fs.readlink(conf))
    assert.is_false(fs.exists(dir .. "/later") and true or false)
    process.run({ "rm", "-rf", dir })
    assert.has_error(function()
      netplan.resolver_bootcmd({ nameserver = "10.0.0.1; reboot", search = "moonbase" })
    end)
  end)

  it("goes into the user-data's bootcmd before the user's own", function()
    local seed = require("moonbase._core.seed")
    local ud = seed.user_data("#cloud-config\nbootcmd: [\"echo mine\"]\n", {
      user = "moonbase", authorized_key = "ssh-ed25519 AAAA k", host_private = "x",
      host_public = "ssh-ed25519 BBBB h", bootcmd = { "echo ours" } })
    local doc = assert(yaml.parse(ud))
    assert.same({ "echo ours", "echo mine" }, doc.bootcmd)
  end)
end)
