-- moonbase networks served by the driver: when the driver says its own
-- networks serve NICs (net_backend "driver": libvirt on a remote host, or
-- with local.libvirt.networking=libvirt), a moonbase network is a network
-- moonbase defines through the driver's network slots (NAT, DNS for
-- <instance>.moonbase, a static DHCP host per instance MAC) instead of the
-- engine's bridge, taps and dnsmasq. The addresses stay moonbase's
-- (moonbase._core.network's records and IPAM): the driver's network is made
-- to hold exactly the record's leases.
--
-- A record served so carries rec.served_by = {uri, name, bridge}: the
-- network "mb-<network>-<8 hex of this moonbase home>" on the driver's host
-- uri, on a bridge "mbv<8 hex>", which never collides with the engine's
-- moonbase0 / mb-<name>. Such networks carry moonbase's name for them, which
-- is how listing and prune know them (and never touch another network).
-- (Records written before the driver table had this as rec.libvirt.)
-- layer: services
local paths = require("moonbase._core.paths")
local drivers = require("moonbase._core.drivers")
local ipam = require("moonbase._core.ipam")
local nethost = require("moonbase._core.nethost")
local errors = require("moonbase.errors")

local M = {}

M.DOMAIN = "moonbase"

---The 8 hex digits naming this moonbase home's networks.
function M.home_tag()
  return string.format("%08x", ipam.fnv(paths.data))
end

---Who serves a record: rec.served_by (rec.libvirt in older records).
function M.served(rec)
  return rec.served_by or rec.libvirt
end

-- The driver whose network slots serve networks: the current one when it has
-- them, else the first registered one that does (for records it served).
local function server()
  local conn, name = drivers.current()
  if drivers.info(name).has.networks then return conn, name end
  for _, n in ipairs(drivers.list()) do
    local i = drivers.info(n)
    if i and i.has.networks then return drivers.open(n), n end
  end
end

---The name of the driver whose networks serve moonbase's (for people).
function M.kind()
  local _, name = server()
  return name or "driver"
end

---The host (URI) on which the current driver wants moonbase's networks
---served by its own networks, or nil (the engine, or a simulated host,
---serves them).
---@return string?
function M.wanted()
  if drivers.net_backend(nil) ~= "driver" then return nil end
  local hs = drivers.host_setting()
  local conn = drivers.current()
  return hs and conn:config(hs.name) or ""
end

---What a record served on uri records: the network's and its bridge's names.
---@param rec moonbase.NetworkRecord
---@param uri string
function M.names(rec, uri)
  local name = "mb-" .. rec.name .. "-" .. M.home_tag()
  return { uri = uri, name = name, bridge = string.format("mbv%08x", ipam.fnv(name)) }
end

---The spec the driver defines the network from.
function M.spec(rec)
  local sb = M.served(rec)
  return { name = sb.name, network = rec.name, bridge = sb.bridge, gateway = rec.gateway,
    prefix = rec.prefix, domain = M.DOMAIN, hosts = nethost.hosts_of(rec) }
end

local function host_of(uri) return uri ~= "" and uri or nil end

---Defines and starts the record's network, or brings its hosts in line with
---the record's leases while it runs (instances stay connected).
function M.ensure(rec)
  errors.check("network", server():network_ensure(host_of(M.served(rec).uri), M.spec(rec)))
end

---The record's network as the driver lists it, or nil; raises when the
---driver's host does not answer.
function M.find(rec)
  local sb = M.served(rec)
  for _, n in ipairs(errors.check("network", server():network_list(host_of(sb.uri)))) do
    if n.name == sb.name then return n end
  end
end

---Drops hosts that left the record from the running network (after a
---release); a network that is not running is left as it is.
function M.refresh(rec)
  local n = M.find(rec)
  if n and n.active then M.ensure(rec) end
end

---Removes a network of this home by name from the driver's host uri.
function M.remove_named(uri, name)
  return errors.check("network", server():network_remove(host_of(uri), name))
end

---Destroys and undefines the record's network; whether it existed.
function M.remove(rec)
  local sb = M.served(rec)
  return M.remove_named(sb.uri, sb.name)
end

-- The URIs where this home may have networks: the records' and the current
-- driver's.
local function uris(records)
  local seen, out = {}, {}
  local function add(u)
    if u and not seen[u] then seen[u] = true; out[#out + 1] = u end
  end
  for _, r in ipairs(records) do add(M.served(r) and M.served(r).uri) end
  local _, name = drivers.current()
  if drivers.info(name).has.networks then
    local hs = drivers.host_setting(name)
    add(hs and drivers.current():config(hs.name) or "")
  end
  return out
end

---This home's networks on every URI it uses: {uri, name, network, bridge,
---active, ports}; URIs whose host does not answer in `failed`.
---@return table[] nets, {uri: string, message: string}[] failed
function M.ours(records)
  local suffix = "-" .. M.home_tag()
  local out, failed = {}, {}
  local list = uris(records)
  local srv = #list > 0 and server() or nil
  for _, uri in ipairs(list) do
    local nets, msg = srv:network_list(host_of(uri))
    if not nets then failed[#failed + 1] = { uri = uri, message = msg } end
    for _, n in ipairs(nets or {}) do
      if n.network and n.name == "mb-" .. n.network .. suffix then
        n.uri = uri
        out[#out + 1] = n
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out, failed
end

---Every network the current driver's host has, for `moonbase networks`
---(nil when the driver has no networks of its own or its host does not
---answer). Moonbase's own ones carry `network`; `kind` names the driver.
---@return table[]?
function M.all()
  local conn, name = drivers.current()
  if not drivers.info(name).has.networks then return nil end
  local hs = drivers.host_setting(name)
  local uri = hs and conn:config(hs.name) or ""
  local list = conn:network_list(host_of(uri))
  if not list then return nil end
  for _, n in ipairs(list) do n.uri, n.kind = uri, name end
  return list
end

return M
