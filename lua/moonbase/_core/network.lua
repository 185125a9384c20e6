-- Private networks: the default network moonbase0 and named ones, each a
-- Linux bridge with one tap per attached instance, a dnsmasq (DNS for
-- <instance>.moonbase, DHCP with a static lease per MAC) and NAT for egress.
--
-- Records are the memory: <data>/networks/<name>.json holds a network's
-- subnet and its leases (instance -> ipv4, mac, tap), written atomically under
-- one lock (<data>/networks/lock) for every change. An address, once leased,
-- stays with its instance through stop/start/suspend until `release`. The host
-- side (bridge, taps, dnsmasq, NAT) is brought up from the records whenever an
-- instance attaches, so `prune` can remove all of it and nothing is lost.
--
-- The host is reached through moonbase.engine.net (rtnetlink, nft, dnsmasq);
-- network._host, or MOONBASE_NET_FAKE=<file.json>, swaps in a fake host
-- (moonbase._core.netfake) for specs. What `moonbase networks` and `hosts`
-- show is moonbase._core.netlist's; the public API is moonbase.network.
--
-- When the driver's own networks serve NICs (its net_backend: libvirt with
-- local.libvirt.networking=libvirt, and on remote libvirt hosts) a network is
-- one moonbase defines through the driver (moonbase._core.drvnet), in the
-- place of the bridge, taps and dnsmasq; the records and addresses stay the
-- same. Which side serves a network can change only while no instance holds
-- an address on it. Under a driver whose networks are simulated (the test
-- driver) the engine's networks are made on a simulated host
-- (moonbase._core.netfake in <data>/networks/.simulated-host.json), so
-- nothing changes on this host.
-- layer: services
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local names = require("moonbase._core.names")
local settings = require("moonbase._core.settings")
local ipv4 = require("moonbase._core.ipv4")
local ipam = require("moonbase._core.ipam")
local nethost = require("moonbase._core.nethost")
local netplan = require("moonbase._core.netplan")
local drvnet = require("moonbase._core.drvnet")
local drivers = require("moonbase._core.drivers")
local errors = require("moonbase.errors")

local M = {}

M.DEFAULT = nethost.DEFAULT
M.DOMAIN = nethost.DOMAIN
M.ALIAS_PREFIX = nethost.ALIAS_PREFIX

---@class moonbase.Lease
---@field ipv4 string
---@field mac string
---@field tap string
---@field static? boolean  the address was asked for (ip=), not allocated
---@field created string

---@class moonbase.NetworkRecord
---@field name string
---@field bridge string
---@field subnet string     "10.x.y.0/24"
---@field gateway string    the bridge's address: router and DNS server for guests
---@field prefix integer
---@field leases table<string, moonbase.Lease>  by instance name
---@field created string
---@field served_by? {uri: string, name: string, bridge: string}  served by the driver's network

---@class moonbase.Attachment
---@field network string
---@field bridge string
---@field tap string
---@field mac string
---@field ipv4 string      without the prefix
---@field gateway string
---@field prefix integer
---@field dns string       the nameserver guests use (the gateway)
---@field domain string    "moonbase"
---@field hostname string  "<instance>.moonbase"
---@field driver_network? string  the driver's network the NIC joins (then no tap)

---The host (URI) on which the current driver's own networks serve moonbase's
---networks, or nil when moonbase's engine serves them.
---@return string?
function M.driver_serves() return drvnet.wanted() end

---------------------------------------------------------------- the host
local backend
---The host backend: moonbase.engine.net, or a fake one (MOONBASE_NET_FAKE,
---or a simulated host for a driver whose networks are simulated).
function M.host()
  if M._host then return M._host end
  if not backend then
    local fake = os.getenv("MOONBASE_NET_FAKE")
    if (not fake or fake == "") and drivers.net_backend(nil) == "simulated" then
      -- not a record (records are NAME.json); made on the first change
      fake = paths.data .. "/networks/.simulated-host.json"
    end
    if fake and fake ~= "" then
      backend = require("moonbase._core.netfake").open(fake)
    else
      backend = require("moonbase.engine.net")
    end
  end
  return backend
end

local function on_path(prog)
  for d in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local st = fs.stat(d .. "/" .. prog)
    if st and st.type == "file" and (st.mode & 73) ~= 0 then return true end
  end
  return false
end

---Whether the private network can be used by this process.
---@return boolean ok
---@return string? reason  when not, what is missing and how to get it
function M.available()
  local h = M.host()
  local ok, reason = h.privileged()
  if not ok then
    return false, reason .. " (run moonbase as root, e.g. with sudo)"
  end
  if h == package.loaded["moonbase.engine.net"] then
    for _, t in ipairs({ { "dnsmasq", "dnsmasq-base" }, { "nft", "nftables" } }) do
      if not on_path(t[1]) then
        return false, string.format("%s is not installed (install the %s package)", t[1], t[2])
      end
    end
  end
  return true
end

---The one-time notice for launch when available() is false.
---@param reason string
---@return string
function M.fallback_notice(reason)
  return "moonbase: the private network " .. M.DEFAULT .. " is not available here: " .. reason ..
    ". This instance uses QEMU user networking: it is reachable from this host through a " ..
    "forwarded SSH port on 127.0.0.1, and instances cannot reach each other. To give " ..
    "instances addresses and names (<name>." .. M.DOMAIN .. ") on a shared network, run " ..
    "moonbase as root (see docs/networking.md)."
end

---------------------------------------------------------------- records
local function dir() return paths.data .. "/networks" end
local function record_path(name)
  return dir() .. "/" .. names.network(name, "network") .. ".json"
end

-- what a network record must hold (checked when read)
M.RECORD = { name = "string", bridge = "string", subnet = "string", gateway = "string?",
  prefix = "integer?",
  leases = { optional = true, map = { ipv4 = "string", mac = "string", tap = "string?" } },
  libvirt = { optional = true, map = "string" } }

---The runtime directory of a network (dnsmasq conf, pid, hosts, leases).
M.runtime_dir = nethost.runtime_dir

local function lock()
  errors.check("network", fs.mkdirs(dir()))
  return errors.check("network", fs.lock(dir() .. "/lock"))
end

local function now() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

---A network's record, or nil when there is none, or nil, message,
---"damaged" when it is not what a record must be.
---@return moonbase.NetworkRecord?, string?, string?
function M.find(name)
  local path = record_path(name)
  local rec, msg, code = store.read_checked(path, M.RECORD, nil, "the network record")
  if not rec then
    if code == "notfound" then return nil end
    return nil, string.format("network \"%s\": %s", name, msg), code
  end
  local c = ipv4.parse_cidr(rec.subnet)
  local why = rec.name ~= name and string.format("it names the network \"%s\"", rec.name) or
    (not c and string.format("its subnet \"%s\" is not a CIDR", rec.subnet))
  if why then
    return nil, string.format("network \"%s\": the network record %s is damaged: %s (fix or " ..
      "remove it)", name, path, why), "damaged"
  end
  rec.leases = rec.leases or {}
  -- what the subnet says, when a record leaves it out
  rec.gateway = rec.gateway or ipv4.format(c.network + 1)
  rec.prefix = rec.prefix or c.prefix
  return rec
end

---A network's record, or nil; raises when it is damaged.
---@return moonbase.NetworkRecord?
function M.get(name)
  local rec, msg, code = M.find(name)
  if msg then errors.raise(msg, code) end
  return rec
end

---Every network record, sorted by name (moonbase0 first), and the messages
---of damaged ones (left out).
---@return moonbase.NetworkRecord[], string[]
function M.records()
  local out, damaged = {}, {}
  store.sweep(dir()) -- temp files of killed writers, even when no record is left
  for _, f in ipairs(fs.list(dir()) or {}) do
    local n = f:match("^(.+)%.json$")
    if n and f:sub(1, 1) ~= "." then
      local rec, msg = nil, nil
      if names.valid_network(n) then rec, msg = M.find(n) end
      if rec then out[#out + 1] = rec
      else damaged[#damaged + 1] = msg or string.format("%s/%s is not a network record " ..
        "(its name is not a network name): remove it", dir(), f) end
    end
  end
  table.sort(out, function(a, b)
    if (a.name == M.DEFAULT) ~= (b.name == M.DEFAULT) then return a.name == M.DEFAULT end
    return a.name < b.name
  end)
  return out, damaged
end

local function save(rec)
  store.write(record_path(rec.name), rec)
end

---------------------------------------------------------------- names, subnets, IPAM
-- (pure, in moonbase._core.ipam; re-exported here as the public API)
M.valid_name, M.bridge_name, M.tap_name = ipam.valid_name, ipam.bridge_name, ipam.tap_name
M.mac_for, M.check_mac, M.occupied = ipam.mac_for, ipam.check_mac, ipam.occupied
M.pick_subnet, M.check_address, M.allocate = ipam.pick_subnet, ipam.check_address, ipam.allocate
M.parse_request = ipam.parse_request
local taken_sets = ipam.taken_sets

---Checks a subnet a user asks for: CIDR, a private range, room for
---instances, no overlap with the host or with another moonbase network.
---@param text string
---@param o? {network?: string, facts?: table, records?: moonbase.NetworkRecord[]}
---@return moonbase.Cidr?, string?
function M.check_subnet(text, o)
  o = o or {}
  local facts = o.facts
  if not facts then
    local h = M.host()
    facts = { routes = h.routes() or {}, addresses = h.addresses() or {} }
  end
  return ipam.check_subnet(text, { network = o.network, facts = facts,
    records = o.records or M.records() })
end

---Gives an instance its lease on a network (the same one every time):
---validates a requested address or MAC, else allocates. Changes rec only.
---@param rec moonbase.NetworkRecord
---@param instance string
---@param o? {ip?: string, mac?: string}
---@param records? moonbase.NetworkRecord[]  every network, for MAC/tap uniqueness
---@return moonbase.Lease lease, boolean new
function M.reserve(rec, instance, o, records)
  return ipam.reserve(rec, instance, o, records or M.records())
end

---Checks the value of the setting local.network.subnet ("auto" or a CIDR).
function M.check_subnet_setting(v)
  if v == "auto" then return true end
  local c, msg = M.check_subnet(v, { network = M.DEFAULT })
  if not c then return nil, msg end
  return true
end

---Refuses a new local.network.subnet while moonbase0 has leases on another.
function M.check_subnet_change(v)
  local rec = M.get(M.DEFAULT)
  if v == "auto" or not rec or rec.subnet == v or next(rec.leases) == nil then return end
  local users = {}
  for n in pairs(rec.leases) do users[#users + 1] = n end
  table.sort(users)
  errors.usage(string.format("local.network.subnet: %s still uses %s for %s (delete them " ..
    "with --purge first, or keep the subnet)", M.DEFAULT, rec.subnet,
    table.concat(users, ", ")))
end

---A new network record (no host changes).
local function new_record(name, subnet, records)
  local c = assert(ipv4.parse_cidr(subnet))
  local _, _, bridges = taken_sets(records)
  return { name = name, bridge = M.bridge_name(name, bridges), subnet = c.text,
    gateway = ipv4.format(c.network + 1), prefix = c.prefix, leases = {}, created = now(),
    version = 1 }
end

local function facts_of(h)
  return {
    links = errors.check("network", h.links()),
    routes = errors.check("network", h.routes()),
    addresses = errors.check("network", h.addresses()),
  }
end

local function setting_subnet()
  local ok, v = pcall(settings.get, "local.network.subnet")
  if ok and v and v ~= "auto" then return v end
end

-- The subnet a new network gets: asked for, the setting (moonbase0), or picked.
local function choose_subnet(name, asked, facts, records)
  local from_setting = name == M.DEFAULT and setting_subnet()
  if asked or from_setting then
    local c, msg = M.check_subnet(asked or from_setting, { network = name, facts = facts,
      records = records })
    if not c then
      errors.usage((asked and "network create: " or "local.network.subnet: ") .. msg)
    end
    return c.text
  end
  local occupied = M.occupied(facts)
  for _, r in ipairs(records) do
    occupied[#occupied + 1] = { cidr = assert(ipv4.parse_cidr(r.subnet)), what = r.name }
  end
  local s = M.pick_subnet(occupied, name)
  if not s then
    errors.raise("network: every candidate subnet overlaps a route or address of this host " ..
      "(set one: moonbase set local.network.subnet=CIDR)")
  end
  return s
end

---------------------------------------------------------------- the host side
-- (bridge, taps, dnsmasq, NAT of engine-served networks: moonbase._core.nethost)
local links_by_name, ours, dns_hosts_of = nethost.links_by_name, nethost.ours,
  nethost.dns_hosts_of
local function sync_nat(h, extra) return nethost.sync_nat(h, M.records(), extra) end
local function bring_up(rec, h, facts) return nethost.bring_up(rec, h, facts, M.records()) end
local tear_down, ensure_tap = nethost.tear_down, nethost.ensure_tap

local function attachment(rec, instance)
  local l, lv = rec.leases[instance], drvnet.served(rec)
  -- a driver that plugs its own port into the bridge gets no tap
  local tap = not lv and not drivers.has("bridge_nics") and l.tap or nil
  return { network = rec.name, bridge = lv and lv.bridge or rec.bridge,
    tap = tap, driver_network = lv and lv.name, mac = l.mac,
    ipv4 = l.ipv4, gateway = rec.gateway, prefix = rec.prefix, dns = rec.gateway,
    domain = M.DOMAIN, hostname = instance .. "." .. M.DOMAIN }
end

local function holders(rec)
  local users = {}
  for n in pairs(rec.leases) do users[#users + 1] = n end
  table.sort(users)
  return table.concat(users, ", ")
end

-- Makes the driver's networks on uri (nil: the engine) serve rec, which they
-- may only while no instance holds an address on it: the other side's
-- network goes.
local function serve_by(rec, uri, h, facts)
  local sb = drvnet.served(rec)
  if (sb and sb.uri) == uri then return end
  if next(rec.leases) then
    local kind = drvnet.kind()
    if uri then
      errors.raise(string.format("network: %s is served by moonbase's engine (bridge %s) and " ..
        "holds the addresses of %s, so it cannot become a %s network%s (try: delete those " ..
        "instances with --purge first, or run the new one with the driver that made them)",
        rec.name, rec.bridge, holders(rec), kind, uri ~= "" and (" on " .. uri) or ""), "state")
    end
    errors.raise(string.format("network: %s is a %s network (%s on %s) holding the " ..
      "addresses of %s, which only the %s driver can join (try: moonbase set local.driver=%s, " ..
      "or delete those instances with --purge first)", rec.name, kind, sb.name, sb.uri,
      holders(rec), kind, kind), "state")
  end
  if sb then
    drvnet.remove(rec)
  else
    local br = links_by_name(facts)[rec.bridge]
    if (br and ours(br, M.ALIAS_PREFIX .. rec.name)) or h.dnsmasq_pid(M.runtime_dir(rec.name)) then
      local ok, why = M.available()
      if not ok then
        errors.raise(string.format("network: %s is up on this host as moonbase's bridge %s, " ..
          "and taking it down for libvirt needs privileges: %s", rec.name, rec.bridge, why),
          "unsupported")
      end
      tear_down(rec, h, facts)
      sync_nat(h)
    end
  end
  rec.libvirt = nil -- (older records' name for served_by)
  rec.served_by = uri and drvnet.names(rec, uri) or nil
  save(rec)
end

-- The record of a network, creating moonbase0 on first use; moves moonbase0
-- to local.network.subnet when that changed and nothing uses the old one.
local function ensure_record(name, facts, h)
  local rec = M.get(name)
  local records = M.records()
  if not rec then
    if name ~= M.DEFAULT then
      errors.raise(string.format("network: there is no network \"%s\" (try: moonbase " ..
        "networks, or moonbase network create %s --subnet CIDR)", name, name), "notfound")
    end
    rec = new_record(name, choose_subnet(name, nil, facts, records), records)
    save(rec)
    return rec
  end
  local want = name == M.DEFAULT and setting_subnet()
  if want and want ~= rec.subnet then
    M.check_subnet_change(want)
    local ok, msg = M.check_subnet(want, { network = name, facts = facts, records = records })
    if not ok then errors.usage("local.network.subnet: " .. msg) end
    if h then tear_down(rec, h, facts) end
    local c = assert(ipv4.parse_cidr(want))
    rec.subnet, rec.gateway, rec.prefix = c.text, ipv4.format(c.network + 1), c.prefix
    save(rec)
    if h then
      for k, v in pairs(facts_of(h)) do facts[k] = v end
    end
  end
  return rec
end

---------------------------------------------------------------- requests
---Checks what launch asks for before anything is created: every network
---exists (moonbase0 always may), a requested address fits its subnet and is
---free, a MAC is well formed and unused, no network twice. Changes nothing.
---@param instance string
---@param requests {network: string, ip?: string, mac?: string}[]
function M.check_requests(instance, requests)
  local seen, records = {}, M.records()
  local macs = taken_sets(records)
  for _, r in ipairs(requests) do
    if seen[r.network] then
      errors.usage(string.format("launch: network %s is given twice", r.network))
    end
    seen[r.network] = true
    local rec = M.get(r.network)
    if not rec and r.network ~= M.DEFAULT then
      errors.raise(string.format("launch: there is no network \"%s\" (try: moonbase networks, " ..
        "or moonbase network create %s)", r.network, r.network), "notfound")
    end
    if r.ip then
      if not rec then
        errors.usage(string.format("launch: %s has no subnet yet, so ip=%s cannot be checked " ..
          "(create it first: moonbase network create %s --subnet CIDR)", r.network, r.ip,
          r.network))
      end
      local ok, msg = M.check_address(rec, r.ip, instance)
      if not ok then errors.usage("launch: " .. msg) end
    end
    if r.mac then
      local mac = errors.check("launch", M.check_mac(r.mac))
      local own = rec and rec.leases[instance]
      if macs[mac] and not (own and own.mac == mac) then
        errors.usage(string.format("launch: MAC address %s is already used by another " ..
          "instance", mac))
      end
    end
  end
end

---------------------------------------------------------------- the API
local function require_available(what)
  local ok, why = M.available()
  if not ok then
    errors.raise(string.format("%s: the private network is not available: %s", what, why),
      "unsupported")
  end
  return M.host()
end

---Puts an instance on a network: its lease (the same every time), the
---network brought up, its tap created, its DNS name and DHCP lease served.
---@param instance string
---@param o? {network?: string, mac?: string, ip?: string, uid?: integer}
---@return moonbase.Attachment
function M.attach(instance, o)
  o = o or {}
  local netname = o.network or M.DEFAULT
  errors.check("network", util.valid_name(instance))
  errors.check("network", M.valid_name(netname))
  if o.mac then errors.check("network", M.check_mac(o.mac)) end
  local uri = M.driver_serves()
  local h = uri and M.host() or require_available("network")
  local l <close> = lock()
  local facts = facts_of(h)
  local rec = ensure_record(netname, facts, not uri and h or nil)
  serve_by(rec, uri, h, facts)
  local lease = M.reserve(rec, instance, o, M.records())
  save(rec)
  if uri then
    drvnet.ensure(rec)
  else
    bring_up(rec, h, facts)
    if not drivers.has("bridge_nics") then ensure_tap(rec, instance, lease, h, facts, o.uid) end
  end
  return attachment(rec, instance)
end

---Removes an instance's taps (on stop); its addresses stay reserved.
---@param instance string
---@return string[] taps  the taps removed
function M.detach(instance)
  local removed = {}
  local recs = {}
  for _, r in ipairs(M.records()) do
    if r.leases[instance] then recs[#recs + 1] = r end
  end
  if #recs == 0 or not M.available() then return removed end
  local h = M.host()
  local l <close> = lock()
  local links = links_by_name(facts_of(h))
  for _, r in ipairs(recs) do
    local lease = r.leases[instance]
    local t = links[lease.tap]
    if t and ours(t, M.ALIAS_PREFIX .. instance .. "@" .. r.name) then
      errors.check("network", h.link_delete(lease.tap))
      removed[#removed + 1] = lease.tap
    end
  end
  return removed
end

---Frees an instance's addresses on every network (on delete --purge) and
---removes its taps and DNS names.
---@param instance string
---@return {network: string, ipv4: string}[] released
function M.release(instance)
  local released = {}
  local l <close> = lock()
  local h = M.available() and M.host() or nil
  local links = h and links_by_name(facts_of(h)) or {}
  for _, r in ipairs(M.records()) do
    local lease = r.leases[instance]
    if lease then
      r.leases[instance] = nil
      save(r)
      released[#released + 1] = { network = r.name, ipv4 = lease.ipv4 }
      if h then
        local t = links[lease.tap]
        if t and ours(t, M.ALIAS_PREFIX .. instance .. "@" .. r.name) then
          errors.check("network", h.link_delete(lease.tap))
        end
        if h.dnsmasq_pid(M.runtime_dir(r.name)) then
          errors.check("network", h.dnsmasq_hosts(M.runtime_dir(r.name), M.DOMAIN,
            dns_hosts_of(r)))
        end
      end
      if drvnet.served(r) then pcall(drvnet.refresh, r) end -- its DHCP and DNS host go
    end
  end
  return released
end

---Moves an instance's addresses and DNS names to its new name (rename): the
---same addresses, served as <new>.moonbase. Running it again after it is
---done changes nothing.
---@param old string
---@param new string
function M.rename(old, new)
  errors.check("network", util.valid_name(new))
  local l <close> = lock()
  local h = M.available() and M.host() or nil
  for _, r in ipairs(M.records()) do
    local lease = r.leases[old]
    if lease and not r.leases[new] then
      r.leases[new], r.leases[old] = lease, nil
      save(r)
      if h and h.dnsmasq_pid(M.runtime_dir(r.name)) then
        errors.check("network", h.dnsmasq_hosts(M.runtime_dir(r.name), M.DOMAIN,
          dns_hosts_of(r)))
      end
      if drvnet.served(r) then pcall(drvnet.refresh, r) end -- its DHCP and DNS host go
    end
  end
end

---An instance's attachments from the records (no host access), primary
---(moonbase0, else the first by name) first.
---@param instance string
---@return moonbase.Attachment[]
function M.attachments(instance)
  local out = {}
  for _, r in ipairs(M.records()) do
    if r.leases[instance] then out[#out + 1] = attachment(r, instance) end
  end
  return out
end

---Tells this host's kernel the MAC of each of the instance's addresses on
---the networks moonbase's engine serves here, so that the first connection
---to a guest whose address is not up yet does not wait for ARP (which asks
---again only once a second: about 0.7 s of every boot). Best effort: it
---needs the rights that bring the networks up, and failing changes nothing.
function M.hint_neighbours(instance)
  for _, a in ipairs(M.attachments(instance)) do
    if not a.driver_network and a.ipv4 and a.mac then
      pcall(M.host().neigh_hint, a.bridge, a.ipv4, a.mac)
    end
  end
end

---The primary address of an instance, or nil.
---@return string?
function M.address(instance)
  local a = M.attachments(instance)[1]
  return a and a.ipv4
end

---Creates a named network (or moonbase0 with a chosen subnet) and brings it
---up when this process may; otherwise it is recorded and comes up on first use.
---@param name string
---@param o? {subnet?: string}
---@return moonbase.NetworkRecord rec, boolean up, string? why_not
function M.create(name, o)
  o = o or {}
  errors.check("network create", M.valid_name(name))
  if o.subnet then
    local c, msg = ipv4.parse_cidr(o.subnet)
    if not c then errors.usage("network create: " .. msg) end
  end
  if name == M.DEFAULT and o.subnet and setting_subnet() and setting_subnet() ~= o.subnet then
    errors.usage(string.format("network create: %s's subnet is set by local.network.subnet " ..
      "(%s); change that setting instead", name, setting_subnet()))
  end
  -- every refusal comes before the lock, whose file it must not leave behind
  -- (and again under it, where the answer counts)
  local function prepare()
    local existing = M.get(name)
    if existing then
      errors.raise(string.format("network create: network \"%s\" already exists (%s)", name,
        existing.subnet), "exists")
    end
    local h = M.host()
    local hfacts = facts_of(h)
    local records = M.records()
    local rec = new_record(name, choose_subnet(name, o.subnet, hfacts, records), records)
    local links = links_by_name(hfacts)
    if links[rec.bridge] and not ours(links[rec.bridge], M.ALIAS_PREFIX .. name) then
      errors.raise(string.format("network create: the interface %s exists already and is " ..
        "not moonbase's", rec.bridge), "exists")
    end
    return rec, h, hfacts
  end
  prepare()
  local l <close> = lock()
  local rec, h, hfacts = prepare()
  local uri = M.driver_serves()
  if uri then
    rec.served_by = drvnet.names(rec, uri)
    save(rec)
    local ok, err = pcall(drvnet.ensure, rec)
    if not ok then
      fs.remove(record_path(name)) -- nothing stays of a network libvirt refused
      error(err, 0)
    end
    return rec, true
  end
  local up, why = M.available()
  save(rec)
  if up then bring_up(rec, h, hfacts) end
  return rec, up, why
end

---Deletes a network that no instance uses: its dnsmasq, bridge and record.
---@param name string
function M.delete(name)
  errors.check("network delete", M.valid_name(name))
  local function get()
    local rec = M.get(name)
    if not rec then
      errors.raise(string.format("network delete: there is no network \"%s\" (try: moonbase " ..
        "networks)", name), "notfound")
    end
    return rec
  end
  get() -- before the lock, whose file a refusal must not leave behind
  local l <close> = lock()
  local rec = get()
  local users = {}
  for n in pairs(rec.leases) do users[#users + 1] = n end
  if #users > 0 then
    table.sort(users)
    errors.raise(string.format("network delete: %s is used by %s (delete %s with --purge " ..
      "first)", name, table.concat(users, ", "), #users == 1 and "it" or "them"), "state")
  end
  if drvnet.served(rec) then drvnet.remove(rec) end
  local h = M.host()
  local hfacts = facts_of(h)
  local links = links_by_name(hfacts)
  local on_host = links[rec.bridge] or h.dnsmasq_pid(M.runtime_dir(name))
  if on_host then
    local ok, why = M.available()
    if not ok then
      errors.raise(string.format("network delete: %s is up on this host and taking it down " ..
        "needs privileges: %s", name, why), "unsupported")
    end
    tear_down(rec, h, hfacts)
  end
  errors.check("network delete", fs.remove(record_path(name)))
  fs.rmtree(M.runtime_dir(name))
  if on_host then sync_nat(h) end
  return rec
end

---Removes every bridge, tap, dnsmasq and NAT table of moonbase's from this
---host (this network namespace). Records and leases stay: the next attach
---brings a network back with the same addresses.
---@param o? {force?: boolean}  also when taps are in use by running instances
---@return {links: string[], dnsmasq: integer[], nat: boolean}
function M.prune(o)
  o = o or {}
  -- the driver's networks of this home (local.libvirt.networking=libvirt, remote hosts)
  local lvnets, lvfailed = drvnet.ours(M.records())
  local h = (#lvnets == 0 or M.available()) and require_available("networks --prune") or nil
  local l <close> = lock()
  local links = h and errors.check("network", h.links()) or {}
  local mine, busy = {}, {}
  for _, k in ipairs(links) do
    if (k.alias or ""):sub(1, #M.ALIAS_PREFIX) == M.ALIAS_PREFIX then
      mine[#mine + 1] = k
      if k.kind == "tun" and k.running then busy[#busy + 1] = k.alias:sub(#M.ALIAS_PREFIX + 1) end
    end
  end
  for _, n in ipairs(lvnets) do
    if n.ports > 0 then busy[#busy + 1] = n.network .. " (libvirt network " .. n.name .. ")" end
  end
  if #busy > 0 and not o.force then
    table.sort(busy)
    errors.raise(string.format("networks --prune: instances are using moonbase's network " ..
      "(%s): stop them first, or use --force", table.concat(busy, ", ")), "state")
  end
  -- taps before bridges
  table.sort(mine, function(a, b)
    if (a.kind == "tun") ~= (b.kind == "tun") then return a.kind == "tun" end
    return a.name < b.name
  end)
  local out = { links = {}, dnsmasq = {}, nat = false, libvirt = {}, libvirt_failed = lvfailed }
  for _, n in ipairs(lvnets) do
    drvnet.remove_named(n.uri, n.name)
    out.libvirt[#out.libvirt + 1] = n.name
  end
  if not h then return out end
  for _, pid in ipairs(h.dnsmasq_all()) do
    errors.check("network", h.dnsmasq_kill(pid))
    out.dnsmasq[#out.dnsmasq + 1] = pid
  end
  for _, r in ipairs(M.records()) do h.dnsmasq_stop(M.runtime_dir(r.name)) end
  for _, k in ipairs(mine) do
    errors.check("network", h.link_delete(k.name))
    out.links[#out.links + 1] = k.name
  end
  if errors.check("network", h.nat_exists()) then
    errors.check("network", h.nat_apply({}))
    out.nat = true
  end
  return out
end

---------------------------------------------------------------- cloud-init
-- (the netplan v2 network-config of the attachments: moonbase._core.netplan)
M.cloud_init_config = function(attachments) return netplan.config(attachments) end
M.cloud_init_yaml = function(attachments) return netplan.yaml(attachments) end

---------------------------------------------------------------- settings
settings.register("local.network.subnet", {
  type = "string", default = "auto",
  validate = function(v) return M.check_subnet_setting(v) end,
  check = function(v) M.check_subnet_change(v) end,
  help = "the subnet of the default network moonbase0 (CIDR, e.g. 10.77.0.0/24); auto " ..
    "picks a free one the first time moonbase0 is created and keeps it",
})

return M
