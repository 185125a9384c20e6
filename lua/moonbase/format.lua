-- Output formats for everything a command lists: an aligned table (colour only
-- on a terminal, never with NO_COLOR), JSON, YAML and CSV. Output is
-- deterministic (keys in column order, then sorted) so it can be diffed.
-- layer: records
local util = require("moonbase.engine.util")

local M = {}

M.names = { "table", "json", "yaml", "csv" }

local array_mt = { __name = "array" }
---Marks a table as a JSON/YAML array even when empty.
function M.array(t)
  return setmetatable(t or {}, array_mt)
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function sorted_keys(t, order)
  local keys, seen = {}, {}
  for _, k in ipairs(order or {}) do
    if t[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys
end

---------------------------------------------------------------- JSON
local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function json_number(n)
  if math.type(n) == "integer" then return tostring(n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  if n == math.floor(n) and math.abs(n) < 2^53 then return string.format("%d", n) end
  return string.format("%.14g", n)
end

local function json_encode(v, indent, order, out)
  local t = type(v)
  if v == nil then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then out[#out + 1] = json_number(v)
  elseif t == "string" then out[#out + 1] = json_string(v)
  elseif t == "table" then
    local inner = indent .. "  "
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]"; return end
      out[#out + 1] = "[\n"
      for i, item in ipairs(v) do
        out[#out + 1] = inner
        json_encode(item, inner, order, out)
        out[#out + 1] = i < #v and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "]"
    else
      local keys = sorted_keys(v, order)
      if #keys == 0 then out[#out + 1] = "{}"; return end
      out[#out + 1] = "{\n"
      for i, k in ipairs(keys) do
        out[#out + 1] = inner .. json_string(tostring(k)) .. ": "
        json_encode(v[k], inner, order, out)
        out[#out + 1] = i < #keys and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "}"
    end
  elseif t == "userdata" then out[#out + 1] = "null" -- cjson.null
  else
    error("format: cannot encode a " .. t)
  end
end

---@return string  pretty JSON with a final newline
function M.json(v, order)
  local out = {}
  json_encode(v, "", order, out)
  out[#out + 1] = "\n"
  return table.concat(out)
end

---------------------------------------------------------------- YAML
local yaml_plain_unsafe = {
  ["true"] = true, ["false"] = true, ["yes"] = true, ["no"] = true, ["on"] = true,
  ["off"] = true, ["null"] = true, ["~"] = true, [""] = true, ["y"] = true, ["n"] = true,
}

local function yaml_scalar(v)
  local t = type(v)
  if v == nil or t == "userdata" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then return json_number(v) end
  local s = tostring(v)
  if yaml_plain_unsafe[s:lower()] or tonumber(s) or s:match("^[%s%-?:,%[%]{}#&*!|>'\"%%@`]") or
      s:match("[:#]%s") or s:match("[:]$") or s:match("%s$") or s:match("[%c]") then
    return json_string(s)
  end
  return s
end

-- multi-line strings as literal blocks, so keys and scripts stay readable
local function yaml_block(s, indent)
  if type(s) ~= "string" or not s:find("\n", 1, true) or s:find("[\r\t]") or
      s:match("^%s") or s:find("[ ]\n") or s:find("\n\n$") then
    return nil
  end
  local chomp = s:sub(-1) == "\n" and "" or "-"
  local body = s:gsub("\n$", "")
  local lines = { " |" .. chomp }
  for l in (body .. "\n"):gmatch("(.-)\n") do
    lines[#lines + 1] = l == "" and "" or (indent .. l)
  end
  return table.concat(lines, "\n") .. "\n"
end

local function yaml_encode(v, indent, order, out)
  if type(v) ~= "table" then
    out[#out + 1] = yaml_block(v, indent) or (" " .. yaml_scalar(v) .. "\n")
    return
  end
  if is_array(v) then
    if #v == 0 then out[#out + 1] = " []\n"; return end
    out[#out + 1] = "\n"
    for _, item in ipairs(v) do
      if type(item) == "table" and not is_array(item) and next(item) then
        -- "- key: value" with the following keys aligned under the first
        local keys = sorted_keys(item, order)
        for i, k in ipairs(keys) do
          out[#out + 1] = indent .. (i == 1 and "- " or "  ") .. yaml_scalar(tostring(k)) .. ":"
          yaml_encode(item[k], indent .. "    ", order, out)
        end
      else
        out[#out + 1] = indent .. "-"
        yaml_encode(item, indent .. "  ", order, out)
      end
    end
  else
    local keys = sorted_keys(v, order)
    if #keys == 0 then out[#out + 1] = " {}\n"; return end
    out[#out + 1] = "\n"
    for _, k in ipairs(keys) do
      out[#out + 1] = indent .. yaml_scalar(tostring(k)) .. ":"
      yaml_encode(v[k], indent .. "  ", order, out)
    end
  end
end

---@return string  block-style YAML
function M.yaml(v, order)
  local out = {}
  if type(v) ~= "table" then return yaml_scalar(v) .. "\n" end
  yaml_encode(v, "", order, out)
  local s = table.concat(out)
  return (s:gsub("^\n", ""))
end

---------------------------------------------------------------- cells
local function cell(v)
  if v == nil or type(v) == "userdata" then return nil end
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = tostring(x) end
    if #parts == 0 then return nil end
    return table.concat(parts, ",")
  end
  return tostring(v)
end

local function csv_field(s)
  s = s or ""
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

---@return string
function M.csv(rows, columns)
  local lines = {}
  local head = {}
  for _, c in ipairs(columns) do head[#head + 1] = csv_field(c.key) end
  lines[1] = table.concat(head, ",")
  for _, r in ipairs(rows) do
    local f = {}
    for _, c in ipairs(columns) do f[#f + 1] = csv_field(cell(r[c.key])) end
    lines[#lines + 1] = table.concat(f, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------- table
local function utf8_width(s)
  return utf8.len(s) or #s
end

---Colour is used only on a terminal, and never when NO_COLOR is set.
function M.use_color(fd)
  local nc = os.getenv("NO_COLOR")
  if nc and nc ~= "" then return false end
  local term = os.getenv("TERM")
  if term == "dumb" then return false end
  return util.isatty(fd or 1)
end

local state_colors = { running = "32", stopped = "2", suspended = "33", deleted = "31",
  unknown = "31", starting = "36" }

---@return string
function M.table(rows, columns, color)
  local widths, grid = {}, {}
  local head = {}
  for i, c in ipairs(columns) do
    head[i] = c.title or c.key
    widths[i] = utf8_width(head[i])
  end
  for r, row in ipairs(rows) do
    grid[r] = {}
    for i, c in ipairs(columns) do
      local s = cell(row[c.key]) or "--"
      grid[r][i] = s
      widths[i] = math.max(widths[i], utf8_width(s))
    end
  end
  local out = {}
  local function line(cells, styler)
    local parts = {}
    for i, s in ipairs(cells) do
      local pad = i < #cells and string.rep(" ", widths[i] - utf8_width(s)) or ""
      parts[i] = (styler and styler(i, s) or s) .. pad
    end
    out[#out + 1] = (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  line(head, color and function(_, s) return "\27[1m" .. s .. "\27[0m" end)
  for _, cells in ipairs(grid) do
    line(cells, color and function(i, s)
      local code = columns[i].key == "state" and state_colors[s]
      return code and ("\27[" .. code .. "m" .. s .. "\27[0m") or s
    end)
  end
  return table.concat(out, "\n") .. "\n"
end

---Renders data in one of M.names.
---@param data table  a list of rows (listing) or any value (json/yaml)
---@param fmt string
---@param opts? {columns?: table[], empty?: string, color?: boolean, value?: any}
---  opts.value: what json/yaml print instead of the rows (e.g. a map by name)
---@return string
function M.render(data, fmt, opts)
  opts = opts or {}
  local order = {}
  for _, c in ipairs(opts.columns or {}) do order[#order + 1] = c.key end
  local structured = opts.value ~= nil and opts.value or M.array(data)
  if fmt == "json" then return M.json(structured, order) end
  if fmt == "yaml" then return M.yaml(structured, order) end
  if fmt == "csv" then return M.csv(data, opts.columns) end
  if fmt == "table" then
    if #data == 0 and opts.empty then return opts.empty .. "\n" end
    local color = opts.color
    if color == nil then color = M.use_color(1) end
    return M.table(data, opts.columns, color)
  end
  error("format: unknown format " .. tostring(fmt))
end

---Writes M.render(...) to stdout.
function M.print(data, fmt, opts)
  io.stdout:write(M.render(data, fmt, opts))
end

---The --format option every listing command takes.
M.option = { "format", type = "enum", values = M.names, default = "table",
  help = "output format" }

return M
