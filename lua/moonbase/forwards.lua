-- Port forwards: host ADDRESS:HOSTPORT -> the instance's GUESTPORT, kept in
-- the instance record and served by its agent (engine/agentd/agent_forward.c)
-- on every start; added at once to a running instance's agent.
-- layer: facade
local util = require("moonbase.engine.util")
local core = require("moonbase._core.forwards")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local guest = require("moonbase._core.guest")
local errors = require("moonbase.errors")

local M = {}


---Parses "HOSTPORT:GUESTPORT[/tcp|/udp]".
M.parse = core.parse
M.for_agent = core.for_agent

local proto = core.proto

local function same(a, b)
  return a.address == b.address and a.host_port == b.host_port and proto(a) == proto(b)
end

local function agent_call(rec, command, f)
  return guest.call(rec, { op = "forward", command = command,
    ["local"] = f.address .. ":" .. f.host_port, mode = f.guest_port, remote = proto(f) })
end

-- UDP is relayed to the guest's own address: QEMU user networking has none
-- the host reaches (SSH, its only path, carries no UDP).
local function check_udp(name, rec, f)
  if proto(f) == "udp" and not rec.nics then
    errors.raise(string.format("forward: UDP forwards need the instance on a moonbase " ..
      "network, and %s uses QEMU user networking (launch it again as root: see " ..
      "docs/networking.md)", name), "unsupported")
  end
end

---Adds a forward; applied at once when the instance runs.
function M.add(name, f)
  instances.get(name)
  -- the agent serves forwards over its SSH session to the guest
  errors.check("forward", drivers.current():supports("ssh", "forward"))
  instances.get(name) -- a clear error for a missing instance, before locking
  local lock <close> = instances.lock(name)
  local rec = instances.get(name)
  check_udp(name, rec, f)
  rec.forwards = rec.forwards or {}
  for _, x in ipairs(rec.forwards) do
    if same(x, f) then
      errors.raise(string.format("forward: %s port %d already forwards to %s port %d " ..
        "(try: moonbase forward %s --remove %d)", f.address, f.host_port, name, x.guest_port,
        name, f.host_port), "exists")
    end
  end
  for _, r in ipairs(instances.records()) do
    for _, x in ipairs(r.forwards or {}) do
      if r.name ~= name and x.host_port == f.host_port and proto(x) == proto(f) then
        errors.raise(string.format("forward: host port %d is already forwarded to instance " ..
          "\"%s\"", f.host_port, r.name), "exists")
      end
    end
  end
  local st = lifecycle.state(rec)
  if st == "running" then
    local status, msg, code = agent_call(rec, "add", f)
    if not status then errors.raise(msg, code) end
  elseif not (proto(f) == "udp" and util.udp_port_free or util.tcp_port_free)(f.address,
      f.host_port) then
    errors.raise(string.format("forward: %s %s port %d is already in use (pick another host " ..
      "port)", f.address, proto(f):upper(), f.host_port), "exists")
  end
  rec.forwards[#rec.forwards + 1] = f
  instances.save(rec)
  return st
end

---Removes the forward on HOSTPORT (of the given address and protocol, or any).
function M.remove(name, host_port, address, proto_)
  instances.get(name)
  local lock <close> = instances.lock(name)
  local rec = instances.get(name)
  local keep, gone = {}, nil
  for _, x in ipairs(rec.forwards or {}) do
    if x.host_port == host_port and (not address or x.address == address) and
        (not proto_ or proto(x) == proto_) and not gone then
      gone = x
    else
      keep[#keep + 1] = x
    end
  end
  if not gone then
    errors.raise(string.format("forward: instance \"%s\" has no forward on host port %d " ..
      "(try: moonbase forward %s --list)", name, host_port, name), "notfound")
  end
  if not drivers.uses_agent() then
    errors.raise("forward: the test driver has no guest to forward to", "unsupported")
  end
  if lifecycle.state(rec) == "running" then agent_call(rec, "remove", gone) end
  rec.forwards = keep
  instances.save(rec)
end

---The forwards of an instance.
function M.list(name)
  return instances.get(name).forwards or {}
end

return M
