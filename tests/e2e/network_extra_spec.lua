-- Extra NICs and UDP forwards through the CLI, on one real tiny guest:
-- `launch --bridged` onto a host bridge with its own DHCP, `--network
-- name=N,mode=manual` (the NIC is there, unconfigured), and `forward
-- H:G/udp` to a UDP echo in the guest, byte for byte, again after restart.
-- Runs inside a network namespace of its own (ctest wraps it in
-- tests/lib/in-netns.sh): the "LAN" is a bridge br-test made here, in that
-- namespace, with a dnsmasq of this spec's serving DHCP on it; moonbase's
-- bridges, taps, dnsmasq and NAT rules stay in there too.
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")

local SRC = os.getenv("MOONBASE_SRC") or "."
local LAN = { bridge = "br-test", address = "192.168.77.1", prefix = 24,
  range = "192.168.77.50,192.168.77.99,255.255.255.0,1h" }
local MANUAL_MAC = "52:54:00:0b:0b:0b"

describe("bridged and manual NICs, UDP forwards #e2e", function()
  local why = support.unavailable()
  why = why or support.netns_unavailable()
  for _, p in ipairs({ { "dnsmasq", "dnsmasq-base" }, { "cc", "gcc" } }) do
    if not why and not support.have(p[1]) then
      why = p[1] .. " is not installed (apt-get install " .. p[2] .. ")"
    end
  end
  if why then
    it("needs QEMU, root, a network namespace, dnsmasq and a C compiler", function()
      pending(why)
    end)
    return
  end

  local host, h, tmp, dnsmasq, echo

  setup(function()
    tmp = support.tmpdir("extra")
    echo = tmp .. "/udp_echo"
    support.must({ "cc", "-static", "-O2", "-o", echo, SRC .. "/tests/e2e/udp_echo.c" })
    -- the LAN: a bridge with an address and its own DHCP server
    support.must({ "ip", "link", "add", LAN.bridge, "type", "bridge" })
    support.must({ "ip", "addr", "add", LAN.address .. "/" .. LAN.prefix, "dev", LAN.bridge })
    support.must({ "ip", "link", "set", LAN.bridge, "up" })
    dnsmasq = process.spawn({ "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
      "--interface=" .. LAN.bridge, "--except-interface=lo", "--bind-interfaces", "--port=0",
      "--dhcp-range=" .. LAN.range, "--dhcp-leasefile=" .. tmp .. "/leases",
      "--pid-file=" .. tmp .. "/dnsmasq.pid", "--log-dhcp", "--log-facility=" .. tmp ..
      "/dnsmasq.log" })
    host = assert(support.host())
    h = support.home(host, { private_network = true, tag = "netextra" })
    h:ok({ "network", "create", "back", "--subnet", "10.78.0.0/24" })
  end)
  teardown(function()
    if h then h:run({ "delete", "--all", "--purge" }) h:run({ "networks", "--prune" }) end
    if dnsmasq then process.kill(dnsmasq, process.SIGKILL) process.wait(dnsmasq) end
    process.run({ "ip", "link", "delete", LAN.bridge })
    support.cleanup()
    if tmp then fs.rmtree(tmp) end
  end)

  -- The address the LAN's DHCP gave to a MAC (from its lease file).
  local function lan_lease(mac)
    local text = fs.read(tmp .. "/leases") or ""
    for line in text:gmatch("[^\n]+") do
      local m, ip = line:match("^%d+ (%S+) (%S+)")
      if m == mac then return ip end
    end
  end

  local function ping(ip)
    return process.run({ "busybox", "ping", "-c", "1", "-W", "5", ip }) == 0
  end

  local bridged_ip

  it("refuses --bridged on an interface that is not a bridge, changing nothing", function()
    support.must({ "ip", "link", "add", "eth-test", "type", "veth", "peer", "name", "eth-test-p" })
    h:ok({ "set", "local.bridged-network=eth-test" })
    local code, _, err = h:run({ "launch", "--name", "x1", "--bridged" })
    process.run({ "ip", "link", "delete", "eth-test" })
    assert.equal(1, code, err)
    assert.truthy(err:find("not a Linux bridge", 1, true), err)
    assert.truthy(err:find("host bridges: " .. LAN.bridge, 1, true), err)
    assert.equal(1, select(2, err:gsub("\n", "")), err)
    assert.is_nil(h:record("x1"))
  end)

  it("launches on the LAN bridge: the guest's address comes from the LAN's DHCP", function()
    h:ok({ "set", "local.bridged-network=" .. LAN.bridge })
    h:ok({ "launch", "--name", "b1", "--memory", "256M", "--timeout", "300", "--bridged",
      "--network", "name=back,mode=manual,mac=" .. MANUAL_MAC })
    local nics = h:record("b1").nics
    assert.equal(3, #nics)
    local bnic = nics[3]
    assert.equal("bridged", bnic.network)
    -- the tap is a port of br-test
    local _, link = process.run({ "ip", "-o", "link", "show", bnic.tap })
    assert.truthy(link:find("master " .. LAN.bridge, 1, true), link)
    bridged_ip = support.wait_for("a DHCP lease for " .. bnic.mac, 60, function()
      return lan_lease(bnic.mac)
    end)
    assert.truthy(bridged_ip:match("^192%.168%.77%.%d+$"), bridged_ip)
    local out = h:ok({ "exec", "b1", "--", "ip", "-4", "-o", "addr" })
    assert.truthy(out:find("inet " .. bridged_ip .. "/24", 1, true), out)
    support.wait_for("an answer to ping from " .. bridged_ip, 30, function()
      return ping(bridged_ip)
    end)
  end)

  it("leaves a mode=manual NIC unconfigured: there, with its MAC, without IPv4", function()
    local links = h:ok({ "exec", "b1", "--", "ip", "-o", "link" })
    local dev = links:match("%d+: ([%w%-_.]+)[:@][^\n]-link/ether " .. MANUAL_MAC)
    assert.truthy(dev, links)
    local addrs = h:ok({ "exec", "b1", "--", "ip", "-4", "-o", "addr", "show", "dev", dev })
    assert.equal("", addrs)
    -- the seed (its files are stored as they are in the ISO) never mentions
    -- it, while the bridged NIC's DHCP is there
    local seed = assert(fs.read(h:instance_dir("b1") .. "/cidata.iso"))
    assert.is_nil(seed:find(MANUAL_MAC, 1, true))
    assert.truthy(seed:find(h:record("b1").nics[3].mac, 1, true))
    assert.truthy(seed:find("dhcp4: true", 1, true))
  end)

  it("forwards UDP to a guest echo, byte for byte, and again after restart", function()
    h:ok({ "transfer", echo, "b1:udp_echo" })
    local function serve()
      h:ok({ "exec", "b1", "--", "sh", "-c",
        "chmod +x udp_echo && (setsid ./udp_echo serve 5000 >/dev/null 2>&1 &)" })
    end
    serve()
    h:ok({ "forward", "b1", "15000:5000/udp" })
    local list = require("moonbase.engine.json").decode(h:ok({ "forward", "b1", "--list",
      "--format", "json" }))
    assert.same({ { address = "127.0.0.1", host_port = 15000, guest_port = 5000,
      proto = "udp" } }, list)
    local payload = tmp .. "/payload"
    support.must({ "sh", "-c", "head -c 300000 /dev/urandom > " .. payload })
    local function roundtrip(out)
      -- two clients one after the other: each from its own source port
      for i = 1, 2 do
        local code, _, err = process.run({ "sh", "-c", support.quote(echo) ..
          " send 127.0.0.1 15000 1400 < " .. payload .. " > " .. out .. i })
        assert.equal(0, code, err)
        local sums = support.must({ "sha256sum", payload, out .. i })
        local a, b = sums:match("^(%x+).-\n(%x+)")
        assert.equal(a, b, "the echoed bytes differ (" .. out .. i .. ")")
      end
    end
    roundtrip(tmp .. "/got-a")
    h:ok({ "restart", "b1" })
    serve()
    roundtrip(tmp .. "/got-b")
    -- the bridged NIC came back on the LAN with the same lease
    support.wait_for("an answer to ping from " .. bridged_ip, 60, function()
      return ping(bridged_ip)
    end)
    h:ok({ "forward", "b1", "--remove", "15000/udp" })
    assert.equal("No forwards.\n", h:ok({ "forward", "b1", "--list" }))
  end)

  it("refuses a UDP forward under QEMU user networking, in one line, changing nothing",
    function()
      -- without CAP_NET_ADMIN moonbase falls back to user networking
      local u = support.home(host, { tag = "netextra-user" })
      u:ok({ "launch", "--name", "u1", "--memory", "256M", "--timeout", "300", "--quiet" })
      assert.is_nil(u:record("u1").nics)
      local code, _, err = u:run({ "forward", "u1", "15001:5000/udp" })
      assert.equal(2, code, err)
      assert.truthy(err:find("UDP forwards need the instance on a moonbase network", 1, true),
        err)
      assert.equal(1, select(2, err:gsub("\n", "")), err)
      assert.is_nil(u:record("u1").forwards)
      -- TCP forwards still work there (over SSH)
      u:ok({ "forward", "u1", "15002:22" })
      u:ok({ "delete", "--purge", "u1" })
    end)

  it("leaves nothing of moonbase's after delete and networks --prune", function()
    h:ok({ "delete", "--all", "--purge" })
    h:ok({ "networks", "--prune" })
    local _, links = process.run({ "ip", "link" })
    assert.is_nil(links:find("moonbase", 1, true), links)
    assert.is_nil(links:find("mbt", 1, true), links)
    assert.truthy(links:find(LAN.bridge, 1, true), "prune removed the host's bridge")
  end)
end)
