-- JSON state files: read, and write atomically (tmp + fsync + rename, in C).
-- layer: records
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local errors = require("moonbase.errors")

local M = {}

-- cjson reads every number as a float; records hold counts and byte sizes
local floor, tointeger = math.floor, math.tointeger
local function integers(t)
  for k, x in pairs(t) do
    local tx = type(x)
    if tx == "table" then
      integers(x)
    elseif tx == "number" and x == floor(x) and x > -2 ^ 63 and x < 2 ^ 63 then
      t[k] = tointeger(x)
    end
  end
  return t
end

-- A writer killed between creating its temporary file and renaming it into
-- place leaves ".<name>.tmp.<pid>.<n>" behind (engine/core/fs.c). The first
-- read or write of a directory in a process removes those whose writer is
-- gone, as launch sweeps its staging directories.
local swept = {}
function M.sweep(dir)
  if swept[dir] then return end
  swept[dir] = true
  fs.sweep(dir)
end

---Forgets which directories were swept: a long-lived process (the daemon)
---sweeps again at its next call, and so does a worker it forks.
function M.forget() swept = {} end

---Whole-number floats (cjson's reading of every number) made integers, in place.
M.integers = integers

local function dir_of(path) return path:match("^(.*)/[^/]*$") or "." end

---JSON has no table with both an array part and keys (a parsed command line:
---{"app.lua", param = {...}}); cjson writes its array part as keys "1", "2",
---... This turns such keys back into integers, in place (the daemon's API).
function M.arrays(t)
  if type(t) ~= "table" then return t end
  local moved = {}
  for k, v in pairs(t) do
    if type(k) == "string" and k:match("^[1-9]%d*$") then moved[#moved + 1] = k end
    if type(v) == "table" then M.arrays(v) end
  end
  for _, k in ipairs(moved) do
    t[tointeger(tonumber(k))], t[k] = t[k], nil
  end
  return t
end

---Reads a JSON file. Missing file -> default (or nil, msg, "notfound").
function M.read(path, default)
  M.sweep(dir_of(path))
  local text, msg, code = fs.read(path)
  if not text then
    if code == "notfound" and default ~= nil then return default end
    return nil, msg, code
  end
  local ok, value = pcall(json.decode, text)
  if not ok then
    return nil, string.format("%s is not valid JSON (%s)", path,
      tostring(value):gsub("^.-: ", "")), "damaged"
  end
  if type(value) == "table" then return integers(value) end
  return value
end

---------------------------------------------------------------- shapes
-- What a state file must hold, checked when it is read, so a damaged one is
-- reported (what is wrong, where) instead of breaking whatever reads it.
-- A shape is a type name ("string", "integer", "number", "boolean",
-- "object", "name": an instance name, "file": a plain file name), a
-- table { list = shape } or { map = shape } (string keys), or a table of
-- fields { field = shape, ... }; a type name ending in "?" may be absent.

local function kind_of(v)
  if v == json.null then return "null" end
  if math.type(v) == "integer" then return "a whole number" end
  local t = type(v)
  if t == "table" then return (next(v) ~= nil and v[1] ~= nil) and "a list" or "an object" end
  if t == "boolean" then return tostring(v) end
  return "a " .. t
end

local WANT = { string = "a string", integer = "a whole number", number = "a number",
  boolean = "true or false", object = "an object", name = "an instance name",
  file = "a file name", list = "a list" }

local function is_object(v)
  return type(v) == "table" and not (next(v) ~= nil and v[1] ~= nil)
end

local function field(at, k)
  if at == "it" then return tostring(k) end
  return at .. (math.type(k) == "integer" and ("[" .. k .. "]") or ("." .. tostring(k)))
end

-- A shape's field names, sorted (the same field is named first every time),
-- worked out once per shape: every record of a listing is checked.
local sorted_keys = setmetatable({}, { __mode = "k" })
local function keys_of(shape)
  local keys = sorted_keys[shape]
  if keys == nil then
    keys = {}
    for k in pairs(shape) do if k ~= "optional" then keys[#keys + 1] = k end end
    table.sort(keys)
    sorted_keys[shape] = keys
  end
  return keys
end

local valid_name
local base_type = {} -- "integer?" -> "integer"
-- at: the path of v for the message ("it", "nics[1].ipv4"), or false for a
-- quick yes/no (true when v is not of the shape): most records are fine, and
-- naming every field on the way costs a listing more than the rest.
local function check(v, shape, at)
  if type(shape) == "string" then
    local t = base_type[shape]
    if t == nil then
      t = shape:sub(-1) == "?" and shape:sub(1, -2) or shape
      base_type[shape] = t
    end
    local optional = t ~= shape
    if v == nil or v == json.null then
      if optional and v == nil then return nil end
      return at and string.format("%s is %s", at, v == nil and "missing" or "null") or true
    end
    local ok
    if t == "string" then ok = type(v) == "string"
    elseif t == "integer" then ok = math.type(v) == "integer"
    elseif t == "number" then ok = type(v) == "number"
    elseif t == "boolean" then ok = type(v) == "boolean"
    elseif t == "object" then ok = is_object(v)
    elseif t == "name" then
      valid_name = valid_name or require("moonbase.engine.util").valid_name
      ok = type(v) == "string" and (valid_name(v)) == true
    elseif t == "file" then
      ok = type(v) == "string" and v ~= "" and v ~= "." and v ~= ".." and not v:find("/", 1, true)
    end
    if ok then return nil end
    return at and string.format("%s is %s, not %s", at, type(v) == "string" and
      string.format("%q", #v > 40 and (v:sub(1, 40) .. "...") or v) or kind_of(v), WANT[t]) or true
  end
  if shape.list then
    if type(v) ~= "table" or not (next(v) == nil or v[1] ~= nil) then
      return at and string.format("%s is %s, not a list", at, kind_of(v)) or true
    end
    for i, x in ipairs(v) do
      local why = check(x, shape.list, at and field(at, i))
      if why then return why end
    end
    return nil
  end
  if not is_object(v) then
    return at and string.format("%s is %s, not an object", at, kind_of(v)) or true
  end
  if shape.map then
    for k, x in pairs(v) do
      local why = type(k) ~= "string" and (at and (at .. " has a key that is not a string") or true) or
        check(x, shape.map, at and field(at, k))
      if why then return why end
    end
    return nil
  end
  for _, k in ipairs(keys_of(shape)) do
    local x, sub = v[k], shape[k]
    if not (x == nil and type(sub) == "table" and sub.optional) then
      local why = check(x, sub, at and field(at, k))
      if why then return why end
    end
  end
  return nil
end

-- The quick yes/no of a shape, built once into closures (a listing checks a
-- record per instance; walking the shape's table for each costs several
-- times that, and generating Lua source for load() cost a command more to
-- parse, 0.4 ms, than its ten records to check). It returns true when v is
-- not of the shape; check(v, shape, "it") then says why.
local math_type, find = math.type, string.find
local TYPE_OK = {
  string = function(x) return type(x) == "string" end,
  integer = function(x) return math_type(x) == "integer" end,
  number = function(x) return type(x) == "number" end,
  boolean = function(x) return type(x) == "boolean" end,
  object = function(x) return is_object(x) end,
  name = function(x)
    valid_name = valid_name or require("moonbase.engine.util").valid_name
    return type(x) == "string" and valid_name(x) == true
  end,
  file = function(x)
    return type(x) == "string" and x ~= "" and x ~= "." and x ~= ".." and
      not find(x, "/", 1, true)
  end,
}

-- The plain types' checks written out (a call less per field of a record;
-- json.null is none of these types, nil only of an optional one).
local TYPE_BAD = {
  string = function(x) return type(x) ~= "string" end,
  ["string?"] = function(x) return x ~= nil and type(x) ~= "string" end,
  integer = function(x) return math_type(x) ~= "integer" end,
  ["integer?"] = function(x) return x ~= nil and math_type(x) ~= "integer" end,
  number = function(x) return type(x) ~= "number" end,
  ["number?"] = function(x) return x ~= nil and type(x) ~= "number" end,
  boolean = function(x) return type(x) ~= "boolean" end,
  ["boolean?"] = function(x) return x ~= nil and type(x) ~= "boolean" end,
}

local function build(shape)
  if type(shape) == "string" then
    if TYPE_BAD[shape] then return TYPE_BAD[shape] end
    local t = shape:sub(-1) == "?" and shape:sub(1, -2) or shape
    local ok = assert(TYPE_OK[t], "unknown type in a shape: " .. shape)
    if t ~= shape then
      return function(x) return x ~= nil and (x == json.null or not ok(x)) end
    end
    return function(x) return x == nil or x == json.null or not ok(x) end
  end
  if shape.list then
    local bad = build(shape.list)
    return function(x)
      if type(x) ~= "table" or not (next(x) == nil or x[1] ~= nil) then return true end
      for _, e in ipairs(x) do if bad(e) then return true end end
      return false
    end
  end
  if shape.map then
    local bad = build(shape.map)
    return function(x)
      if not is_object(x) then return true end
      for k, e in pairs(x) do
        if type(k) ~= "string" or bad(e) then return true end
      end
      return false
    end
  end
  local keys, bads, optional = {}, {}, {}
  for i, k in ipairs(keys_of(shape)) do
    local sub = shape[k]
    keys[i], bads[i] = k, build(sub)
    optional[i] = type(sub) == "table" and sub.optional or false
  end
  local n = #keys
  return function(x)
    if not is_object(x) then return true end
    for i = 1, n do
      local e = x[keys[i]]
      if (e ~= nil or not optional[i]) and bads[i](e) then return true end
    end
    return false
  end
end

-- by shape: tables (records' shapes, weakly) and type names ("object", the
-- settings file's: read by every command, built once too)
local compiled = setmetatable({}, { __mode = "k" })
local function quick_check(shape)
  local f = compiled[shape]
  if f then return f end
  f = build(shape)
  compiled[shape] = f
  return f
end

---Why v does not have the shape, or nil when it does.
---@return string? reason  e.g. "cpus is \"two\", not a whole number"
function M.check(v, shape)
  if quick_check(shape)(v) then return check(v, shape, "it") or "it is not of its shape" end
  return nil
end

---The same answer by walking the shape (the reference the tests hold the
---compiled check to).
function M.check_walking(v, shape) return check(v, shape, "it") end

---Reads a JSON file that must have a shape: the value, default when the
---file is missing, or nil, message, code ("damaged" when it is not what it
---must be; the message names the file, what is wrong and what to do).
---@param what string  e.g. "the aliases file"
function M.read_checked(path, shape, default, what)
  local v, msg, code = M.read(path, default)
  if v == nil then
    if code == "damaged" then
      return nil, string.format("%s %s (fix or remove it)", what, msg), code
    end
    return nil, msg, code
  end
  local why = M.check(v, shape)
  if why then
    return nil, string.format("%s %s is damaged: %s (fix or remove it)", what, path, why),
      "damaged"
  end
  return v
end

---Writes value as JSON, atomically; creates the directory.
function M.write(path, value, mode)
  local dir = dir_of(path)
  errors.check(nil, fs.mkdirs(dir))
  M.sweep(dir)
  return errors.check(nil, fs.write(path, json.encode(value), mode))
end

return M
