-- JSON state files: read, and write atomically (tmp + fsync + rename, in C).
local fs = require("moonbase.core.fs")
local json = require("moonbase.core.json")
local errors = require("moonbase.errors")

local M = {}

-- cjson reads every number as a float; records hold counts and byte sizes
local function integers(v)
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = integers(x) end
  elseif math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 63 then
    return math.tointeger(v)
  end
  return v
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
  return integers(value)
end

---Writes value as JSON, atomically; creates the directory.
function M.write(path, value, mode)
  local dir = path:match("^(.*)/[^/]*$")
  errors.check(nil, fs.mkdirs(dir))
  return errors.check(nil, fs.write(path, json.encode(value), mode))
end

return M
