-- Instances on another libvirt host (local.libvirt.uri, or a recipe's
-- `host =`, set to a remote URI such as qemu+ssh://user@host/system): where
-- an instance lives, for list and info, and how SSH reaches its guest. The
-- guest is on a libvirt network moonbase defines on that host
-- (moonbase._core.libvirtnet), or on QEMU user networking there with its SSH
-- forward on the host's 127.0.0.1:PORT; either way moonbase reaches it
-- through the host with `ssh -W ADDRESS:PORT host` as a proxy command, the
-- same ssh (user, port, keyfile, command, no_verify, known_hosts from the
-- URI) that libvirt's own qemu+ssh transport runs to reach libvirtd there.
-- The disks are volumes of the host's storage pool
-- (drivers/libvirt/libvirt_remote.c).
-- layer: services
local M = {}

---Whether uri names another machine: a transport (qemu+ssh://, qemu+tls://)
---or a host in it. The same rule as mb_libvirt_uri_is_remote in
---drivers/libvirt/libvirt_conn.c.
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

---The parts of a libvirt URI: {scheme, transport, user, host, port, params}.
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

---Where an instance of host uri runs, for people: "user@host" ("local" for nil).
---@param uri string?
---@return string
function M.location(uri)
  local u = uri and M.parse(uri)
  if not u then return "local" end
  return (u.user and (u.user .. "@") or "") .. u.host
end

local function quote(s)
  if s:match("^[%w@%%+=:,./_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

---The ssh command line that reaches the host of uri, as libvirt's ssh
---transport builds it, ending in `-W TARGET host` (TARGET given as is).
---@param uri string
---@param target string  "127.0.0.1:2222", or "%h:%p" for an OpenSSH config
---@param escape? fun(s: string): string  applied to each word from the URI
---@return string
function M.ssh_command(uri, target, escape)
  escape = escape or function(s) return s end
  local u = M.parse(uri)
  if not u or u.host == "" then
    error(string.format("cannot tell which host the libvirt URI %s names", uri), 0)
  end
  local p = u.params
  local words = { quote(escape(p.command or "ssh")) }
  local function add(...)
    for _, w in ipairs({ ... }) do words[#words + 1] = quote(escape(w)) end
  end
  if u.port then add("-p", u.port) end
  if u.user then add("-l", u.user) end
  if p.keyfile then add("-i", p.keyfile) end
  if p.known_hosts then add("-o", "UserKnownHostsFile=" .. p.known_hosts) end
  if p.no_verify == "1" then add("-o", "StrictHostKeyChecking=no") end
  add("-o", "BatchMode=yes")
  words[#words + 1] = "-W"
  words[#words + 1] = target
  add(u.host)
  return table.concat(words, " ")
end

---The proxy command the agent reaches the guest's host:port (as the remote
---host sees it) with.
function M.proxy(uri, host, port)
  local v6 = host:find(":", 1, true)
  return M.ssh_command(uri, (v6 and ("[" .. host .. "]") or host) .. ":" .. port)
end

---An OpenSSH ProxyCommand (%h and %p are the Host block's HostName and Port).
function M.proxy_command(uri)
  return M.ssh_command(uri, "%h:%p", function(s) return (s:gsub("%%", "%%%%")) end)
end

return M
