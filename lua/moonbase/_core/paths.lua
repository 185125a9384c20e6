-- Where moonbase keeps things: MOONBASE_HOME overrides everything (tests set it
-- to a temp dir); otherwise the XDG base directories.
-- layer: records
local M = {}

local function env(k)
  local v = os.getenv(k)
  if v and v ~= "" then return v end
end

local function compute()
  local home = env("MOONBASE_HOME")
  if home then
    return home .. "/config", home .. "/data", home .. "/cache"
  end
  local user_home = env("HOME") or "/root"
  return (env("XDG_CONFIG_HOME") or (user_home .. "/.config")) .. "/moonbase",
    (env("XDG_DATA_HOME") or (user_home .. "/.local/share")) .. "/moonbase",
    (env("XDG_CACHE_HOME") or (user_home .. "/.cache")) .. "/moonbase"
end

M.config, M.data, M.cache = compute()

function M.instances(scope)
  return M.data .. "/instances/" .. scope
end

function M.instance(scope, name)
  return M.data .. "/instances/" .. scope .. "/" .. name
end

return M
