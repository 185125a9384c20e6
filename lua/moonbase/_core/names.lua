-- The names users give things, checked the same way by every command before
-- anything touches the disk: instances, networks, aliases, remotes and
-- snapshots. A name becomes a path (data/instances/<scope>/<name>,
-- data/networks/<name>.json, ...), so "../qemu/vm1", "web/" or "./web" must
-- never reach one. Each check returns the name, or raises a usage error
-- (exit 1) that says what a name may be.
-- layer: records
local util = require("moonbase.engine.util")
local errors = require("moonbase.errors")

local M = {}

local function shown(name)
  if type(name) ~= "string" then return tostring(name) end
  return name
end

---An instance name: 1-63 lowercase letters, digits and dashes, starting with
---a letter, not ending with a dash, not a reserved word.
---@return string? name, string? message, string? code
function M.valid_instance(name)
  if type(name) ~= "string" then
    return nil, string.format("invalid instance name \"%s\"", shown(name)), "usage"
  end
  return util.valid_name(name)
end

-- names that become a bridge or a host's key: ^[a-z][a-z0-9-]*$, at most 32
-- characters, not ending with a dash, not one of `reserved`
local function short_name(kind, name, reserved, extra)
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9-]*$") or #name > 32 or
      name:sub(-1) == "-" or (reserved and reserved[name]) then
    return nil, string.format("invalid %s name \"%s\": use lowercase letters, digits and " ..
      "dashes, starting with a letter, at most 32 characters%s", kind, shown(name), extra or ""),
      "usage"
  end
  return true
end

---A network name: lowercase letters, digits and dashes, starting with a
---letter, at most 32 characters (bridges are named after it).
function M.valid_network(name)
  return short_name("network", name)
end

---An alias name: lowercase letters, digits, dashes and underscores,
---starting with a letter, at most 63 characters.
function M.valid_alias(name)
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_-]*$") or #name > 63 then
    return nil, string.format("invalid alias name \"%s\": use lowercase letters, digits, " ..
      "dashes and underscores, starting with a letter", shown(name)), "usage"
  end
  return true
end

-- URL schemes, never remote names
M.RESERVED_REMOTES = { file = true, http = true, https = true }

---A remote name: lowercase letters, digits and dashes, starting with a
---letter, at most 32 characters, not a URL scheme.
function M.valid_remote(name)
  return short_name("remote", name, M.RESERVED_REMOTES, " (not file, http or https)")
end

---A snapshot name: 1-63 letters, digits, dots, dashes and underscores,
---starting with a letter or digit.
function M.valid_snapshot(name)
  if type(name) ~= "string" or not name:match("^[%w][%w._-]*$") or #name > 63 then
    return nil, string.format("invalid snapshot name \"%s\": use letters, digits, dots, " ..
      "dashes and underscores, starting with a letter or digit", shown(name)), "usage"
  end
  return true
end

local function checker(valid)
  return function(name, verb)
    local ok, msg = valid(name)
    if not ok then errors.usage(verb and (verb .. ": " .. msg) or msg) end
    return name
  end
end

---Each raises a usage error for a bad name (prefixed with verb), else
---returns the name.
M.instance = checker(M.valid_instance)
M.network = checker(M.valid_network)
M.alias = checker(M.valid_alias)
M.remote = checker(M.valid_remote)
M.snapshot = checker(M.valid_snapshot)

return M
