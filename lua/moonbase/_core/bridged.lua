-- The bridged NIC (`launch --bridged`, recipe key `bridged = true`): an extra
-- NIC whose tap is a port of the host bridge named by the setting
-- local.bridged-network, so the guest is on that network like any machine
-- plugged into it and gets its address from that network's DHCP (mode auto).
--
-- The interface must be a Linux bridge. A plain ethernet interface is refused
-- with how to make a bridge of it: a macvtap port could not talk to the host
-- itself (a macvtap in bridge mode never reaches its parent), which is what
-- users of Multipass's bridged mode expect to work; Multipass, too, puts
-- its QEMU guests on a bridge (it offers to create br-<iface>).
--
-- moonbase owns only the tap (alias moonbase:<instance>@bridged, so `networks
-- --prune` finds it); the bridge, its addresses and its DHCP are the host's.
-- layer: services
local errors = require("moonbase.errors")
local settings = require("moonbase._core.settings")
local ipam = require("moonbase._core.ipam")
local network = require("moonbase._core.network")
local netlist = require("moonbase._core.netlist")
local drivers = require("moonbase._core.drivers")

local M = {}

M.NETWORK = "bridged" -- the NIC's network name in the instance record
M.SETTING = "local.bridged-network"

---Checks a value of local.bridged-network: a Linux interface name.
---@return boolean?, string?
function M.check_name(v)
  if type(v) ~= "string" or not v:match("^[%w][%w%.%-_:]*$") or #v > 15 then
    return nil, string.format("\"%s\" is not an interface name (see moonbase networks)",
      tostring(v))
  end
  return true
end

local function host() return network.host() end

local function links_by_name()
  local t = {}
  for _, k in ipairs(errors.check("launch", host().links())) do t[k.name] = k end
  return t
end

local function is_moonbase(link)
  return (link.alias or ""):sub(1, #"moonbase:") == "moonbase:"
end

-- "candidates: br0, br1" from moonbase networks' host rows (bridges only: the
-- only kind --bridged takes).
local function candidates()
  local names = {}
  for _, r in ipairs(netlist.list()) do
    if r.type == "bridge" then names[#names + 1] = r.name end
  end
  if #names == 0 then
    return "moonbase networks lists no host bridge: make one, see docs/networking.md"
  end
  return "host bridges: " .. table.concat(names, ", ")
end

---Checks, before anything is created, that --bridged can work: the setting
---names an existing Linux bridge that is not moonbase's own. Raises a
---one-line error naming the setting and the candidates otherwise.
---@return string iface
function M.check()
  local iface = settings.get(M.SETTING)
  local fix = "moonbase set " .. M.SETTING .. "=IFACE"
  if iface == nil or iface == "" then
    errors.usage(string.format("launch: --bridged needs a host bridge to join: %s (%s)", fix,
      candidates()))
  end
  local link = links_by_name()[iface]
  if not link then
    errors.raise(string.format("launch: --bridged: the interface \"%s\" (%s) does not exist " ..
      "on this host (%s; %s)", iface, M.SETTING, fix, candidates()), "notfound")
  end
  if is_moonbase(link) then
    errors.usage(string.format("launch: --bridged: %s is moonbase's own network bridge (use " ..
      "--network NAME for moonbase networks; %s with a host bridge: %s)", iface, fix,
      candidates()))
  end
  if link.kind ~= "bridge" then
    errors.usage(string.format("launch: --bridged: %s is a %s interface, not a Linux bridge: " ..
      "make a bridge with %s as its port and move %s's address to it (see " ..
      "docs/networking.md, \"Bridged\"), then %s with the bridge (%s)", iface,
      (link.kind == nil or link.kind == "") and "plain ethernet" or link.kind, iface, iface,
      fix, candidates()))
  end
  return iface
end

local function alias(instance) return "moonbase:" .. instance .. "@" .. M.NETWORK end

-- The tap on the bridge, created when missing (a driver that plugs its own
-- port into the bridge, bridge_nics, needs only the bridge).
local function ensure_tap(instance, nic)
  local h = host()
  local links = links_by_name()
  local br = links[nic.bridge]
  if not br or br.kind ~= "bridge" then
    errors.raise(string.format("start: %s's bridged NIC needs the host bridge %s, which is " ..
      "gone (create it again, or launch the instance again without --bridged)", instance,
      nic.bridge), "notfound")
  end
  if drivers.has("bridge_nics") then return end
  local t = links[nic.tap]
  if t and t.alias ~= alias(instance) then
    errors.raise(string.format("network: the interface %s exists but is not %s's tap " ..
      "(remove it: ip link delete %s)", nic.tap, instance, nic.tap))
  end
  if not t then
    errors.check("network", h.tap_create(nic.tap, { alias = alias(instance) }))
  end
  errors.check("network", h.link_set(nic.tap, { master = nic.bridge, up = true }))
end

---Puts a new instance on the bridge: a stable tap name and MAC, the tap made
---a port of the bridge. Returns the NIC for the instance record.
---@param instance string
---@param iface string  from check()
---@return {network: string, bridge: string, tap: string, mac: string, mode: string}
function M.attach(instance, iface)
  local macs, taps = ipam.taken_sets(network.records())
  local nic = { network = M.NETWORK, bridge = iface, tap = ipam.tap_name(instance, M.NETWORK,
    taps), mac = ipam.mac_for(instance, M.NETWORK, macs), mode = "auto" }
  ensure_tap(instance, nic)
  return nic
end

---Recreates the tap before a start (stop removed it).
function M.reattach(instance, nic) ensure_tap(instance, nic) end

---Removes the instance's bridged tap, if it is there and ours.
---@param instance string
---@param nics? table[]  the record's NICs
function M.detach(instance, nics)
  for _, nic in ipairs(nics or {}) do
    if nic.network == M.NETWORK then
      local t = links_by_name()[nic.tap]
      if t and t.alias == alias(instance) then
        errors.check("network", host().link_delete(nic.tap))
      end
    end
  end
end

---The netplan v2 lines (under `ethernets:`) for the bridged NIC: DHCP from
---the bridged network, its routes behind moonbase0's (a higher metric), and
---optional, so a network without DHCP does not hold up the boot.
---@param nic table
---@return string
function M.netplan(nic)
  return table.concat({
    '  "' .. M.NETWORK .. '":',
    "    match:",
    '      macaddress: "' .. nic.mac .. '"',
    "    dhcp4: true",
    "    dhcp4-overrides:",
    "      route-metric: 200",
    "    optional: true",
  }, "\n") .. "\n"
end

settings.register(M.SETTING, {
  type = "string", default = "",
  validate = function(v) return M.check_name(v) end,
  help = "the host bridge `launch --bridged` puts an extra NIC on (a Linux bridge, see " ..
    "moonbase networks); the guest gets its address from that network's DHCP",
})

return M
