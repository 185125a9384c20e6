-- The network-config (netplan v2) moonbase writes into a guest's NoCloud
-- seed for its NICs on moonbase's networks: static addresses from the
-- engine's IPAM, each NIC matched by MAC; the primary carries the default
-- route. (QEMU user networking: DHCP, moonbase._core.seed; a bridged NIC:
-- DHCP from the host's LAN, moonbase._core.bridged.)
-- layer: services
local M = {}

---The netplan v2 network-config for a guest: one ethernet per attachment,
---matched by MAC, with its static address; the default route and DNS on the
---primary (the first); search domain "moonbase".
---@param attachments moonbase.Attachment[]
---@return table
function M.config(attachments)
  local eth = {}
  for i, a in ipairs(attachments) do
    local e = {
      match = { macaddress = a.mac },
      addresses = { a.ipv4 .. "/" .. a.prefix },
      dhcp4 = false,
      nameservers = { addresses = { a.dns or a.gateway }, search = { a.domain or "moonbase" } },
    }
    if i == 1 then e.routes = { { to = "0.0.0.0/0", via = a.gateway } } end
    eth[a.network] = e
  end
  return { version = 2, ethernets = eth }
end

local function yq(s) return '"' .. tostring(s):gsub('[\\"]', "\\%0") .. '"' end

---The same as YAML text for the NoCloud seed's network-config (every string
---quoted: an unquoted MAC of digits reads as a number in YAML 1.1).
---@param attachments moonbase.Attachment[]
---@return string
function M.yaml(attachments)
  local cfg = M.config(attachments)
  local out = { "version: 2", "ethernets:" }
  for _, a in ipairs(attachments) do
    local e = cfg.ethernets[a.network]
    out[#out + 1] = "  " .. yq(a.network) .. ":"
    out[#out + 1] = "    match:"
    out[#out + 1] = "      macaddress: " .. yq(e.match.macaddress)
    out[#out + 1] = "    dhcp4: false"
    out[#out + 1] = "    addresses: [" .. yq(e.addresses[1]) .. "]"
    if e.routes then
      out[#out + 1] = "    routes:"
      out[#out + 1] = "      - to: " .. yq(e.routes[1].to)
      out[#out + 1] = "        via: " .. yq(e.routes[1].via)
    end
    out[#out + 1] = "    nameservers:"
    out[#out + 1] = "      addresses: [" .. yq(e.nameservers.addresses[1]) .. "]"
    out[#out + 1] = "      search: [" .. yq(e.nameservers.search[1]) .. "]"
  end
  return table.concat(out, "\n") .. "\n"
end

return M
