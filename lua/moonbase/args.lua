-- Command-line parsing shared by every command: long and short options,
-- --opt=value, bundled short flags (-rp), "--" ends options, repeated options,
-- and typed values (int, size, duration, enum) with one-line errors.
--
-- A spec is a list of options:
--   { "name", "n", type = "string", help = "...", metavar = "NAME" }
--   { "force", "f", type = "flag" }
--   { "env", type = "string", repeated = true }
--   { "memory", type = "size", default = "1G" }
--   { "format", type = "enum", values = { "table", "json" }, default = "table" }
-- Types: flag, string, int, number, size (bytes), duration (seconds), enum.
-- Option keys in the result use "_" for "-": --older-than -> opts.older_than.
-- layer: records
local util = require("moonbase.engine.util")

local M = {}

local function key_of(long)
  return (long:gsub("-", "_"))
end

local function convert(opt, raw, shown)
  local t = opt.type or "string"
  if t == "string" then return raw end
  if t == "int" then
    local n = math.tointeger(tonumber(raw))
    if not n or not raw:match("^%-?%d+$") then
      return nil, string.format("%s: expected a whole number, got \"%s\"", shown, raw)
    end
    if opt.min and n < opt.min then
      return nil, string.format("%s: must be at least %d, got %d", shown, opt.min, n)
    end
    if opt.max and n > opt.max then
      return nil, string.format("%s: must be at most %d, got %d", shown, opt.max, n)
    end
    return n
  end
  if t == "number" then
    local n = tonumber(raw)
    if not n then return nil, string.format("%s: expected a number, got \"%s\"", shown, raw) end
    return n
  end
  if t == "size" then
    local n, msg = util.parse_size(raw)
    if not n then return nil, shown .. ": " .. msg end
    return n
  end
  if t == "duration" then
    local n, msg = util.parse_duration(raw)
    if not n then return nil, shown .. ": " .. msg end
    return n
  end
  if t == "enum" then
    for _, v in ipairs(opt.values) do
      if v == raw then return raw end
    end
    return nil, string.format("%s: \"%s\" is not one of: %s", shown, raw,
      table.concat(opt.values, ", "))
  end
  error("args: unknown option type " .. tostring(t))
end

local function index(spec)
  local long, short = {}, {}
  for _, opt in ipairs(spec) do
    assert(type(opt[1]) == "string", "args: option needs a long name")
    long[opt[1]] = opt
    if opt[2] then short[opt[2]] = opt end
  end
  return long, short
end

---Parses argv against spec.
---@param argv string[]
---@param spec table[]
---@return table? opts  options by key, positionals in opts[1..n]; opts["--"]: how
---  many positionals came before a "--" (nil without one)
---@return string? message  on a usage error
function M.parse(argv, spec)
  spec = spec or {}
  local long, short = index(spec)
  local opts, pos = {}, {}
  local function store(opt, value)
    local k = key_of(opt[1])
    if opt.repeated then
      opts[k] = opts[k] or {}
      table.insert(opts[k], value)
    else
      opts[k] = value
    end
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      opts["--"] = #pos -- how many positionals came before "--"
      for j = i + 1, #argv do pos[#pos + 1] = argv[j] end
      break
    elseif a:sub(1, 2) == "--" and #a > 2 then
      local name, value = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      local opt = long[name]
      if not opt and name:sub(1, 3) == "no-" and long[name:sub(4)] and
          long[name:sub(4)].type == "flag" then
        opt = long[name:sub(4)]
        if value then return nil, "--" .. name .. " takes no value" end
        store(opt, false)
        goto continue
      end
      if not opt then
        return nil, string.format("unknown option --%s", name)
      end
      if (opt.type or "string") == "flag" then
        if value then return nil, string.format("--%s takes no value", name) end
        store(opt, true)
      else
        if not value then
          i = i + 1
          value = argv[i]
          if value == nil then return nil, string.format("--%s needs a value", name) end
        end
        local v, msg = convert(opt, value, "--" .. name)
        if v == nil then return nil, msg end
        store(opt, v)
      end
    elseif a:sub(1, 1) == "-" and #a > 1 and not a:match("^%-%d") then
      local j = 2
      while j <= #a do
        local c = a:sub(j, j)
        local opt = short[c]
        if not opt then return nil, string.format("unknown option -%s", c) end
        if (opt.type or "string") == "flag" then
          store(opt, true)
          j = j + 1
        else
          local value = a:sub(j + 1)
          if value == "" then
            i = i + 1
            value = argv[i]
            if value == nil then return nil, string.format("-%s needs a value", c) end
          end
          local v, msg = convert(opt, value, "-" .. c)
          if v == nil then return nil, msg end
          store(opt, v)
          break
        end
      end
    else
      pos[#pos + 1] = a
    end
    ::continue::
    i = i + 1
  end
  for _, opt in ipairs(spec) do
    local k = key_of(opt[1])
    if opts[k] == nil and opt.default ~= nil then
      if type(opt.default) == "string" and (opt.type or "string") ~= "string" and
          opt.type ~= "enum" then
        opts[k] = assert(convert(opt, opt.default, "--" .. opt[1]))
      else
        opts[k] = opt.default
      end
    end
    if opt.repeated and opts[k] == nil then opts[k] = {} end
  end
  for n, v in ipairs(pos) do opts[n] = v end
  return opts
end

---The options of a spec as {left, right} pairs: "-n, --name STRING" and its
---help (hidden options left out).
---@return string[][]
function M.rows(spec)
  local rows = {}
  for _, opt in ipairs(spec or {}) do
    if not opt.hidden then
      local t = opt.type or "string"
      local left = (opt[2] and ("-" .. opt[2] .. ", ") or "    ") .. "--" .. opt[1]
      if t ~= "flag" then
        left = left .. " " .. (opt.metavar or (t == "enum" and table.concat(opt.values, "|")) or
          t:upper())
      end
      local right = opt.help or ""
      if opt.default ~= nil and t ~= "flag" then
        right = right .. " (default: " .. tostring(opt.default) .. ")"
      end
      if opt.repeated then right = right .. " (repeatable)" end
      rows[#rows + 1] = { left, right }
    end
  end
  return rows
end

---Help text for the options of a spec.
---@return string
function M.help(spec)
  local lines, width = {}, 0
  local rows = M.rows(spec)
  for _, r in ipairs(rows) do width = math.max(width, #r[1]) end
  for _, r in ipairs(rows) do
    lines[#lines + 1] = "  " .. r[1] .. string.rep(" ", width - #r[1] + 2) .. r[2]
  end
  return table.concat(lines, "\n")
end

return M
