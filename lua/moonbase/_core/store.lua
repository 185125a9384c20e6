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

---Reads a JSON file. Missing file -> default (or nil, msg, "notfound").
function M.read(path, default)
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
  local dir = path:match("^(.*)/[^/]*$")
  errors.check(nil, fs.mkdirs(dir))
  return errors.check(nil, fs.write(path, json.encode(value), mode))
end

return M
