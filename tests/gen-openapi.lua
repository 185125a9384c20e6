-- Writes docs/openapi.json (OpenAPI 3.0) from the daemon's route table:
--   build/moonbase --lua tests/gen-openapi.lua > docs/openapi.json
-- tests/lua/daemon/api_spec.lua fails when the file is out of date, and checks
-- against a running daemon that what it documents is served and nothing else.
local api = require("moonbase._core.api")
local json = require("moonbase.engine.json")

local function error_response(what)
  return { description = what, content = { ["application/json"] = {
    schema = { ["$ref"] = "#/components/schemas/Error" } } } }
end

local paths = {}
local function op(path, method)
  paths[path] = paths[path] or {}
  local o = {}
  paths[path][method:lower()] = o
  return o
end

for _, s in ipairs(api.special) do
  local o = op(s.path, s.method)
  o.summary = s.summary
  o.operationId = s.path:gsub("^/v1/", "")
  o.responses = { ["200"] = { description = "done", content = { ["application/json"] = {
    schema = { ["$ref"] = "#/components/schemas/Result" } } } },
    ["400"] = error_response("bad request"), ["403"] = error_response("refused"),
    ["429"] = error_response("too many failed attempts") }
  if s.method == "POST" then
    o.requestBody = { content = { ["application/json"] = { schema = { type = "object",
      properties = { passphrase = { type = "string" }, token = { type = "string" },
        name = { type = "string" } } } } } }
  end
end

for _, r in ipairs(api.routes) do
  local o = op(r.path, r.method)
  o.operationId = r.fn
  o.summary = "moonbase." .. r.fn .. "(" .. table.concat(r.args, ", ") .. ")"
  o.parameters = {}
  local body = {}
  for _, a in ipairs(r.args) do
    if r.path:find("{" .. a .. "}", 1, true) then
      o.parameters[#o.parameters + 1] = { name = a, ["in"] = "path", required = true,
        schema = { type = "string" } }
    else
      body[#body + 1] = a
    end
  end
  if r.stream then
    o.description = "A WebSocket route (GET with Upgrade: websocket). The arguments are the " ..
      "JSON object in ?args=; messages are binary, a channel byte then the payload (docs/api.md)."
    o["x-websocket"] = true
    o.parameters[#o.parameters + 1] = { name = "args", ["in"] = "query", required = false,
      schema = { type = "string" }, description = "JSON object: " .. table.concat(body, ", ") }
  elseif #body > 0 then
    local props = {}
    for _, a in ipairs(body) do props[a] = {} end
    o.requestBody = { required = false, content = { ["application/json"] = { schema = {
      type = "object", properties = props } } } }
  end
  if #o.parameters == 0 then o.parameters = nil end
  o.responses = { ["200"] = { description = "the function's return values", content = {
    ["application/json"] = { schema = { ["$ref"] = "#/components/schemas/Result" } },
    ["application/vnd.moonbase.frames"] = { schema = { type = "string", format = "binary" } } } },
    ["400"] = error_response("usage error (the CLI's exit status 1)"),
    ["401"] = error_response("no client certificate"),
    ["403"] = error_response("not allowed (not in the group moonbase, untrusted or revoked)"),
    ["404"] = error_response("not found"), ["409"] = error_response("wrong state"),
    ["500"] = error_response("the operation failed"), ["504"] = error_response("timeout") }
end

local doc = {
  openapi = "3.0.3",
  info = { title = "moonbase daemon API", version = api.version,
    description = "Every route calls the public Lua facade function named by its operationId " ..
      "in a worker of the daemon. See docs/api.md." },
  servers = { { url = "https://localhost:8443" }, { url = "http://localhost",
    description = "the unix socket (/run/moonbase/moonbase.sock)" } },
  paths = paths,
  components = { schemas = {
    Result = { type = "object", properties = { result = { type = "array", items = {} },
      n = { type = "integer" } } },
    Error = { type = "object", properties = { error = { type = "object", properties = {
      message = { type = "string" }, code = { type = "string" } } } } },
  } },
}

-- stable output: keys sorted
local function encode(v, ind)
  ind = ind or ""
  if type(v) ~= "table" then return json.encode(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  local is_array = #keys == #v and (#v > 0 or getmetatable(v) == json.array_mt)
  if #keys == 0 then return "{}" end
  local inner, out = ind .. "  ", {}
  if is_array then
    for _, x in ipairs(v) do out[#out + 1] = inner .. encode(x, inner) end
    return "[\n" .. table.concat(out, ",\n") .. "\n" .. ind .. "]"
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    out[#out + 1] = inner .. json.encode(k) .. ": " .. encode(v[k], inner)
  end
  return "{\n" .. table.concat(out, ",\n") .. "\n" .. ind .. "}"
end
io.stdout:write(encode(doc), "\n")
