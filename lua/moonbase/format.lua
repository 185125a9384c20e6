-- Output formats for everything a command lists: an aligned table (colour only
-- on a terminal, never with NO_COLOR), JSON, YAML and CSV. Output is
-- deterministic (keys in column order, then sorted) so it can be diffed.
--
-- One data model in every format: a listing is rows plus columns, and every
-- format shows the same columns under the same names (the column's key; the
-- table prints its title). JSON, YAML and CSV carry full values: bytes,
-- seconds, ISO 8601 UTC times, full ids. Only the table abbreviates, by the
-- column's kind:
--   bytes    1073741824 -> 1G            seconds  3725 -> 1h 2m 5s
--   time     an ISO time, shown as is    age      an ISO time -> "5m ago"
--   id       shown to 12 characters      list     {"a", "b"} -> a,b
-- and a column marked detail = true is left out of the table (it is the
-- structured form of something the table says in words). A column's
-- text(value, row) renders a nested value for the table and CSV.
-- layer: records
local util = require("moonbase.engine.util")
local units = require("moonbase.units")

local M = {}

M.names = { "table", "json", "yaml", "csv" }

local array_mt = { __name = "array" }
local null_mt = { __name = "null", __tostring = function() return "null" end }

---The JSON/YAML null: a field a row has no value for (a table cell shows --).
M.null = setmetatable({}, null_mt)

local function is_null(v)
  return v == nil or v == M.null or type(v) == "userdata"
end

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
    if t[k] ~= nil and not seen[k] then keys[#keys + 1] = k; seen[k] = true end
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
  if is_null(v) then out[#out + 1] = "null"
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
  if is_null(v) then return "null" end
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
  if type(v) ~= "table" or v == M.null then
    out[#out + 1] = yaml_block(v, indent) or (" " .. yaml_scalar(v) .. "\n")
    return
  end
  if is_array(v) then
    if #v == 0 then out[#out + 1] = " []\n"; return end
    out[#out + 1] = "\n"
    for _, item in ipairs(v) do
      if type(item) == "table" and item ~= M.null and not is_array(item) and next(item) then
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
  if type(v) ~= "table" or v == M.null then return yaml_scalar(v) .. "\n" end
  -- an empty document is "[]" or "{}", never " []"
  if next(v) == nil then return is_array(v) and "[]\n" or "{}\n" end
  yaml_encode(v, "", order, out)
  local s = table.concat(out)
  return (s:gsub("^\n", ""))
end

---------------------------------------------------------------- values
---An epoch time as ISO 8601 UTC: whole seconds for an integer, milliseconds
---for a float. Strings pass through.
---@return string?
function M.time(t)
  if type(t) ~= "number" then return t end
  local whole = math.floor(t)
  local ms = math.floor((t - whole) * 1000 + 0.5)
  if ms >= 1000 then whole, ms = whole + 1, 0 end
  local s = os.date("!%Y-%m-%dT%H:%M:%S", whole)
  -- a float (a clock reading) always has milliseconds, so such times sort as text
  if math.type(t) == "float" then s = s .. string.format(".%03d", ms) end
  return s .. "Z"
end

---Seconds since the epoch of an ISO 8601 UTC time M.time wrote.
---@return number?
function M.epoch(iso)
  if type(iso) == "number" then return iso end
  if type(iso) ~= "string" then return nil end
  local y, mo, d, h, mi, s, frac = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)Z$")
  if not y then return nil end
  -- timegm: days from the civil date (Howard Hinnant's algorithm)
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) +
    (tonumber("0" .. frac) or 0)
end

---"just now", "5m ago", "3d 4h ago" for an ISO or epoch time.
function M.ago(t, now)
  local e = M.epoch(t)
  if not e then return nil end
  local d = math.max(0, math.floor((now or util.time()) - e))
  if d < 60 then return "just now" end
  d = d - d % 60
  if d >= 86400 then d = d - d % 3600 end
  return units.format_duration(d):gsub(" 0s$", "") .. " ago"
end

-- one line of JSON for a nested value in a table or CSV cell
local function compact_json(v, order)
  if is_null(v) then return "null" end
  local t = type(v)
  if t == "string" then return json_string(v) end
  if t == "number" then return json_number(v) end
  if t ~= "table" then return tostring(v) end
  local parts = {}
  if is_array(v) then
    for _, x in ipairs(v) do parts[#parts + 1] = compact_json(x, order) end
    return "[" .. table.concat(parts, ", ") .. "]"
  end
  for _, k in ipairs(sorted_keys(v, order)) do
    parts[#parts + 1] = json_string(tostring(k)) .. ": " .. compact_json(v[k], order)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end
M.compact_json = compact_json

-- The value a structured format shows for a column.
local function full_value(c, v)
  if is_null(v) then return M.null end
  if (c.kind == "time" or c.kind == "age") and type(v) == "number" then return M.time(v) end
  if c.kind == "list" and type(v) == "table" then return M.array(v) end
  return v
end

-- The text of a cell: the table's (human) or CSV's (full), or nil for none.
local function cell(c, v, row, human)
  if is_null(v) then return nil end
  if c.text and type(v) == "table" then v = c.text(v, row) if v == nil then return nil end end
  if human then
    if c.kind == "bytes" and type(v) == "number" then return units.format_size(v) end
    if c.kind == "seconds" and type(v) == "number" then return units.format_duration(v) end
    if c.kind == "age" then return M.ago(v) end
    if c.kind == "id" and type(v) == "string" then return v:sub(1, 12) end
  end
  if (c.kind == "time" or c.kind == "age") and type(v) == "number" then return M.time(v) end
  if type(v) == "table" then
    if is_array(v) then
      local parts = {}
      for _, x in ipairs(v) do
        parts[#parts + 1] = type(x) == "table" and compact_json(x) or tostring(x)
      end
      if #parts == 0 then return nil end
      return table.concat(parts, ",")
    end
    if next(v) == nil then return nil end
    return compact_json(v)
  end
  if type(v) == "number" then return json_number(v) end
  return tostring(v)
end

---One row as the structured formats show it: every column's key, in order,
---null where the row has no value.
function M.project(row, columns)
  local out = {}
  for _, c in ipairs(columns) do out[c.key] = full_value(c, row[c.key]) end
  return out
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
    for _, c in ipairs(columns) do f[#f + 1] = csv_field(cell(c, r[c.key], r, false)) end
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

-- the table's columns: not the details, nor those whose `when(rows)` says
-- they would say nothing here (e.g. a host column where every instance is local)
local function table_columns(columns, rows)
  local out = {}
  for _, c in ipairs(columns) do
    if not c.detail and (not c.when or c.when(rows or {})) then out[#out + 1] = c end
  end
  return out
end

---@return string
function M.table(rows, columns, color)
  columns = table_columns(columns, rows)
  local widths, grid = {}, {}
  local head = {}
  for i, c in ipairs(columns) do
    head[i] = c.title or c.key
    widths[i] = utf8_width(head[i])
  end
  for r, row in ipairs(rows) do
    grid[r] = {}
    for i, c in ipairs(columns) do
      local s = (cell(c, row[c.key], row, true) or "--"):gsub("[\r\n\t]", " ")
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

---Each row as a block of "Title: value" lines (`info`), blocks apart by a
---blank line.
---@return string
function M.records(rows, columns)
  columns = table_columns(columns, rows)
  local width = 0
  for _, c in ipairs(columns) do width = math.max(width, utf8_width(c.title or c.key) + 1) end
  local out = {}
  for i, row in ipairs(rows) do
    if i > 1 then out[#out + 1] = "" end
    for _, c in ipairs(columns) do
      local t = (c.title or c.key) .. ":"
      local v = cell(c, row[c.key], row, true)
      out[#out + 1] = t .. string.rep(" ", width - utf8_width(t) + 1) .. (v or "--")
    end
  end
  return table.concat(out, "\n") .. "\n"
end

---Renders data in one of M.names.
---@param data table  a list of rows
---@param fmt string
---@param opts? {columns?: table[], empty?: string, color?: boolean, value?: any, by?: string, vertical?: boolean, wrap?: fun(rows: table): table, order?: string[]}
---  opts.order: more keys, in the order nested maps show them
---  json/yaml print the rows (projected on the columns) as a list, or:
---  opts.by: a map from each row's field `by` to the row (`info`);
---  opts.wrap(rows): a document holding the projected rows (`plan`, `status`);
---  opts.value: this value itself.
---  opts.vertical: the table is one "Title: value" block per row.
---@return string
function M.render(data, fmt, opts)
  opts = opts or {}
  local columns = opts.columns or {}
  local order = {}
  for _, c in ipairs(columns) do order[#order + 1] = c.key end
  for _, k in ipairs(opts.order or {}) do order[#order + 1] = k end
  if fmt == "json" or fmt == "yaml" then
    local structured = opts.value
    if structured == nil then
      local rows = M.array({})
      for i, r in ipairs(data) do rows[i] = #columns > 0 and M.project(r, columns) or r end
      if opts.by then
        structured = {}
        for i, r in ipairs(data) do structured[r[opts.by]] = rows[i] end
      elseif opts.wrap then
        structured = opts.wrap(rows)
      else
        structured = rows
      end
    end
    if fmt == "json" then return M.json(structured, order) end
    return M.yaml(structured, order)
  end
  if fmt == "csv" then return M.csv(data, columns) end
  if fmt == "table" then
    if #data == 0 and opts.empty then return opts.empty .. "\n" end
    if opts.vertical then return M.records(data, columns) end
    local color = opts.color
    if color == nil then color = M.use_color(1) end
    return M.table(data, columns, color)
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

---The fields of a listing for the reference: "name, state, memory (bytes;
---the table: 1G), ...".
---@return string
function M.describe(columns)
  local human = { bytes = "bytes; the table: 1G", seconds = "seconds; the table: 1h 2m",
    time = "ISO 8601 UTC", age = "ISO 8601 UTC; the table: 5m ago",
    id = "the table: 12 characters", list = "a list" }
  local parts = {}
  for _, c in ipairs(columns) do
    local notes = {}
    if human[c.kind] then notes[#notes + 1] = human[c.kind] end
    if c.detail then notes[#notes + 1] = "not in the table" end
    if c.when then notes[#notes + 1] = "in the table " .. (c.when_text or "when it says something") end
    if c.note then notes[#notes + 1] = c.note end
    parts[#parts + 1] = c.key .. (#notes > 0 and (" (" .. table.concat(notes, "; ") .. ")") or "")
  end
  return table.concat(parts, ", ")
end

return M
