-- Errors that reach the user: a message that says what failed and what to do,
-- and a stable code the CLI turns into an exit status (usage -> 1, timeout -> 5,
-- anything else -> 2). Bugs stay plain Lua errors and print a traceback.
-- layer: records
local M = {}

local mt = {
  __tostring = function(e) return e.message end,
}

---Raises a user-facing error.
---@param message string
---@param code? string  "usage" | "failed" | "timeout" | "notfound" | "state" | ...
function M.raise(message, code)
  error(setmetatable({ message = message, code = code or "failed" }, mt), 0)
end

---Raises a usage error (exit status 1).
---@param message string
function M.usage(message)
  M.raise(message, "usage")
end

---Passes a (value, message, code) triple through, raising when value is nil.
---@param prefix? string  prepended to the message, e.g. "launch"
function M.check(prefix, value, message, code, ...)
  if value == nil then
    M.raise(prefix and (prefix .. ": " .. tostring(message)) or tostring(message), code)
  end
  return value, message, code, ...
end

---@return boolean
function M.is(e)
  return getmetatable(e) == mt
end

---Exit status for an error code.
function M.exit_code(code)
  if code == "usage" then return 1 end
  if code == "timeout" then return 5 end
  return 2
end

return M
