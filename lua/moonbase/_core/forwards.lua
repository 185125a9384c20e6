-- Port forwards: host ADDRESS:HOSTPORT -> the instance's GUESTPORT, kept in
-- the instance record and served by its agent (engine/agentd/agent_forward.c) on
-- every start. Only loopback unless an address is given explicitly. TCP goes
-- over SSH (or straight to the guest's address on a bridge); UDP is relayed to
-- the guest's address, so it needs the instance on a moonbase network.
-- Parsing and what the agent serves here; adding and removing them is
-- moonbase.forwards's.
-- layer: services
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
M.proto = proto

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
