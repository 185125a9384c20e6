-- Remotes: the simplestreams image hosts that REMOTE:ALIAS image references
-- name. Two are built in (ubuntu, ubuntu-daily); users add their own, kept in
-- <config>/remotes.json under a lock. Reading a remote's catalogue is
-- moonbase._core.simplestreams; references are moonbase._core.images.
-- layer: services
local fs = require("moonbase.engine.fs")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local ss = require("moonbase._core.simplestreams")
local errors = require("moonbase.errors")

local M = {}

---@type table<string, string>
M.builtin = {
  ubuntu = "https://cloud-images.ubuntu.com/releases/",
  ["ubuntu-daily"] = "https://cloud-images.ubuntu.com/daily/",
}
---The remote of an image reference without one (ALIAS).
M.default = "ubuntu"
---Names that are URL schemes, never remotes.
M.reserved = { file = true, http = true, https = true }

local function remotes_file()
  return paths.config .. "/remotes.json"
end

local function user_remotes()
  local t = errors.check("remote", store.read(remotes_file(), {}))
  if type(t) ~= "table" then t = {} end
  return t
end

---Every remote, sorted by name: {name, url, builtin}.
---@return {name: string, url: string, builtin: boolean}[]
function M.list()
  local out = {}
  for name, url in pairs(M.builtin) do
    out[#out + 1] = { name = name, url = url, builtin = true }
  end
  for name, r in pairs(user_remotes()) do
    if not M.builtin[name] and type(r) == "table" and type(r.url) == "string" then
      out[#out + 1] = { name = name, url = r.url, builtin = false }
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

---The base URL of a remote, or nil, message, "notfound".
---@param name string
---@return string? url
---@return string? message
---@return string? code
function M.url(name)
  if M.builtin[name] then return M.builtin[name] end
  local r = user_remotes()[name]
  if type(r) == "table" and type(r.url) == "string" then return r.url end
  return nil, string.format('unknown remote "%s" (try: moonbase remote list, or moonbase ' ..
    "remote add %s URL)", name, name), "notfound"
end

---Checks a remote URL: http(s)://host[/path]; returns it with a final "/".
---@param url string
---@return string? url
---@return string? message
function M.check_url(url)
  local scheme, host = tostring(url):match("^(%a+)://([^/?#%s]+)[^%s]*$")
  if not scheme or (scheme:lower() ~= "http" and scheme:lower() ~= "https") or host == "" then
    return nil, string.format('invalid remote URL "%s": expected http(s)://host/path/ of a ' ..
      "simplestreams image host", tostring(url))
  end
  if url:find("[?#]") then
    return nil, string.format('invalid remote URL "%s": no query or fragment, please', url)
  end
  return (url:gsub("/*$", "/"))
end

local function edit_remotes(fn)
  errors.check("remote", fs.mkdirs(paths.config))
  local lock <close> = errors.check("remote", fs.lock(paths.config .. "/remotes.lock"))
  local t = user_remotes()
  fn(t)
  store.write(remotes_file(), t)
end

---Adds a remote. Returns its normalized URL and, for http://, a warning.
---@param name string
---@param url string
---@return string url
---@return string? warning
function M.add(name, url)
  if not tostring(name):match("^[a-z][a-z0-9-]*$") or #name > 32 or M.reserved[name] then
    errors.usage(string.format('invalid remote name "%s": use lowercase letters, digits and ' ..
      "dashes, starting with a letter (not file, http or https)", tostring(name)))
  end
  local norm, msg = M.check_url(url)
  if not norm then errors.usage(msg) end
  if M.builtin[name] then
    errors.raise(string.format('remote "%s" is built in and cannot be replaced (pick another ' ..
      "name)", name), "exists")
  end
  edit_remotes(function(t)
    if t[name] then
      errors.raise(string.format('remote "%s" exists already (try: moonbase remote remove %s ' ..
        "first)", name, name), "exists")
    end
    t[name] = { url = norm }
  end)
  ss.forget(name)
  local warning
  if norm:sub(1, 7):lower() == "http://" then
    warning = string.format('remote "%s" uses plain http://: manifests can be altered on the ' ..
      "way (images are still checked against their sha256); prefer https://", name)
  end
  return norm, warning
end

---Removes a user remote.
---@param name string
function M.remove(name)
  if M.builtin[name] then
    errors.raise(string.format('remote "%s" is built in and cannot be removed', name), "state")
  end
  edit_remotes(function(t)
    if not t[name] then
      errors.raise(string.format('unknown remote "%s" (try: moonbase remote list)', name),
        "notfound")
    end
    t[name] = nil
  end)
  ss.forget(name)
end

return M
