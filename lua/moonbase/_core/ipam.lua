-- The pure part of moonbase.network: names (bridges, taps, MACs, networks),
-- subnets (what the host occupies, picking a free one, checking a requested
-- one), address management on a network record (allocate, check, reserve),
-- and parsing `--network` values. No I/O: callers pass the host's facts and
-- the network records; moonbase.network re-exports everything here.
-- layer: services
local names = require("moonbase._core.names")
local ipv4 = require("moonbase._core.ipv4")
local errors = require("moonbase.errors")

local M = {}

local DEFAULT = "moonbase0"

local function now() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

---------------------------------------------------------------- names
local function fnv(s)
  local h = 2166136261
  for i = 1, #s do h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff end
  return h
end
M.fnv = fnv -- FNV-1a, 32 bits: the stable hash of the names below

---Checks a network name: ^[a-z][a-z0-9-]*$, at most 32 characters.
---@return boolean?, string?
function M.valid_name(name)
  return names.valid_network(name)
end

---The bridge a network gets: moonbase0 for the default, else "mb-<name>"
---(shortened with a hash to fit the kernel's 15 characters).
---@param name string
---@param taken? table<string, boolean>  bridge names already used
function M.bridge_name(name, taken)
  taken = taken or {}
  if name == DEFAULT then return DEFAULT end
  for i = 0, 99 do
    local b = "mb-" .. name
    if #b > 15 or i > 0 then
      b = string.format("mb-%s-%04x", (name:sub(1, 7):gsub("%-+$", "")), fnv(name .. i) & 0xffff)
    end
    if not taken[b] then return b end
  end
  errors.raise("network: cannot find a free bridge name for " .. name)
end

---The tap of an instance on a network: "mbt" + 8 hex digits (stable).
function M.tap_name(instance, network, taken)
  taken = taken or {}
  for i = 0, 99 do
    local t = string.format("mbt%08x", fnv(instance .. "@" .. network .. (i > 0 and i or "")))
    if not taken[t] then return t end
  end
  errors.raise("network: cannot find a free tap name for " .. instance)
end

---A MAC in QEMU's range 52:54:00 for an instance on a network (stable).
function M.mac_for(instance, network, taken)
  taken = taken or {}
  for i = 0, 999 do
    local h = fnv("mac:" .. instance .. "@" .. network .. (i > 0 and i or ""))
    local m = string.format("52:54:00:%02x:%02x:%02x", (h >> 16) & 255, (h >> 8) & 255, h & 255)
    if not taken[m] then return m end
  end
  errors.raise("network: cannot find a free MAC address for " .. instance)
end

---Checks a MAC: six hex pairs, unicast. Returns it lowercased.
function M.check_mac(mac)
  if type(mac) ~= "string" or not mac:match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$") then
    return nil, string.format("invalid MAC address \"%s\" (use six hex pairs, e.g. " ..
      "52:54:00:12:34:56)", tostring(mac)), "usage"
  end
  if tonumber(mac:sub(1, 2), 16) & 1 == 1 then
    return nil, string.format("MAC address %s is a multicast address (the first byte must " ..
      "be even)", mac), "usage"
  end
  return mac:lower()
end

---------------------------------------------------------------- subnets
---@class moonbase.Occupied
---@field cidr moonbase.Cidr
---@field what string

---What the host already uses: its routes (not the default route) and the
---networks of its addresses, except on the devices in `except`.
---@param facts {routes: table[], addresses: table[]}
---@param except? table<string, boolean>  device names to ignore (a network's own bridge)
---@return moonbase.Occupied[]
function M.occupied(facts, except)
  except = except or {}
  local out = {}
  for _, r in ipairs(facts.routes or {}) do
    local n = r.dst and ipv4.parse(r.dst)
    if n and r.prefix and r.prefix > 0 and not except[r.dev or ""] then
      local c = ipv4.cidr(n, r.prefix)
      out[#out + 1] = { cidr = c, what = "the host's route to " .. c.text ..
        (r.dev and (" on " .. r.dev) or "") }
    end
  end
  for _, a in ipairs(facts.addresses or {}) do
    local n = ipv4.parse(a.address)
    if n and a.dev ~= "lo" and not except[a.dev or ""] then
      out[#out + 1] = { cidr = ipv4.cidr(n, a.prefix or 32), what = "the host's address " ..
        a.address .. "/" .. (a.prefix or 32) .. (a.dev and (" on " .. a.dev) or "") }
    end
  end
  return out
end

local function first_overlap(c, occupied)
  for _, o in ipairs(occupied) do
    if ipv4.overlaps(c, o.cidr) then return o end
  end
end

---A free /24 for a network: 10.<x>.<y>.0/24 in an order seeded by the name
---(so a host tends to get the same subnet again), then 172.16-31.y and
---192.168.y. Nil when every candidate collides.
---@param occupied moonbase.Occupied[]
---@param seed? string
---@return string?
function M.pick_subnet(occupied, seed)
  local h = fnv(seed or DEFAULT)
  local wide = first_overlap(ipv4.parse_cidr("10.0.0.0/8"), occupied)
  if not (wide and wide.cidr.prefix <= 8) then
    local span = 191 * 256 -- x from 64 to 254
    for i = 0, span - 1 do
      local idx = (h + i * 7919) % span
      local c = ipv4.cidr((10 << 24) | ((64 + idx // 256) << 16) | ((idx % 256) << 8), 24)
      if not first_overlap(c, occupied) then return c.text end
    end
  end
  for x = 16, 31 do
    for y = 0, 255 do
      local c = ipv4.cidr((172 << 24) | (x << 16) | (((h + y) % 256) << 8), 24)
      if not first_overlap(c, occupied) then return c.text end
    end
  end
  for y = 0, 255 do
    local c = ipv4.cidr((192 << 24) | (168 << 16) | (((h + y) % 256) << 8), 24)
    if not first_overlap(c, occupied) then return c.text end
  end
  return nil
end

---Checks a subnet a user asks for: CIDR, a private range, room for
---instances, no overlap with the host or with another moonbase network.
---@param text string
---@param o? {network?: string, facts?: table, records?: moonbase.NetworkRecord[]}
---@return moonbase.Cidr?, string?
function M.check_subnet(text, o)
  o = o or {}
  local c, msg = ipv4.parse_cidr(text)
  if not c then return nil, msg end
  if c.prefix < 8 or c.prefix > 29 then
    return nil, string.format("%s: the prefix length must be 8 to 29 (a /24 holds 253 " ..
      "instances)", text)
  end
  if not ipv4.is_private(c) then
    return nil, string.format("%s is not a private range: use one inside 10.0.0.0/8, " ..
      "172.16.0.0/12 or 192.168.0.0/16", text)
  end
  local occupied, except = {}, {}
  for _, r in ipairs(o.records or {}) do
    if r.name ~= o.network then
      occupied[#occupied + 1] = { cidr = assert(ipv4.parse_cidr(r.subnet)),
        what = "moonbase network " .. r.name .. " (" .. r.subnet .. ")" }
    else
      except[r.bridge] = true -- its own bridge's route is no collision
    end
  end
  if o.network == DEFAULT then except[DEFAULT] = true end
  for _, x in ipairs(M.occupied(o.facts or {}, except)) do occupied[#occupied + 1] = x end
  local hit = first_overlap(c, occupied)
  if hit then
    local free = M.pick_subnet(occupied, o.network)
    return nil, string.format("%s overlaps %s%s", text, hit.what,
      free and (" (try: " .. free .. ")") or "")
  end
  return c
end

---------------------------------------------------------------- IPAM
---MACs, taps and bridges the records use (sets).
function M.taken_sets(records)
  local macs, taps, bridges = {}, {}, {}
  for _, r in ipairs(records) do
    if r.bridge then bridges[r.bridge] = true end
    for _, l in pairs(r.leases or {}) do -- a lease of a driver's network may have no tap
      if l.mac then macs[l.mac] = true end
      if l.tap then taps[l.tap] = true end
    end
  end
  return macs, taps, bridges
end

local function host_range(rec)
  local c = assert(ipv4.parse_cidr(rec.subnet))
  local first, last = ipv4.hosts(c)
  return c, first, last
end

---Checks a requested address against a network: inside its subnet, not its
---network/broadcast/gateway address, not leased to another instance.
---@return integer? address, string? message
function M.check_address(rec, ip, instance)
  local n, msg = ipv4.parse(ip)
  if not n then return nil, msg end
  local c, first, last = host_range(rec)
  local range = ipv4.format(first + 1) .. " to " .. ipv4.format(last)
  if not ipv4.contains(c, n) then
    return nil, string.format("%s is not in %s's subnet %s (use an address from %s)", ip,
      rec.name, rec.subnet, range)
  end
  if n < first or n > last then
    return nil, string.format("%s is the network or broadcast address of %s (use an address " ..
      "from %s)", ip, rec.subnet, range)
  end
  if ip == rec.gateway then
    return nil, string.format("%s is %s's gateway, the host's address on it (use an address " ..
      "from %s)", ip, rec.name, range)
  end
  for other, l in pairs(rec.leases) do
    if l.ipv4 == ip and other ~= instance then
      return nil, string.format("%s on %s is already used by %s (pick another address, or " ..
        "leave out ip= to get a free one)", ip, rec.name, other)
    end
  end
  return n
end

---The lowest free address of a network, or nil, message.
function M.allocate(rec)
  local _, first, last = host_range(rec)
  local used = { [rec.gateway] = true }
  local count = 0
  for _, l in pairs(rec.leases) do used[l.ipv4] = true; count = count + 1 end
  for n = first, last do
    local a = ipv4.format(n)
    if not used[a] then return a end
  end
  return nil, string.format("no free address left on %s (%s, %d instances): delete some " ..
    "with --purge, or use a network with a larger subnet", rec.name, rec.subnet, count)
end

---Gives an instance its lease on a network (the same one every time):
---validates a requested address or MAC, else allocates. Changes rec only.
---@param rec moonbase.NetworkRecord
---@param instance string
---@param o? {ip?: string, mac?: string}
---@param records? moonbase.NetworkRecord[]  every network, for MAC/tap uniqueness
---@return moonbase.Lease lease, boolean new
function M.reserve(rec, instance, o, records)
  o = o or {}
  local mac
  if o.mac then mac = errors.check("network", M.check_mac(o.mac)) end
  local lease = rec.leases[instance]
  if lease then
    if o.ip and o.ip ~= lease.ipv4 then
      errors.usage(string.format("network: %s already has %s on %s; an instance keeps its " ..
        "address (leave out ip=, or delete the instance with --purge first)", instance,
        lease.ipv4, rec.name))
    end
    if mac and mac ~= lease.mac then lease.mac = mac end
    return lease, false
  end
  local macs, taps = M.taken_sets(records or { rec })
  local ip
  if o.ip then
    errors.check("network", M.check_address(rec, o.ip, instance))
    ip = o.ip
  else
    ip = errors.check("network", M.allocate(rec))
  end
  if mac and macs[mac] then
    errors.usage(string.format("network: MAC address %s is already used by another instance",
      mac))
  end
  lease = { ipv4 = ip, mac = mac or M.mac_for(instance, rec.name, macs),
    tap = M.tap_name(instance, rec.name, taps), static = o.ip and true or nil, created = now() }
  rec.leases[instance] = lease
  return lease, true
end

---------------------------------------------------------------- requests
---Parses a `--network` value: "NAME" or "name=NAME[,ip=A.B.C.D][,mac=M][,mode=auto|manual]".
---@param text string
---@return {network: string, ip?: string, mac?: string, mode: string}
function M.parse_request(text)
  local o = { mode = "auto" }
  if type(text) ~= "string" or text == "" then
    errors.usage("--network needs a value: NAME or name=NAME[,ip=ADDRESS][,mac=MAC]" ..
      "[,mode=auto|manual]")
  end
  if not text:find("=", 1, true) then
    o.network = text
  else
    for part in (text .. ","):gmatch("([^,]*),") do
      local k, v = part:match("^([%w-]+)=(.*)$")
      if not k or v == "" then
        errors.usage(string.format("--network %s: \"%s\" is not KEY=VALUE (keys: name, ip, " ..
          "mac, mode)", text, part))
      end
      if k == "name" then o.network = v
      elseif k == "ip" then o.ip = v
      elseif k == "mac" then o.mac = v
      elseif k == "mode" then
        if v ~= "auto" and v ~= "manual" then
          errors.usage(string.format("--network %s: mode must be auto or manual", text))
        end
        o.mode = v
      else
        errors.usage(string.format("--network %s: unknown key \"%s\" (keys: name, ip, mac, " ..
          "mode)", text, k))
      end
    end
  end
  if not o.network then errors.usage("--network " .. text .. ": name=NAME is missing") end
  local ok, msg = M.valid_name(o.network)
  if not ok then errors.usage("--network: " .. msg) end
  if o.mode == "manual" and o.ip then
    errors.usage(string.format("--network %s: mode=manual leaves the NIC to the guest, so " ..
      "ip= cannot apply (drop ip=, or use mode=auto)", text))
  end
  if o.mode == "manual" and o.network == "moonbase0" then
    errors.usage(string.format("--network %s: moonbase0 is the instance's own network and " ..
      "is always configured (mode=manual is for extra networks)", text))
  end
  if o.mac then o.mac = errors.check("--network", M.check_mac(o.mac)) end
  return o
end

return M
