-- The host side of a network moonbase's engine serves: its Linux bridge with
-- exactly the gateway address, one tap per attached instance, its dnsmasq
-- (DNS for <instance>.moonbase and the host's names, a static DHCP lease per
-- MAC) and the NAT table, done through a host backend h (moonbase.engine.net or the fake of
-- moonbase._core.netfake). Links are moonbase's when their alias says so
-- ("moonbase:<network>", "moonbase:<instance>@<network>"): nothing else is
-- ever changed or removed. The records and the API are moonbase._core.network.
-- layer: services
local paths = require("moonbase._core.paths")
local errors = require("moonbase.errors")

local M = {}

M.DEFAULT = "moonbase0"
M.DOMAIN = "moonbase"
M.ALIAS_PREFIX = "moonbase:"

---The runtime directory of a network (dnsmasq conf, pid, hosts, leases).
function M.runtime_dir(name) return paths.data .. "/networks/" .. name end

local net = M

function M.links_by_name(facts)
  local t = {}
  for _, l in ipairs(facts.links) do t[l.name] = l end
  return t
end

function M.ours(link, alias)
  return link.alias == alias
end

---The names the host answers to on its networks (at the gateway address):
---"host" (host.moonbase), and the host's own name when it is a DNS label.
function M.host_names()
  local fs = require("moonbase.engine.fs")
  local own = (fs.read("/proc/sys/kernel/hostname") or ""):match("^%s*(.-)%s*$")
  local names = { "host" }
  own = own:match("^([%w-]+)") -- the first label of a host name with dots
  if own and own ~= "host" and not own:match("^-") and #own <= 63 then
    names[#names + 1] = own:lower()
  end
  return names
end

---The DHCP/DNS hosts of a network: {name, mac, ipv4} per lease, by name.
function M.hosts_of(rec)
  local out = {}
  for name, l in pairs(rec.leases) do
    out[#out + 1] = { name = name, mac = l.mac, ipv4 = l.ipv4 }
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

---What the engine's dnsmasq answers: the leases (hosts_of), then the host's
---names at the gateway (DNS only, no MAC; an instance of that name keeps it).
function M.dns_hosts_of(rec)
  local out = M.hosts_of(rec)
  for _, n in ipairs(M.host_names()) do
    if not rec.leases[n] then out[#out + 1] = { name = n, ipv4 = rec.gateway } end
  end
  return out
end

---The NAT table for every network (of records) whose bridge is on the host,
---and extra's, about to come up.
function M.sync_nat(h, records, extra)
  local links = M.links_by_name({ links = errors.check("network", h.links()) })
  local nets = {}
  for _, r in ipairs(records) do
    if links[r.bridge] or r.name == extra then
      nets[#nets + 1] = { bridge = r.bridge, subnet = r.subnet }
    end
  end
  errors.check("network", h.nat_apply(nets))
end

---Bridge with exactly the gateway address, forwarding, NAT, dnsmasq.
function M.bring_up(rec, h, facts, records)
  local alias = net.ALIAS_PREFIX .. rec.name
  local br = M.links_by_name(facts)[rec.bridge]
  if br and not M.ours(br, alias) then
    errors.raise(string.format("network: the interface %s exists but is not moonbase's " ..
      "(remove it, or delete and re-create the network %s)", rec.bridge, rec.name))
  end
  if not br then errors.check("network", h.bridge_create(rec.bridge, { alias = alias })) end
  local rdir = net.runtime_dir(rec.name)
  -- a dnsmasq bound to a bridge that was deleted under it serves nothing
  if not br then errors.check("network", h.dnsmasq_stop(rdir)) end
  for _, a in ipairs(facts.addresses) do
    if a.dev == rec.bridge and (a.address ~= rec.gateway or a.prefix ~= rec.prefix) then
      errors.check("network", h.address_delete(rec.bridge, a.address, a.prefix))
    end
  end
  errors.check("network", h.address_add(rec.bridge, rec.gateway, rec.prefix))
  errors.check("network", h.link_set(rec.bridge, { up = true }))
  errors.check("network", h.ip_forward(true))
  M.sync_nat(h, records, rec.name)
  errors.check("network", h.dnsmasq_hosts(rdir, net.DOMAIN, M.dns_hosts_of(rec)))
  errors.check("network", h.dnsmasq_start({ name = rec.name, dir = rdir, bridge = rec.bridge,
    address = rec.gateway, prefix = rec.prefix, domain = net.DOMAIN }))
end

---Stops dnsmasq and removes the bridge and taps of one network.
function M.tear_down(rec, h, facts)
  errors.check("network", h.dnsmasq_stop(net.runtime_dir(rec.name)))
  local links = M.links_by_name(facts)
  for inst, l in pairs(rec.leases) do
    local t = links[l.tap]
    if t and M.ours(t, net.ALIAS_PREFIX .. inst .. "@" .. rec.name) then
      errors.check("network", h.link_delete(l.tap))
    end
  end
  local br = links[rec.bridge]
  if br and M.ours(br, net.ALIAS_PREFIX .. rec.name) then
    errors.check("network", h.link_delete(rec.bridge))
  end
end

---The instance's tap on the network's bridge, up (made when missing).
function M.ensure_tap(rec, instance, lease, h, facts, uid)
  local alias = net.ALIAS_PREFIX .. instance .. "@" .. rec.name
  local t = M.links_by_name(facts)[lease.tap]
  if t and not M.ours(t, alias) then
    errors.raise(string.format("network: the interface %s exists but is not %s's tap " ..
      "(remove it: ip link delete %s)", lease.tap, instance, lease.tap))
  end
  if not t then
    errors.check("network", h.tap_create(lease.tap, { alias = alias, uid = uid }))
  end
  errors.check("network", h.link_set(lease.tap, { master = rec.bridge, up = true }))
end

return M
