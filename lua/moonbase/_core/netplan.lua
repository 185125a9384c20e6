-- The network-config (netplan v2) moonbase writes into a guest's NoCloud
-- seed for its NICs on moonbase's networks: static addresses from the
-- engine's IPAM, each NIC matched by MAC; the primary carries the default
-- route and the DNS server; and the one cloud-init bootcmd that gives a
-- resolver to the guest network stacks that do nothing with the
-- network-config's nameservers. (QEMU user networking: DHCP,
-- moonbase._core.seed; a bridged NIC: DHCP from the host's LAN,
-- moonbase._core.bridged.)
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
    -- gateway4, not routes: cloud-init's ifupdown renderer turns a default
    -- route into `post-up route add` (net-tools, absent from Debian's cloud
    -- images: no default route), gateway4 into ifupdown's own `gateway`;
    -- netplan (deprecated, still read) and NetworkManager take either
    if i == 1 then e.gateway4 = a.gateway end
    eth[a.network] = e
  end
  return { version = 2, ethernets = eth }
end

---The resolver a guest on moonbase's networks uses: the primary
---attachment's DNS server (its gateway, where dnsmasq answers) and search
---domain, or nil without attachments.
---@param attachments moonbase.Attachment[]
---@return {nameserver: string, search: string}?
function M.resolver(attachments)
  local a = attachments[1]
  if not a then return nil end
  return { nameserver = a.dns or a.gateway, search = a.domain or "moonbase" }
end

---A cloud-init bootcmd that gives the guest a resolver where no part of its
---network stack manages /etc/resolv.conf: ifupdown without resolvconf and
---systemd-networkd without systemd-resolved take the network-config's
---nameservers and leave them unused (see docs/networking.md, "DNS in the
---guest"). It writes the file only when there is none at all: a symlink
---(resolvconf, systemd-resolved), even one whose target is not there yet, or
---a file (NetworkManager, a static one of the image's) is left alone.
---@param r {nameserver: string, search: string}
---@return string
function M.resolver_bootcmd(r)
  assert(r.nameserver:match("^[%d.]+$") and r.search:match("^[%w.-]+$"), "bad resolver")
  return string.format("[ -e /etc/resolv.conf ] || [ -L /etc/resolv.conf ] || " ..
    "printf 'nameserver %s\\nsearch %s\\n' > /etc/resolv.conf", r.nameserver, r.search)
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
    if e.gateway4 then out[#out + 1] = "    gateway4: " .. yq(e.gateway4) end
    out[#out + 1] = "    nameservers:"
    out[#out + 1] = "      addresses: [" .. yq(e.nameservers.addresses[1]) .. "]"
    out[#out + 1] = "      search: [" .. yq(e.nameservers.search[1]) .. "]"
  end
  return table.concat(out, "\n") .. "\n"
end

return M
