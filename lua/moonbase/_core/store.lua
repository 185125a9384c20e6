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
  local me = require("moonbase.engine.util").getpid()
  local alive = require("moonbase.engine.process").alive
  for _, n in ipairs(fs.list(dir) or {}) do
    local pid = math.tointeger(tonumber(n:match("^%..+%.tmp%.(%d+)%.%d+$") or ""))
    if pid and pid ~= me and not alive(pid) then fs.remove(dir .. "/" .. n) end
  end
end

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
    return nil, string.format("%s is not valid JSON (%s): fix or remove it", path,
      tostring(value):gsub("^.-: ", "")), "failed"
  end
  if type(value) == "table" then return integers(value) end
  return value
end

---Writes value as JSON, atomically; creates the directory.
function M.write(path, value, mode)
  local dir = dir_of(path)
  errors.check(nil, fs.mkdirs(dir))
  M.sweep(dir)
  return errors.check(nil, fs.write(path, json.encode(value), mode))
end

return M
