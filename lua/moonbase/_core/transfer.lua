-- Copying files between the host and instances (SFTP through the instance
-- agent). Paths are "NAME:path" for an instance (relative to the default
-- user's home) or host paths; "-" is stdin (as a source) or stdout (as the
-- destination). Recipes' copy steps use this too (moonbase.transfer is the
-- public face).
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local guest = require("moonbase._core.guest")
local errors = require("moonbase.errors")

local M = {}

---@class moonbase.Endpoint
---@field instance? string
---@field path string

---Splits "NAME:path" (an existing instance) from a host path.
---@return moonbase.Endpoint
function M.parse(arg, find)
  local name, path = arg:match("^([a-z][a-z0-9-]*):(.*)$")
  if name and (find or instances.find)(name) then
    return { instance = name, path = path ~= "" and path or "." }
  end
  return { path = arg }
end

local function basename(p)
  return (p:gsub("/+$", ""):match("([^/]+)$")) or p
end

local function join(dir, name)
  if dir == "" or dir == "." then return name end
  return (dir:gsub("/+$", "")) .. "/" .. name
end

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  return util.getcwd() .. "/" .. p
end

local function running(name) return lifecycle.running_record(name, "transfer") end

local function remote_is_dir(rec, path)
  return guest.capture(rec, "test -d " .. guest.quote(path)) == 0
end

local function put_tree(rec, src, dst, o)
  local st = errors.check("transfer", fs.stat(src))
  if st.type == "directory" then
    if not o.recursive then
      errors.usage(string.format("transfer: %s is a directory (try: -r)", src))
    end
    local status = guest.capture(rec, "mkdir -p " .. guest.quote(dst))
    if status ~= 0 then errors.raise("transfer: cannot create " .. dst .. " in " .. rec.name) end
    local names = errors.check("transfer", fs.list(src))
    table.sort(names)
    for _, n in ipairs(names) do put_tree(rec, src .. "/" .. n, dst .. "/" .. n, o) end
  else
    guest.put(rec, absolute(src), dst, o)
  end
end

local function get_tree(rec, src, dst, o)
  if remote_is_dir(rec, src) then
    if not o.recursive then
      errors.usage(string.format("transfer: %s:%s is a directory (try: -r)", rec.name, src))
    end
    -- plain find and sed, which busybox guests have too
    local status, out = guest.capture(rec, "cd " .. guest.quote(src) ..
      " && find . -mindepth 1 -type d | sed 's/^/d /' && find . -mindepth 1 -type f | sed 's/^/f /'")
    if status ~= 0 then errors.raise("transfer: cannot list " .. rec.name .. ":" .. src) end
    errors.check("transfer", fs.mkdirs(dst))
    for line in out:gmatch("[^\n]+") do
      local kind, rel = line:match("^([df]) %./(.+)$")
      if kind == "d" then
        errors.check("transfer", fs.mkdirs(dst .. "/" .. rel))
      elseif kind == "f" then
        guest.get(rec, src .. "/" .. rel, absolute(dst .. "/" .. rel), o)
      end
    end
  else
    guest.get(rec, src, absolute(dst), o)
  end
end

---The parsed destination and sources; a usage error unless exactly one side
---is an instance.
---@return moonbase.Endpoint dest, moonbase.Endpoint[] sources
---(find: how an instance is looked up; a daemon's client asks the daemon)
function M.endpoints(sources, dest, find)
  local d = M.parse(dest, find)
  local srcs = {}
  for _, s in ipairs(sources) do srcs[#srcs + 1] = M.parse(s, find) end
  for _, s in ipairs(srcs) do
    if (s.instance ~= nil) == (d.instance ~= nil) then
      errors.usage("transfer: copy between the host and an instance: one side must be " ..
        "NAME:path, the other a host path (is the instance name right?)")
    end
  end
  return d, srcs
end

---Copies sources to dest; exactly one side is an instance.
---@param sources string[]
---@param dest string
---@param o {recursive?: boolean, preserve?: boolean, parents?: boolean}
function M.copy(sources, dest, o)
  o = o or {}
  local d, srcs = M.endpoints(sources, dest)
  local function dirname(p)
    return p:match("^(.*)/[^/]*$") or "."
  end
  if d.instance then
    local rec = running(d.instance)
    local many = #srcs > 1
    local into_dir = many or d.path:sub(-1) == "/" or remote_is_dir(rec, d.path)
    if o.parents then
      -- the destination's missing folders, as mkdir -p makes them
      local dir = into_dir and d.path or dirname(d.path)
      if guest.capture(rec, "mkdir -p " .. guest.quote(dir)) ~= 0 then
        errors.raise("transfer: cannot create " .. d.instance .. ":" .. dir)
      end
    end
    for _, s in ipairs(srcs) do
      if s.path == "-" then
        local status = guest.call(rec, { op = "exec",
          command = "cat > " .. guest.quote(d.path) })
        if status ~= 0 then errors.raise("transfer: cannot write " .. d.instance .. ":" .. d.path) end
      else
        if not fs.exists(s.path) then
          errors.usage(string.format("transfer: %s does not exist", s.path))
        end
        local target = into_dir and join(d.path, basename(s.path)) or d.path
        put_tree(rec, s.path, target, o)
      end
    end
    return
  end
  -- from instances to the host
  local into_dir = #srcs > 1 or fs.exists(d.path) == "directory"
  if o.parents and d.path ~= "-" then
    into_dir = into_dir or d.path:sub(-1) == "/"
    errors.check("transfer", fs.mkdirs(into_dir and d.path or dirname(d.path)))
  end
  if #srcs > 1 and not into_dir then
    errors.usage(string.format("transfer: %s must be an existing directory for several sources",
      d.path))
  end
  for _, s in ipairs(srcs) do
    local rec = running(s.instance)
    if d.path == "-" then
      local status = guest.call(rec, { op = "exec", command = "cat " .. guest.quote(s.path) })
      if status ~= 0 then errors.raise("transfer: cannot read " .. s.instance .. ":" .. s.path) end
    else
      local target = into_dir and join(d.path, basename(s.path)) or d.path
      get_tree(rec, s.path, target, o)
    end
  end
end

return M
