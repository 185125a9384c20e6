-- The real host side of moonbase's networks — bridge, taps, addresses,
-- dnsmasq, nftables — inside a network namespace this spec creates and
-- deletes (TESTING.md's network rules): every moonbase command runs as
-- `ip netns exec NS moonbase ...`, every packet stays in NS or in a second
-- namespace that plays a guest (a veth on the bridge, with an instance's MAC).
-- Proves: moonbase0 created through the CLI, two instances attached (taps
-- on the bridge), DNS <name>.moonbase answered by dnsmasq, the static DHCP
-- lease served to the instance's MAC, NAT table present, detach keeping the
-- address, two networks kept apart by the forward chain, and
-- `networks --prune` leaving nothing of moonbase's in
-- `ip link`, `ip route`, `nft list ruleset` or the namespace's processes.
local helpers = require("helpers")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local util = require("moonbase.engine.util")

local function run(argv, opts)
  local code, out, err = process.run(argv, opts)
  return code, out or "", err or ""
end

local function have(prog)
  return run({ "sh", "-c", 'command -v "$0" >/dev/null', prog }) == 0
end

-- Why this spec cannot run here, or nil.
local function missing()
  local uid = select(2, require("moonbase.engine.net").uid())
  if uid ~= 0 then return "needs root to create a network namespace (run the suite as root)" end
  for _, p in ipairs({ { "ip", "iproute2" }, { "dnsmasq", "dnsmasq-base" }, { "nft", "nftables" },
    { "dig", "dnsutils" }, { "busybox", "busybox" } }) do
    if not have(p[1]) then return p[1] .. " is not installed (apt-get install " .. p[2] .. ")" end
  end
  local ns = "mbprobe-" .. util.getpid()
  if run({ "ip", "netns", "add", ns }) ~= 0 then
    return "ip netns add does not work here (no CAP_SYS_ADMIN, or /run/netns not writable)"
  end
  run({ "ip", "netns", "del", ns })
end

describe("moonbase networks in a network namespace #netns", function()
  local why = missing()
  if why then
    pending(why)
    return
  end

  local NS = "mbnet-" .. util.getpid()
  local GUEST = NS .. "-g"
  local GUEST2 = NS .. "-h"
  local h, subnet, gateway, att

  -- in NS
  local function ns(argv, opts)
    local a = { "ip", "netns", "exec", NS }
    for _, x in ipairs(argv) do a[#a + 1] = x end
    return run(a, opts)
  end
  local function ns_ok(argv, opts)
    local code, out, err = ns(argv, opts)
    assert(code == 0, table.concat(argv, " ") .. " exited " .. code .. ": " .. err .. out)
    return out
  end
  -- in GUEST; returns stdout and stderr together (busybox talks on stderr)
  local function guest_ok(argv)
    local a = { "ip", "netns", "exec", GUEST }
    for _, x in ipairs(argv) do a[#a + 1] = x end
    local code, out, err = run(a)
    assert(code == 0, table.concat(argv, " ") .. " exited " .. code .. ": " .. err .. out)
    return out .. err
  end
  local function mb(args)
    local a = { helpers.bin }
    for _, x in ipairs(args) do a[#a + 1] = x end
    return ns(a, { env = h.env })
  end
  local function mb_ok(args)
    local code, out, err = mb(args)
    assert(code == 0, "moonbase " .. table.concat(args, " ") .. " exited " .. code .. ": " ..
      err .. out)
    return out
  end
  -- moonbase --lua with a chunk of Lua, in NS; returns its JSON output decoded
  local function mb_lua(src)
    local path = h.dir .. "/chunk.lua"
    assert(fs.write(path, src))
    return json.decode(mb_ok({ "--lua", path }))
  end
  local function dig(name, server)
    return ns_ok({ "dig", "+time=2", "+tries=2", "@" .. (server or gateway), name })
  end
  local function dnsmasq_pids()
    local _, out = run({ "ip", "netns", "pids", NS })
    local pids = {}
    for pid in out:gmatch("%d+") do
      local cmd = fs.read("/proc/" .. pid .. "/comm") or ""
      if cmd:match("^dnsmasq") then pids[#pids + 1] = tonumber(pid) end
    end
    return pids
  end

  setup(function()
    assert(run({ "ip", "netns", "add", NS }) == 0)
    assert(run({ "ip", "netns", "add", GUEST }) == 0)
    ns_ok({ "ip", "link", "set", "lo", "up" })
    guest_ok({ "ip", "link", "set", "lo", "up" })
    h = helpers.home({ driver = "qemu" }) -- the engine's networks, on this namespace
  end)

  teardown(function()
    -- whatever a failed test left running in the namespaces goes with them
    for _, n in ipairs({ NS, GUEST, GUEST2 }) do
      local _, out = run({ "ip", "netns", "pids", n })
      for pid in out:gmatch("%d+") do process.kill(tonumber(pid), process.SIGKILL) end
      run({ "ip", "netns", "del", n })
    end
    if h then h:cleanup() end
  end)

  it("is available as root in the namespace", function()
    local r = mb_lua([[
      local network = require("moonbase._core.network")
      local ok, why = network.available()
      print(require("moonbase.engine.json").encode({ ok = ok, why = why or "" }))]])
    assert.is_true(r.ok, r.why)
  end)

  it("creates moonbase0 through the CLI: bridge, address, dnsmasq, NAT", function()
    local out = mb_ok({ "network", "create", "moonbase0" })
    subnet = out:match("%((10%.%d+%.%d+%.0/24), bridge moonbase0%)")
    assert.truthy(subnet, out)
    gateway = subnet:gsub("0/24$", "1")
    local link = ns_ok({ "ip", "-d", "link", "show", "moonbase0" })
    assert.truthy(link:find("bridge", 1, true), link)
    assert.truthy(link:find("alias moonbase:moonbase0", 1, true), link)
    assert.truthy(ns_ok({ "ip", "-4", "addr", "show", "dev", "moonbase0" })
      :find("inet " .. gateway .. "/24", 1, true))
    assert.truthy(ns_ok({ "ip", "route" }):find(subnet .. " dev moonbase0", 1, true))
    assert.equal(1, #dnsmasq_pids())
    local nft = ns_ok({ "nft", "list", "table", "ip", "moonbase" })
    assert.truthy(nft:find("ip saddr " .. subnet .. " ip daddr != " .. subnet .. " masquerade",
      1, true), nft)
    assert.equal("1", ns_ok({ "cat", "/proc/sys/net/ipv4/ip_forward" }):match("%d"))
    -- the namespace's forwarding changed, not the host's: the host keeps its own
    local rows = json.decode(mb_ok({ "networks", "--format", "json" }))
    assert.equal("moonbase0", rows[1].name)
    assert.equal("up", rows[1].state)
  end)

  it("attaches two instances: taps on the bridge, names in DNS", function()
    att = mb_lua([[
      local network = require("moonbase._core.network")
      local out = { web = network.attach("web"), db = network.attach("db"),
        again = network.attach("web") }
      print(require("moonbase.engine.json").encode(out))]])
    assert.same(att.web, att.again)
    assert.equal(subnet:gsub("0/24$", "2"), att.web.ipv4)
    assert.equal(subnet:gsub("0/24$", "3"), att.db.ipv4)
    for _, a in ipairs({ att.web, att.db }) do
      local link = ns_ok({ "ip", "-d", "link", "show", a.tap })
      assert.truthy(link:find("master moonbase0", 1, true), link)
      assert.truthy(link:find("tun type tap", 1, true), link)
      assert.truthy(link:find("vnet_hdr on", 1, true), link)
      assert.falsy(link:find("multi_queue on", 1, true), link)
    end
    assert.equal(att.web.ipv4,
      dig("web.moonbase"):match("ANSWER SECTION:\nweb%.moonbase%.%s+%d+%s+IN%s+A%s+([%d%.]+)"))
    assert.equal(att.db.ipv4,
      dig("db.moonbase"):match("ANSWER SECTION:\ndb%.moonbase%.%s+%d+%s+IN%s+A%s+([%d%.]+)"))
    assert.truthy(dig("nobody.moonbase"):find("status: NXDOMAIN", 1, true))
    assert.equal(1, #dnsmasq_pids(), "one dnsmasq per network, reloaded, not restarted")
    local hosts = mb_ok({ "hosts" })
    assert.equal(att.db.ipv4 .. "\tdb.moonbase db\n" .. att.web.ipv4 .. "\tweb.moonbase web\n",
      hosts)
  end)

  it("serves the static lease to the instance's MAC, and DNS to the guest", function()
    -- a "guest": a veth on the bridge whose far end, in GUEST, has web's MAC
    ns_ok({ "ip", "link", "add", "mbvh", "type", "veth", "peer", "name", "mbvg" })
    ns_ok({ "ip", "link", "set", "mbvg", "netns", GUEST })
    ns_ok({ "ip", "link", "set", "mbvh", "master", "moonbase0", "up" })
    guest_ok({ "ip", "link", "set", "mbvg", "address", att.web.mac, "up" })
    local out = guest_ok({ "timeout", "30", "busybox", "udhcpc", "-i", "mbvg", "-n", "-q",
      "-t", "10", "-T", "1", "-s", "/bin/true" })
    assert.truthy(out:find("lease of " .. att.web.ipv4 .. " obtained", 1, true), out)
    guest_ok({ "ip", "addr", "add", att.web.ipv4 .. "/24", "dev", "mbvg" })
    local answer = guest_ok({ "dig", "+time=2", "+tries=3", "@" .. gateway, "db.moonbase" })
    assert.truthy(answer:find("db%.moonbase%.%s+%d+%s+IN%s+A%s+" .. att.db.ipv4:gsub("%.", "%%.")),
      answer)
    guest_ok({ "busybox", "ping", "-c", "1", "-W", "3", gateway })
    -- an unknown MAC gets nothing (static leases only)
    guest_ok({ "ip", "addr", "flush", "dev", "mbvg" })
    guest_ok({ "ip", "link", "set", "mbvg", "down" })
    guest_ok({ "ip", "link", "set", "mbvg", "address", "52:54:00:de:ad:01", "up" })
    local code, o2, e2 = run({ "ip", "netns", "exec", GUEST, "timeout", "20", "busybox",
      "udhcpc", "-i", "mbvg", "-n", "-q", "-t", "3", "-T", "1", "-s", "/bin/true" })
    assert.are_not.equal(0, code)
    assert.falsy((o2 .. e2):find("lease of", 1, true), o2 .. e2)
  end)

  it("detaches (tap gone) and keeps the address and the DNS name", function()
    local r = mb_lua([[
      local network = require("moonbase._core.network")
      print(require("moonbase.engine.json").encode({ taps = network.detach("web"),
        address = network.address("web") }))]])
    assert.same({ att.web.tap }, r.taps)
    assert.equal(att.web.ipv4, r.address)
    assert.are_not.equal(0, (ns({ "ip", "link", "show", att.web.tap })))
    assert.truthy(dig("web.moonbase"):find(att.web.ipv4, 1, true))
  end)

  it("recovers when the bridge was deleted under it", function()
    ns_ok({ "ip", "link", "delete", "moonbase0" })
    local again = mb_lua([[
      print(require("moonbase.engine.json").encode(require("moonbase._core.network").attach("db")))]])
    assert.same(att.db, again)
    assert.truthy(ns_ok({ "ip", "-d", "link", "show", att.db.tap }):find("master moonbase0", 1,
      true))
    assert.truthy(dig("db.moonbase"):find(att.db.ipv4, 1, true))
    assert.equal(1, #dnsmasq_pids())
  end)

  it("keeps networks apart: a guest on one cannot reach a guest on another", function()
    local out = mb_ok({ "network", "create", "backend" })
    local bsub = out:match("%(([%d%.]+/24), bridge mb%-backend%)")
    assert.truthy(bsub, out)
    local api = mb_lua([[
      print(require("moonbase.engine.json").encode(require("moonbase._core.network").attach("api",
        { network = "backend" })))]])
    assert.equal("mb-backend", api.bridge)
    -- GUEST is web on moonbase0 again (its veth back on the re-created
    -- bridge); GUEST2 is api on backend
    ns_ok({ "ip", "link", "set", "mbvh", "master", "moonbase0", "up" })
    guest_ok({ "ip", "addr", "add", att.web.ipv4 .. "/24", "dev", "mbvg" })
    guest_ok({ "ip", "route", "add", "default", "via", gateway })
    assert(run({ "ip", "netns", "add", GUEST2 }) == 0)
    ns_ok({ "ip", "link", "add", "mbvh2", "type", "veth", "peer", "name", "mbvg2" })
    ns_ok({ "ip", "link", "set", "mbvg2", "netns", GUEST2 })
    ns_ok({ "ip", "link", "set", "mbvh2", "master", "mb-backend", "up" })
    local function g2(argv)
      local a = { "ip", "netns", "exec", GUEST2 }
      for _, x in ipairs(argv) do a[#a + 1] = x end
      return run(a)
    end
    assert.equal(0, (g2({ "ip", "link", "set", "lo", "up" })))
    assert.equal(0, (g2({ "ip", "link", "set", "mbvg2", "address", api.mac, "up" })))
    assert.equal(0, (g2({ "ip", "addr", "add", api.ipv4 .. "/24", "dev", "mbvg2" })))
    assert.equal(0, (g2({ "ip", "route", "add", "default", "via", api.gateway })))
    -- each reaches its own gateway (the host) and its network's DNS
    assert.equal(0, (g2({ "busybox", "ping", "-c", "1", "-W", "3", api.gateway })))
    local _, a2 = g2({ "dig", "+time=2", "+tries=2", "@" .. api.gateway, "api.moonbase" })
    assert.truthy(a2:find(api.ipv4, 1, true), a2)
    guest_ok({ "busybox", "ping", "-c", "1", "-W", "3", gateway })
    -- the host routes between the two subnets (ip_forward is on), and
    -- moonbase's forward chain drops it, both ways
    assert.equal("1", ns_ok({ "cat", "/proc/sys/net/ipv4/ip_forward" }):match("%d"))
    local code = g2({ "busybox", "ping", "-c", "1", "-W", "2", att.web.ipv4 })
    assert.are_not.equal(0, code)
    code = run({ "ip", "netns", "exec", GUEST, "busybox", "ping", "-c", "1", "-W", "2",
      api.ipv4 })
    assert.are_not.equal(0, code)
    -- without moonbase's table the same packets would pass: the drop is ours
    ns_ok({ "nft", "delete", "table", "ip", "moonbase" })
    assert.equal(0, (g2({ "busybox", "ping", "-c", "1", "-W", "3", att.web.ipv4 })))
    mb_lua([[
      local n = require("moonbase._core.network")
      print(require("moonbase.engine.json").encode(n.attach("api", { network = "backend" })))]])
    assert.are_not.equal(0, (g2({ "busybox", "ping", "-c", "1", "-W", "2", att.web.ipv4 })))
    assert.truthy(bsub ~= subnet)
  end)

  it("networks --prune refuses while a tap is in use", function()
    if not have("qemu-system-x86_64") then
      pending("qemu-system-x86_64 is not installed: the in-use check is not proved")
      return
    end
    -- a QEMU with no machine holding db's tap, as a running instance would
    local pid = assert(process.spawn({ "ip", "netns", "exec", NS, "qemu-system-x86_64", "-M",
      "none", "-display", "none", "-netdev", "tap,id=n0,ifname=" .. att.db.tap ..
      ",script=no,downscript=no" }, { stdout = "/dev/null", stderr = "/dev/null" }))
    local held = false
    for _ = 1, 100 do
      held = ns_ok({ "ip", "link", "show", att.db.tap }):find("LOWER_UP", 1, true) ~= nil
      if held then break end
      util.sleep(0.1)
    end
    local code, out, err = mb({ "networks", "--prune" })
    process.kill(pid)
    process.wait(pid)
    assert.is_true(held, "QEMU did not open the tap")
    assert.equal(2, code, out)
    assert.equal("networks --prune: instances are using moonbase's network (db@moonbase0): " ..
      "stop them first, or use --force\n", err)
    assert.equal(0, (ns({ "ip", "link", "show", "moonbase0" })))
  end)

  it("networks --prune leaves nothing of moonbase's", function()
    local out = mb_ok({ "networks", "--prune" })
    assert.truthy(out:find("Removed interface moonbase0", 1, true), out)
    assert.truthy(out:find("Removed interface " .. att.db.tap, 1, true), out)
    assert.truthy(out:find("Stopped dnsmasq", 1, true), out)
    assert.truthy(out:find("Removed nftables table ip moonbase", 1, true), out)
    local links = ns_ok({ "ip", "-d", "link" })
    assert.falsy(links:find("moonbase", 1, true), links)
    assert.falsy(links:find("mbt", 1, true), links)
    local routes = ns_ok({ "ip", "route" })
    assert.falsy(routes:find(subnet, 1, true), routes)
    assert.equal("", ns_ok({ "nft", "list", "ruleset" }))
    assert.same({}, dnsmasq_pids())
    -- the veth the test put on the bridge is not moonbase's and stays
    assert.truthy(links:find("mbvh", 1, true))
    assert.equal("Nothing of moonbase's on this host.\n", mb_ok({ "networks", "--prune" }))
    -- the records stay: the same address comes back
    local again = mb_lua([[
      print(require("moonbase.engine.json").encode(require("moonbase._core.network").attach("db")))]])
    assert.same(att.db, again)
    mb_ok({ "networks", "--prune" })
    assert.equal("", ns_ok({ "nft", "list", "ruleset" }))
  end)
end)
