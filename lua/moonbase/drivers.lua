-- The drivers this machine has: built into moonbase, external executables
-- (moonbase-driver-NAME on MOONBASE_DRIVERS_PATH or in <prefix>/libexec/moonbase)
-- and Lua drivers (NAME.lua there or in the data dir's drivers/), each with
-- where it was found, its scope and capabilities, whether it is the one
-- local.driver selects, and, when asked, whether its probe passes here.
-- layer: facade
local core = require("moonbase._core.drivers")
local engine = require("moonbase.engine.driver")

local M = {}

local function caps(i)
  local t = {}
  for _, c in ipairs(i.capabilities or {}) do t[#t + 1] = c end
  return t
end

---The drivers outside the binary found here, in search order:
---{name, kind = "external"|"lua", path, refused = why or nil, replaces = bool or nil
---(set for a built-in's name: whether MOONBASE_DRIVERS_REPLACE lets it replace it)}.
---@return table[]
function M.found() return engine.found() end

---A hint that a listing follows: the selected driver may start asking for
---every instance's state now (the LXD driver sends its listing request).
---Never raises (the listing itself says what is wrong); through a daemon it
---does nothing (moonbase.client: the daemon's own list asks its driver).
function M.list_ahead()
  local ok, drv = pcall(core.current)
  if ok and drv then drv:list_ahead() end
end

---Every driver: {name, selected, origin, scope, capabilities, path, status}.
---origin is "built-in", "external" or "lua"; status is "ok", or says why the
---driver cannot be used ("refused: ...", "ignored: ...", "unavailable: ...",
---with probe = true also "declined: ..." for one whose probe fails here, and
---"ok: ..." with what a usable one says of itself).
---@param opts {probe: boolean?}?
---@return table[]
function M.list(opts)
  opts = opts or {}
  -- (required here: the settings facade loads every owner of a setting, which
  -- list_ahead's callers do without)
  local selected = require("moonbase.settings").get("local.driver")
  local outside = {}
  for _, f in ipairs(engine.found()) do outside[f.name] = f end
  local rows = {}
  local function row(name, f)
    local r = { name = name, selected = name == selected, origin = "built-in",
      capabilities = {}, status = "ok" }
    if f then r.origin, r.path = f.kind, f.path end
    if f and f.refused then
      r.status = "refused: " .. f.refused
      return r
    end
    local i, msg = core.info(name)
    if not i then
      r.status = "unavailable: " .. tostring(msg)
      return r
    end
    r.scope, r.capabilities = i.scope, caps(i)
    if opts.probe then
      local ok, reason = core.probe(name)
      if not ok then r.status = "declined: " .. tostring(reason)
      elseif reason ~= "" then r.status = "ok: " .. reason end
    end
    return r
  end
  for _, name in ipairs(engine.list()) do
    local f = outside[name]
    if f and f.replaces == false then
      rows[#rows + 1] = row(name)
      rows[#rows + 1] = { name = name, selected = false, origin = f.kind, path = f.path,
        capabilities = {}, status = "ignored: the built-in " .. name .. " driver has this " ..
          "name (MOONBASE_DRIVERS_REPLACE=" .. name .. " uses this one instead)" }
    else
      rows[#rows + 1] = row(name, f)
    end
  end
  return rows
end

return M
