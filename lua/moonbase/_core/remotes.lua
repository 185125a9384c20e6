-- Remotes: the simplestreams image hosts that REMOTE:ALIAS image references
-- name. Two are built in (ubuntu, ubuntu-daily); users add their own, kept in
-- <config>/remotes.json under a lock. Reading a remote's catalogue is
-- moonbase._core.simplestreams; references are moonbase._core.images.
-- layer: services
local fs = require("moonbase.engine.fs")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local names = require("moonbase._core.names")
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
M.reserved = names.RESERVED_REMOTES

local function remotes_file()
  return paths.config .. "/remotes.json"
end

-- The user's remotes, checked when read: good (name -> {url}), damaged
-- (name -> message), and why the whole file is unusable (or nil). Built-in
-- remotes work whatever the file holds.
local function user_remotes()
  local t, problem = store.read_checked(remotes_file(), "object", {}, "the remotes file")
  if not t then return {}, {}, problem end
  local good, damaged = {}, {}
  for name, r in pairs(t) do
    local why = (not names.valid_remote(name)) and "its name is not a remote name" or
      store.check(r, { url = "string" })
    if why then
      damaged[name] = string.format('remote "%s" in %s is damaged: %s (fix it, or remove it: ' ..
        "moonbase remote remove %s)", name, remotes_file(), why, name)
    else
      good[name] = r
    end
  end
  return good, damaged
end

---Every remote, sorted by name: {name, url, builtin}, and a warning for
---each damaged one (or the unusable file).
---@return {name: string, url: string, builtin: boolean}[], string[]
function M.list()
  local out = {}
  for name, url in pairs(M.builtin) do
    out[#out + 1] = { name = name, url = url, builtin = true }
  end
  local good, damaged, problem = user_remotes()
  for name, r in pairs(good) do
    if not M.builtin[name] then
      out[#out + 1] = { name = name, url = r.url, builtin = false }
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  local warnings = { problem }
  for _, msg in pairs(damaged) do warnings[#warnings + 1] = msg end
  table.sort(warnings)
  return out, warnings
end

---The base URL of a remote, or nil, message, "notfound".
---@param name string
---@return string? url
---@return string? message
---@return string? code
function M.url(name)
  if M.builtin[name] then return M.builtin[name] end
  local good, damaged, problem = user_remotes()
  if good[name] then return good[name].url end
  if damaged[name] or problem then return nil, damaged[name] or problem, "damaged" end
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

-- a damaged file is refused, not overwritten (its entries are kept as they are)
local function edit_remotes(fn)
  local _, _, problem = user_remotes()
  if problem then errors.raise(problem, "damaged") end
  errors.check("remote", fs.mkdirs(paths.config))
  local lock <close> = errors.check("remote", fs.lock(paths.config .. "/remotes.lock"))
  local t = errors.check(nil, store.read_checked(remotes_file(), "object", {}, "the remotes file"))
  fn(t)
  store.write(remotes_file(), t)
end

---Adds a remote. Returns its normalized URL and, for http://, a warning.
---@param name string
---@param url string
---@return string url
---@return string? warning
function M.add(name, url)
  names.remote(name)
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
  names.remote(name)
  if M.builtin[name] then
    errors.raise(string.format('remote "%s" is built in and cannot be removed', name), "state")
  end
  local function known(t)
    if t[name] == nil then
      errors.raise(string.format('unknown remote "%s" (try: moonbase remote list)', name),
        "notfound")
    end
  end
  local good, damaged, problem = user_remotes()
  if problem then errors.raise(problem, "damaged") end
  if not damaged[name] then known(good) end -- before the lock: a refusal leaves nothing
  edit_remotes(function(t)
    known(t)
    t[name] = nil
  end)
  ss.forget(name)
end

return M
