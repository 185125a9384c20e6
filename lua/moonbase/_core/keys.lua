-- moonbase's own SSH client key (ed25519, 0600, created once under the data
-- directory) and per-instance host keys.
-- layer: services
local fs = require("moonbase.engine.fs")
local paths = require("moonbase._core.paths")
local errors = require("moonbase.errors")

local M = {}

function M.client_key_path()
  return paths.data .. "/keys/id_ed25519"
end

---The client key's path and public line, created on first use (under a lock,
---so concurrent launches agree on one key).
---@return string path, string public_line
function M.client_key()
  local path = M.client_key_path()
  local pub = fs.read(path .. ".pub")
  if pub and fs.exists(path) then return path, (pub:gsub("%s+$", "")) end
  errors.check("keys", fs.mkdirs(paths.data .. "/keys", 448))
  local lock <close> = errors.check("keys", fs.lock(paths.data .. "/keys/lock"))
  pub = fs.read(path .. ".pub")
  if pub and fs.exists(path) then return path, (pub:gsub("%s+$", "")) end
  local line = errors.check("keys", require("moonbase.engine.ssh").keygen(path, "moonbase"))
  return path, line
end

---A fresh host key pair for an instance: private (OpenSSH PEM), public line.
function M.host_keypair(name)
  return errors.check("keys", require("moonbase.engine.ssh").keypair("moonbase-host-" .. name))
end

return M
