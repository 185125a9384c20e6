-- Port forwards: host ADDRESS:HOSTPORT -> the instance's GUESTPORT, kept in
-- the instance record and served by its agent (engine/agentd/agent_forward.c) on
-- every start. Only loopback unless an address is given explicitly. TCP goes
-- over SSH (or straight to the guest's address on a bridge); UDP is relayed to
-- the guest's address, so it needs the instance on a moonbase network.
local util = require("moonbase.engine.util")
local errors = require("moonbase.errors")

local M = {}

---@class moonbase.Forward
---@field address string
---@field host_port integer
---@field guest_port integer
---@field proto "tcp"|"udp"

---Parses "HOSTPORT:GUESTPORT[/tcp|/udp]".
---@return moonbase.Forward
function M.parse(spec, address)
  local h, g, proto = spec:match("^(%d+):(%d+)/?(%a*)$")
  if not h then
    errors.usage(string.format("forward: expected HOSTPORT:GUESTPORT[/tcp|/udp], got " ..
      "\"%s\" (try: moonbase forward web 8080:80)", spec))
  end
  proto = proto ~= "" and proto:lower() or "tcp"
  if proto ~= "tcp" and proto ~= "udp" then
    errors.usage(string.format("forward: unknown protocol \"%s\" (use tcp or udp)", proto))
  end
  h, g = tonumber(h), tonumber(g)
  for _, p in ipairs({ h, g }) do
    if p < 1 or p > 65535 then errors.usage("forward: ports must be 1-65535, got " .. p) end
  end
  address = address or "127.0.0.1"
  if not (address:match("^%d+%.%d+%.%d+%.%d+$") or address:find(":", 1, true)) then
    errors.usage(string.format("forward: --address must be an IP address, got \"%s\"", address))
  end
  return { address = address, host_port = h, guest_port = g, proto = proto }
end

local function proto(f) return f.proto or "tcp" end

local function same(a, b)
  return a.address == b.address and a.host_port == b.host_port and proto(a) == proto(b)
end

local function agent_call(instance, rec, command, f)
  local boot = require("moonbase._core.boot")
  return boot.call(instance, rec, { op = "forward", command = command,
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
  local instance = require("moonbase.instance")
  instance.get(name)
  if not instance.uses_agent() then
    errors.raise("forward: the test driver has no guest to forward to", "unsupported")
  end
  instance.get(name) -- a clear error for a missing instance, before locking
  local lock <close> = instance.lock(name)
  local rec = instance.get(name)
  check_udp(name, rec, f)
  rec.forwards = rec.forwards or {}
  for _, x in ipairs(rec.forwards) do
    if same(x, f) then
      errors.raise(string.format("forward: %s port %d already forwards to %s port %d " ..
        "(try: moonbase forward %s --remove %d)", f.address, f.host_port, name, x.guest_port,
        name, f.host_port), "exists")
    end
  end
  for _, r in ipairs(instance.records()) do
    for _, x in ipairs(r.forwards or {}) do
      if r.name ~= name and x.host_port == f.host_port and proto(x) == proto(f) then
        errors.raise(string.format("forward: host port %d is already forwarded to instance " ..
          "\"%s\"", f.host_port, r.name), "exists")
      end
    end
  end
  local st = instance.state(rec)
  if st == "running" then
    local status, msg, code = agent_call(instance, rec, "add", f)
    if not status then errors.raise(msg, code) end
  elseif not (proto(f) == "udp" and util.udp_port_free or util.tcp_port_free)(f.address,
      f.host_port) then
    errors.raise(string.format("forward: %s %s port %d is already in use (pick another host " ..
      "port)", f.address, proto(f):upper(), f.host_port), "exists")
  end
  rec.forwards[#rec.forwards + 1] = f
  instance.save(rec)
  return st
end

---Removes the forward on HOSTPORT (of the given address and protocol, or any).
function M.remove(name, host_port, address, proto_)
  local instance = require("moonbase.instance")
  instance.get(name)
  local lock <close> = instance.lock(name)
  local rec = instance.get(name)
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
  if instance.state(rec) == "running" then agent_call(instance, rec, "remove", gone) end
  rec.forwards = keep
  instance.save(rec)
end

---The forwards of an instance.
function M.list(name)
  return require("moonbase.instance").get(name).forwards or {}
end

---What the agent serves from its start.
function M.for_agent(rec)
  local out = {}
  for _, f in ipairs(rec.forwards or {}) do
    out[#out + 1] = { address = f.address, host_port = f.host_port, guest_port = f.guest_port,
      proto = proto(f) }
  end
  return out
end

return M
