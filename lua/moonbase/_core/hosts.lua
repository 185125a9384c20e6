-- Hosts of instances placed on another machine: a driver whose setting names
-- a host (local.libvirt.uri; a recipe's `host =`) may put a new instance
-- there, and the record keeps that URI. What moonbase itself needs of such a
-- URI: whether it names another machine, who and where for people (list's
-- Host column), and the proxy command the driver gives to reach the guest's
-- SSH through that host, with its %h and %p filled in.
-- layer: services
local M = {}

---Whether uri names another machine: a transport (qemu+ssh://, qemu+tls://)
---or a host in it (not localhost).
---@param uri string
---@return boolean
function M.is_remote(uri)
  local scheme, rest = uri:match("^([%w+.-]+):(.*)$")
  if not scheme then return false end
  if scheme:find("+", 1, true) then return true end
  local host = rest:match("^//([^/]*)")
  return host ~= nil and host ~= "" and host ~= "localhost"
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

---The parts of a URI: {scheme, transport, user, host, port, params}.
---@param uri string
---@return table?
function M.parse(uri)
  local scheme, auth, query = uri:match("^([%w+.-]+)://([^/?]*)[^?]*%??(.*)$")
  if not scheme then return nil end
  local user, hostport = auth:match("^(.*)@(.*)$")
  if not user then hostport = auth end
  local host, port = hostport:match("^%[(.*)%]:?(%d*)$")
  if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
  local params = {}
  for k, v in query:gmatch("([^&=]+)=?([^&]*)") do params[unescape(k)] = unescape(v) end
  return { scheme = scheme, transport = scheme:match("%+(.+)$"), user = user and unescape(user),
    host = host, port = port ~= "" and port or nil, params = params }
end

---Where an instance placed on uri runs, for people: "user@host" ("local"
---for nil).
---@param uri string?
---@return string
function M.location(uri)
  local u = uri and M.parse(uri)
  if not u then return "local" end
  return (u.user and (u.user .. "@") or "") .. u.host
end

---A proxy command (OpenSSH's ProxyCommand form, as a driver's ssh_address
---gives it) with %h and %p replaced by host and port, %% by %.
---@param template string
---@param host string
---@param port integer|string
---@return string
function M.expand_proxy(template, host, port)
  local h = host:find(":", 1, true) and ("[" .. host .. "]") or host
  return (template:gsub("%%(.)", function(c)
    if c == "h" then return h end
    if c == "p" then return tostring(port) end
    return c
  end))
end

return M
