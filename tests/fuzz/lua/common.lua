-- Shared by the Lua fuzz scripts: runs f(...) and says whether an error was
-- a bug (anything but moonbase's own error object, or a string message that
-- a function returned as nil, message).
local errors = require("moonbase.errors")
local M = {}

---nil when f(...) ran or raised moonbase's error; else the bug, with a traceback.
function M.bug(f, ...)
  local ok, err = xpcall(f, function(e)
    if errors.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, ...)
  if ok or errors.is(err) then return nil end
  return err
end

return M
