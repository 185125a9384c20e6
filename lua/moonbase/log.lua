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
local sink -- an open file, or nil for stderr
local names = { verbose = 1, info = 1, more = 2, debug = 3 }

---Parses MOONBASE_LOG: "2", "debug", "debug:/tmp/moonbase.log".
---@return integer level, string? file
function M.parse(spec)
  if not spec or spec == "" then return 0 end
  local lvl, file = spec:match("^([^:]*):(.+)$")
  lvl = lvl or spec
  local n = math.tointeger(tonumber(lvl)) or names[lvl:lower()]
  if not n then return 0 end
  return math.max(0, math.min(3, n)), file
end

---Sets the level (and where lines go); children inherit it through
---MOONBASE_LOG.
---@param level integer
---@param file? string  append here instead of stderr
function M.setup(level, file)
  M.level = level or 0
  if sink then sink:close(); sink = nil end
  if file and M.level > 0 then sink = io.open(file, "a") end
  if util.log_set then util.log_set(M.level, file) end
  if M.level > 0 then
    util.setenv("MOONBASE_LOG", tostring(M.level) .. (file and (":" .. file) or ""))
  end
end

---From the environment (MOONBASE_LOG), when no flag said otherwise.
function M.from_env()
  local level, file = M.parse(os.getenv("MOONBASE_LOG"))
  if level > 0 then M.setup(level, file) end
end

---@return boolean
function M.enabled(level)
  return M.level >= (level or 1)
end

local t0 = util.now()

---Says one line at a level: "* 0.123 message" on stderr, or with the time
---and pid in MOONBASE_LOG's file.
---@param level integer
---@param fmt string
function M.say(level, fmt, ...)
  if M.level < level then return end
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  if sink then
    local t = util.time()
    sink:write(string.format("%s.%03dZ moonbase[%d] %s\n", os.date("!%Y-%m-%dT%H:%M:%S",
      math.floor(t)), math.floor(t % 1 * 1000), util.getpid(), msg))
    sink:flush()
  else
    io.stderr:write(string.format("* %.3f %s\n", util.now() - t0, msg))
  end
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
