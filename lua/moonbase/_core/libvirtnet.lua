-- moonbase networks served by libvirt: under the libvirt driver with
-- local.libvirt.networking=libvirt, or on a remote libvirt host (always), a
-- moonbase network is a libvirt network that moonbase defines (NAT, DNS for
-- <instance>.moonbase, a static DHCP host per instance MAC; see
-- drivers/libvirt/libvirt_net.c) instead of the engine's bridge, taps and
-- dnsmasq. The addresses stay moonbase's (moonbase.network's records and
-- IPAM): the libvirt network is made to hold exactly the record's leases.
--
-- A record served so carries rec.libvirt = {uri, name, bridge}: the libvirt
-- network "mb-<network>-<8 hex of this moonbase home>" on a bridge
-- "mbv<8 hex>", which never collides with the engine's moonbase0 / mb-<name>.
-- Such networks carry moonbase's metadata, which is how listing and prune know
-- them (and never touch another libvirt network).
-- layer: services
local settings = require("moonbase._core.settings")
local drivers = require("moonbase._core.drivers")
local paths = require("moonbase._core.paths")
local ipam = require("moonbase._core.ipam")
local errors = require("moonbase.errors")

local M = {}

M.DOMAIN = "moonbase"

local function core() return require("moonbase.engine.libvirt") end

---The 8 hex digits naming this moonbase home's libvirt networks.
function M.home_tag()
  return string.format("%08x", ipam.fnv(paths.data))
end

---The URI of the libvirt connection on which the current driver wants
---moonbase's networks served by libvirt, or nil (the engine serves them).
---@return string?
function M.wanted()
  local _, drv = drivers.current()
  if drv ~= "libvirt" then return nil end
  local uri = settings.get("local.libvirt.uri")
  if settings.get("local.libvirt.networking") == "libvirt" or core().is_remote(uri) then
    return uri
  end
end

---What a record served by libvirt on uri records: the network's and its
---bridge's names.
---@param rec moonbase.NetworkRecord
---@param uri string
function M.names(rec, uri)
  local name = "mb-" .. rec.name .. "-" .. M.home_tag()
  return { uri = uri, name = name, bridge = string.format("mbv%08x", ipam.fnv(name)) }
end

---The spec moonbase.engine.libvirt defines the network from.
function M.spec(rec)
  local hosts = {}
  for inst, l in pairs(rec.leases) do
    hosts[#hosts + 1] = { name = inst, mac = l.mac, ipv4 = l.ipv4 }
  end
  table.sort(hosts, function(a, b) return a.ipv4 < b.ipv4 end)
  return { name = rec.libvirt.name, network = rec.name, bridge = rec.libvirt.bridge,
    gateway = rec.gateway, prefix = rec.prefix, domain = M.DOMAIN, hosts = hosts }
end

---Defines and starts the record's libvirt network, or brings its hosts in
---line with the record's leases while it runs (domains stay connected).
function M.ensure(rec)
  errors.check("network", core().network_ensure(rec.libvirt.uri, M.spec(rec)))
end

---The libvirt network of rec as libvirt lists it, or nil; raises when
---libvirtd does not answer.
function M.find(rec)
  for _, n in ipairs(errors.check("network", core().networks(rec.libvirt.uri))) do
    if n.name == rec.libvirt.name then return n end
  end
end

---Drops hosts that left the record from the running network (after a
---release); a network that is not running is left as it is.
function M.refresh(rec)
  local n = M.find(rec)
  if n and n.active then M.ensure(rec) end
end

---Destroys and undefines a libvirt network of this home by name.
function M.remove_named(uri, name)
  return errors.check("network", core().network_remove(uri, name))
end

---Destroys and undefines the record's libvirt network; whether it existed.
function M.remove(rec)
  return errors.check("network", core().network_remove(rec.libvirt.uri, rec.libvirt.name))
end

-- The URIs where this home may have libvirt networks: the records' and the
-- current driver's.
local function uris(records)
  local seen, out = {}, {}
  local function add(u)
    if u and not seen[u] then seen[u] = true; out[#out + 1] = u end
  end
  for _, r in ipairs(records) do add(r.libvirt and r.libvirt.uri) end
  local _, drv = drivers.current()
  if drv == "libvirt" then add(settings.get("local.libvirt.uri")) end
  return out
end

---This home's libvirt networks on every URI it uses: {uri, name, network,
---bridge, active, ports}; URIs whose libvirtd does not answer in `failed`.
---@return table[] nets, {uri: string, message: string}[] failed
function M.ours(records)
  local suffix = "-" .. M.home_tag()
  local out, failed = {}, {}
  for _, uri in ipairs(uris(records)) do
    local list, msg = core().networks(uri)
    if not list then failed[#failed + 1] = { uri = uri, message = msg } end
    for _, n in ipairs(list or {}) do
      if n.network and n.name == "mb-" .. n.network .. suffix then
        n.uri = uri
        out[#out + 1] = n
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out, failed
end

---Every libvirt network the current libvirt driver's connection has, for
---`moonbase networks` (nil when the driver is not libvirt or libvirtd does
---not answer). Moonbase's own ones carry `network`.
---@return table[]?
function M.all()
  local _, drv = drivers.current()
  if drv ~= "libvirt" then return nil end
  local uri = settings.get("local.libvirt.uri")
  local list = core().networks(uri)
  if not list then return nil end
  for _, n in ipairs(list) do n.uri = uri end
  return list
end

return M
