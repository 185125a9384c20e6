-- What moonbase does, said as it does it: `moonbase -v COMMAND` (and -vv,
-- --debug) on stderr; MOONBASE_LOG=LEVEL[:FILE] for the processes nobody
-- passes a flag to (instance agents, recipe workers), which inherit it. The
-- engine says its part (QEMU command lines, libvirt XML, SSH steps, driver
-- calls) through the same switch (moonbase.engine.util.log_*), so one
-- setting shows all of it, in one order.
--
-- Levels: 1 (verbose: each step, each driver call, each command moonbase
-- runs), 2 (more: QEMU command lines, libvirt XML, SSH steps, agent requests),
-- 3 (debug: everything, and Lua tracebacks with errors).
-- layer: records
local util = require("moonbase.engine.util")

local M = {}

M.level = 0

---Parses MOONBASE_LOG: "2", "debug", "debug:/tmp/moonbase.log".
---@return integer level, string? file
function M.parse(spec)
  if not spec or spec == "" then return 0 end
  local lvl, file = spec:match("^([^:]*):(.+)$")
  lvl = lvl or spec
  local names = { off = 0, verbose = 1, info = 1, more = 2, debug = 3 }
  local n = math.tointeger(tonumber(lvl)) or names[lvl:lower()]
  if not n then return 0 end
  return math.max(0, math.min(3, n)), file
end

---Sets the level (and where lines go) for moonbase and its engine; children
---inherit it through MOONBASE_LOG.
---@param level integer
---@param file? string  append here instead of stderr
function M.setup(level, file)
  M.level, M.file = level or 0, file
  util.log_set(M.level, file)
  if M.level > 0 then
    util.setenv("MOONBASE_LOG", tostring(M.level) .. (file and (":" .. file) or ""))
  end
end

---From the environment (MOONBASE_LOG), when no flag said otherwise.
function M.from_env()
  M.level = util.log_level()
  M.file = select(2, M.parse(os.getenv("MOONBASE_LOG")))
end

---Relays the log lines a child writes to its own log (an agent's agent.log),
---from offset on, to ours: what the child did shows where the user looks.
---Returns the new offset.
---@param path string
---@param offset integer
---@param tag string
---@return integer
function M.relay(path, offset, tag)
  if M.level == 0 or M.file then return offset end
  local f = io.open(path, "r")
  if not f then return offset end
  f:seek("set", offset)
  local chunk = f:read("a") or ""
  f:close()
  local whole = chunk:match("^(.*\n)") or ""
  for line in whole:gmatch("[^\n]+") do
    local t, msg = line:match("^%* ([%d.]+) (.*)$")
    if t then io.stderr:write(string.format("* %s [%s] %s\n", t, tag, msg)) end
  end
  return offset + #whole
end

---@return boolean
function M.enabled(level)
  return M.level >= (level or 1)
end

---Says one line at a level ("* 0.123 message" on stderr; with the time and
---pid in MOONBASE_LOG's file).
---@param level integer
---@param fmt string
function M.say(level, fmt, ...)
  if M.level < level then return end
  util.log(level, select("#", ...) > 0 and string.format(fmt, ...) or fmt)
end

---A command line as a shell would take it back.
---@param argv string[]
---@return string
function M.quote_argv(argv)
  local out = {}
  for i, a in ipairs(argv) do
    a = tostring(a)
    out[i] = a:match("^[%w%%+,./:=@_-]+$") and a or ("'" .. a:gsub("'", "'\\''") .. "'")
  end
  return table.concat(out, " ")
end

return M
