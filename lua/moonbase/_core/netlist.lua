-- What `moonbase networks` and `moonbase hosts` show, read from moonbase's
-- network records (moonbase._core.network), the host's links and addresses,
-- and the networks of the driver's own (moonbase._core.drvnet).
-- layer: services
local errors = require("moonbase.errors")
local nethost = require("moonbase._core.nethost")
local M = require("moonbase._core.network")
local drvnet = require("moonbase._core.drvnet")

local L = {}

---Rows for `moonbase networks`: moonbase's networks, then host bridges and
---ethernet devices.
---@return table[]
function L.list()
  local h = M.host()
  local links = errors.check("networks", h.links())
  local addrs = errors.check("networks", h.addresses())
  local by = {}
  for _, k in ipairs(links) do by[k.name] = k end
  local first_addr = {}
  for _, a in ipairs(addrs) do
    first_addr[a.dev] = first_addr[a.dev] or (a.address .. "/" .. a.prefix)
  end
  local rows, shown = {}, {}
  -- the driver's own networks (nil under drivers that have none)
  local lvall, lvby, lvshown = drvnet.all(), {}, {}
  for _, n in ipairs(lvall or {}) do lvby[n.name] = n end
  for _, r in ipairs(M.records()) do
    local n = 0
    for _ in pairs(r.leases) do n = n + 1 end
    local br = by[r.bridge]
    local up = br and nethost.ours(br, M.ALIAS_PREFIX .. r.name)
    local desc = r.name == M.DEFAULT and "moonbase's default network" or "moonbase network"
    local bridge = r.bridge
    local sb = drvnet.served(r)
    if sb then
      local okf, lvn = true, lvby[sb.name]
      if not lvall then okf, lvn = pcall(drvnet.find, r) end
      up = okf and lvn and lvn.active
      bridge, lvshown[sb.name] = sb.bridge, true
      local kind = drvnet.kind()
      desc = string.format("%s, %s network %s%s", desc, kind, sb.name,
        okf and "" or string.format(" (%s's host does not answer)", kind))
    end
    shown[bridge] = true
    rows[#rows + 1] = { name = r.name, type = "moonbase", subnet = r.subnet, bridge = bridge,
      state = up and "up" or "down", instances = n, description = desc }
  end
  for _, n in ipairs(lvall or {}) do
    if not lvshown[n.name] then
      if n.bridge then shown[n.bridge] = true end
      rows[#rows + 1] = { name = n.name, type = n.kind,
        subnet = n.bridge and first_addr[n.bridge], bridge = n.bridge, state = n.active and "up" or "down",
        description = n.network and (n.kind .. " network of another moonbase home (" ..
          n.network .. ")") or (n.kind .. " network") }
    end
  end
  local host = {}
  for _, k in ipairs(links) do
    local mb = (k.alias or ""):sub(1, #M.ALIAS_PREFIX) == M.ALIAS_PREFIX
    if not shown[k.name] and not mb and not k.loopback then
      if k.kind == "bridge" then
        host[#host + 1] = { name = k.name, type = "bridge", subnet = first_addr[k.name],
          bridge = k.name, state = k.up and "up" or "down", description = "host bridge" }
      elseif (k.kind == nil or k.kind == "") and k.mac then
        host[#host + 1] = { name = k.name, type = "ethernet", subnet = first_addr[k.name],
          state = k.up and "up" or "down",
          description = k.master and ("port of bridge " .. k.master) or "host interface" }
      end
    end
  end
  table.sort(host, function(a, b) return a.name < b.name end)
  for _, x in ipairs(host) do rows[#rows + 1] = x end
  return rows
end

---/etc/hosts lines for every instance with an address: the primary
---network's address gets <name>.moonbase and <name>; others <name>.<network>.moonbase.
---@return {ipv4: string, names: string[], instance: string, network: string}[]
function L.hosts()
  local seen, out = {}, {}
  for _, r in ipairs(M.records()) do
    local names = {}
    for n in pairs(r.leases) do names[#names + 1] = n end
    table.sort(names)
    for _, n in ipairs(names) do
      local l = r.leases[n]
      local hn
      if not seen[n] then
        hn = { n .. "." .. M.DOMAIN, n }
        seen[n] = true
      else
        hn = { n .. "." .. r.name .. "." .. M.DOMAIN }
      end
      out[#out + 1] = { ipv4 = l.ipv4, names = hn, instance = n, network = r.name }
    end
  end
  return out
end

return L
