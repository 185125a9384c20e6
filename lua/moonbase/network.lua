-- Networks: the default network moonbase0 and named ones (each a bridge with
-- a tap per instance, dnsmasq and NAT, or a libvirt network moonbase
-- defines), their records and addresses. The work is moonbase._core.network's;
-- `moonbase networks` and `hosts` read moonbase._core.netlist.
-- layer: facade
local core = require("moonbase._core.network")
local netlist = require("moonbase._core.netlist")
local drvnet = require("moonbase._core.drvnet")

local M = {}

M.DEFAULT, M.DOMAIN = core.DEFAULT, core.DOMAIN

---A network's record, or nil.
---@param name string
---@return moonbase.NetworkRecord?
M.get = core.get

---Every network record, sorted by name (moonbase0 first).
---@return moonbase.NetworkRecord[]
M.records = core.records

---An instance's attachments from the records, primary first.
---@param instance string
---@return moonbase.Attachment[]
M.attachments = core.attachments

---The primary address of an instance, or nil.
---@param instance string
---@return string?
M.address = core.address

---Whether the private network can be used by this process (and why not).
---@return boolean ok, string? reason
M.available = core.available

---Creates a named network and brings it up when this process may.
---@param name string
---@param o? {subnet?: string}
---@return moonbase.NetworkRecord rec, boolean up, string? why_not
M.create = core.create

---Who serves a network record other than the engine: {kind = driver name,
---name = its network there, bridge}, or nil (the engine's bridge).
---@param rec moonbase.NetworkRecord
---@return {kind: string, name: string, bridge: string}?
function M.served_by(rec)
  local s = drvnet.served(rec)
  if not s then return nil end
  return { kind = drvnet.kind(), name = s.name, bridge = s.bridge }
end

---Deletes a network that no instance uses.
---@param name string
M.delete = core.delete

---Removes every bridge, tap, dnsmasq and NAT table of moonbase's from this
---host; records and addresses stay.
---@param o? {force?: boolean}
M.prune = core.prune

---Rows for `moonbase networks`: moonbase's networks, libvirt's, then the
---host's bridges and ethernet interfaces.
---@return table[]
M.list = netlist.list

---/etc/hosts lines for every instance with an address.
---@return {ipv4: string, names: string[], instance: string, network: string}[]
M.hosts = netlist.hosts

return M
