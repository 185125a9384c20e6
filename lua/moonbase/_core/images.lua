-- Images: references (ALIAS, REMOTE:ALIAS, file:///path, http(s)://...)
-- and resolving a reference to a
-- verified qcow2 in the cache, downloading it once however many processes
-- ask at the same time. Listing and pruning the cache are here too. The
-- remotes themselves (simplestreams image hosts) are moonbase._core.remotes.
-- layer: services
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local format = require("moonbase.format")
local ss = require("moonbase._core.simplestreams")
local vault = require("moonbase._core.vault")
local settings = require("moonbase._core.settings")
local remotes = require("moonbase._core.remotes")
local errors = require("moonbase.errors")

local M = {}

M.default_remote = remotes.default
M.default_image = "ubuntu:24.04"

local function warn(msg)
  io.stderr:write("warning: ", msg, "\n")
end

---------------------------------------------------------------- references

---@class moonbase.ImageRef
---@field kind "remote"|"file"|"url"
---@field remote? string
---@field alias? string
---@field path? string  kind "file": absolute path
---@field url? string   kind "url", and the file:// URL of kind "file"
---@field text string   the reference as given

local ref_help = "use ALIAS, REMOTE:ALIAS, file:///path/to/image or https://host/image.img"

-- percent-encodes what a file:// URL cannot carry as is
local function file_url(path)
  return "file://" .. path:gsub("[^%w/._~-]", function(c)
    return string.format("%%%02X", c:byte())
  end)
end

---Parses an image reference (syntax only: nothing is looked up).
---@param ref string
---@return moonbase.ImageRef? ref
---@return string? message
function M.parse_ref(ref)
  if type(ref) ~= "string" or ref == "" then
    return nil, "empty image reference: " .. ref_help
  end
  if ref:sub(1, 7) == "file://" then
    local path = ref:sub(8):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    if path:sub(1, 1) ~= "/" then
      return nil, string.format('invalid image reference "%s": a file:// reference needs an ' ..
        "absolute path, e.g. file:///srv/images/disk.qcow2", ref)
    end
    return { kind = "file", path = path, url = file_url(path), text = ref }
  end
  if ref:find("%s") then
    return nil, string.format('invalid image reference "%s": %s', ref, ref_help)
  end
  local scheme = ref:match("^(%a[%w+.-]*)://")
  if scheme then
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then
      return nil, string.format('unsupported image URL "%s": %s', ref, ref_help)
    end
    if not ref:match("^%a+://[%w._~%-%[%]:]+/[^?#]*[^/?#]") then
      return nil, string.format('invalid image URL "%s": expected %s://host/path/to/image.img',
        ref, scheme)
    end
    return { kind = "url", url = ref, text = ref }
  end
  local remote, alias = ref:match("^([^:]+):(.*)$")
  if not remote then remote, alias = M.default_remote, ref end
  if not remote:match("^[a-z][a-z0-9-]*$") or remotes.reserved[remote] then
    return nil, string.format('invalid image reference "%s": "%s" is not a remote name (%s)', ref,
      remote, ref_help)
  end
  if not alias:match("^[%w][%w._@+~-]*$") then
    return nil, string.format('invalid image reference "%s": %s', ref, ref_help)
  end
  return { kind = "remote", remote = remote, alias = alias, text = ref }
end

---Checks what launch can know of an image reference without fetching
---anything: its syntax, that its remote is one moonbase knows, that a
---file:// image exists. True, or nil, message, code.
function M.check_launchable(ref)
  local r, msg = M.parse_ref(ref)
  if not r then return nil, msg, "usage" end
  if r.kind == "remote" then
    local url, why, code = remotes.url(r.remote)
    if not url then return nil, why, code end
  elseif r.kind == "file" and (fs.stat(r.path) or {}).type ~= "file" then
    return nil, string.format('image file %s does not exist (or is not a file)', r.path),
      "notfound"
  end
  return true
end

---Checks the syntax of an image reference (for settings).
---@param ref string
---@return boolean? ok
---@return string? message
function M.check_ref(ref)
  local r, msg = M.parse_ref(ref)
  if not r then return nil, msg, "usage" end
  return true
end

---------------------------------------------------------------- find

local function catalogue(remote, o)
  local url = errors.check(nil, remotes.url(remote))
  local images, msg, code, stale = ss.catalogue(remote, url, { force = o.force_update })
  if not images then
    local hint = code == "unreachable" and " (check the network, or the remote's URL: " ..
      "moonbase remote list)" or ""
    errors.raise(string.format('cannot read remote "%s": %s%s', remote, msg, hint), code)
  end
  if stale and not o.quiet then
    warn(string.format('remote "%s" is unreachable: using its manifest cached earlier', remote))
  end
  return images
end

---@class moonbase.FindRow
---@field image string    a reference that launches it
---@field aliases string[]
---@field os string
---@field release string
---@field version string
---@field remote string

---Images that remotes offer. text "REMOTE:" or "REMOTE:TEXT" searches one
---remote, "TEXT" all of them (an unreachable one is skipped with a warning in
---the second result, unless all are).
---@param query? string
---@param o? {force_update?: boolean, all?: boolean, quiet?: boolean}
---@return moonbase.FindRow[] rows
---@return string[] warnings
function M.find(query, o)
  o = o or {}
  query = query or ""
  local names, text = {}, query
  local remote, rest = query:match("^([^:]*):(.*)$")
  if remote then
    if not remote:match("^[a-z][a-z0-9-]*$") then
      errors.usage(string.format('invalid remote name "%s" in "%s" (try: moonbase remote list)',
        remote, query))
    end
    names, text = { remote }, rest
  else
    for _, r in ipairs(remotes.list()) do names[#names + 1] = r.name end
  end
  local rows, warnings, failed = {}, {}, {}
  local needle = text:lower()
  for _, name in ipairs(names) do
    local ok, images = pcall(catalogue, name, { force_update = o.force_update, quiet = o.quiet })
    if not ok then
      if #names == 1 or not errors.is(images) then error(images, 0) end
      local why = images.message:gsub('^cannot read remote "[^"]*": ', "")
      failed[#failed + 1] = string.format('"%s": %s', name,
        (why:gsub(" %(check the network, or the remote's URL: moonbase remote list%)$", "")))
      warnings[#warnings + 1] = string.format('remote "%s" skipped: %s', name, why)
    else
      local seen = {} -- product -> the name its newest version goes by
      for _, img in ipairs(images) do
        local newest = not seen[img.product]
        if newest then seen[img.product] = img.aliases[1] or img.product end
        local hay = table.concat({ table.concat(img.aliases, " "), img.os, img.release,
          img.release_title, img.product }, " "):lower()
        if (newest or o.all) and (needle == "" or hay:find(needle, 1, true)) then
          rows[#rows + 1] = {
            image = name .. ":" .. (newest and seen[img.product] or
              (seen[img.product] .. "@" .. img.version)),
            aliases = format.array({ table.unpack(img.aliases) }), os = img.os,
            release = img.release_title, version = img.version, remote = name,
          }
        end
      end
    end
  end
  if #names > 0 and #failed == #names then
    errors.raise("no remote could be read: " .. table.concat(failed, "; ") .. " (check the " ..
      "network, or the remotes' URLs: moonbase remote list)")
  end
  table.sort(rows, function(a, b)
    if a.remote ~= b.remote then return a.remote < b.remote end
    if a.image ~= b.image then return a.image < b.image end
    return a.version > b.version
  end)
  return rows, warnings
end

---------------------------------------------------------------- fetching

local function progress_mode(o)
  if o.quiet then return "none" end
  return o.progress or "auto"
end

local function fetch(url, dest, item, label, o)
  -- libcurl is in the plugin: loaded only when an image is fetched
  local r, msg, code = require("moonbase.engine.image").fetch(url, dest, {
    sha256 = item and item.sha256, size = item and item.size, progress = progress_mode(o),
    label = label, rate_limit = o.rate_limit,
  })
  if not r then
    errors.raise(string.format('cannot download image "%s": %s', label, msg), code)
  end
  return r
end

local function now()
  return math.floor(util.time())
end

local function iso_now()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- Returns the complete entry id (holding a shared lock on it when o.hold),
-- calling fill() under the exclusive lock when it is missing. Whoever waits
-- for another process's download says so once.
local function acquire(id, label, o, fill)
  local fetched, told = false, false
  local function take(shared)
    local l = vault.lock(id, { shared = shared, wait = false })
    if l then return l end
    if not o.quiet and not told then
      io.stderr:write(string.format("%s: waiting for another moonbase to download it\n",
        label))
      told = true
    end
    return errors.check("images", vault.lock(id, { shared = shared }))
  end
  for _ = 1, 3 do
    local lock = take(true)
    local meta = vault.read(id)
    if meta then
      meta.last_used = now()
      vault.write(id, meta)
      if o.hold then return meta, fetched, lock end
      lock:close()
      return meta, fetched
    end
    lock:close()
    local x = take(false)
    local ok, err = pcall(function()
      if not vault.read(id) then
        fill()
        fetched = true
      end
    end)
    x:close()
    if not ok then error(err, 0) end
  end
  errors.raise(string.format('image "%s" (%s) keeps disappearing from the cache: is a ' ..
    "prune running? (try again)", label, id:sub(1, 12)))
end

local function result(meta, fetched, lock)
  local dir = meta.dir
  if type(meta.lxd) == "table" then -- an LXD image: metadata and root file system
    return {
      id = meta.id, format = meta.format, os = meta.os, release = meta.release,
      version = meta.version, alias = meta.alias, remote = meta.remote, source = meta.source,
      size = meta.size, fetched = fetched, lock = lock,
      lxd = { metadata = dir .. "/" .. vault.lxd_metadata_name,
        rootfs = dir .. "/" .. vault.lxd_rootfs_names[meta.lxd.rootfs_item],
        fingerprint = meta.id, vm = meta.lxd.rootfs_item == "disk-kvm.img" },
    }
  end
  return {
    id = meta.id, path = dir .. "/" .. vault.disk_name,
    kernel = meta.kernel and (dir .. "/" .. vault.kernel_name) or nil,
    initrd = meta.initrd and (dir .. "/" .. vault.initrd_name) or nil,
    cmdline = meta.cmdline, os = meta.os, release = meta.release, version = meta.version,
    alias = meta.alias, remote = meta.remote, source = meta.source, size = meta.size,
    format = "qcow2", fetched = fetched, lock = lock,
  }
end

local function disk_size(dir)
  local st = fs.stat(dir .. "/" .. vault.disk_name)
  return st and st.size
end

-- the newest cached image a remote alias named when it was pulled
local function cached_alias(ref)
  local best
  for _, meta in ipairs(vault.list()) do
    local named = meta.alias == ref.alias
    for _, a in ipairs(type(meta.aliases) == "table" and meta.aliases or {}) do
      named = named or a == ref.alias
    end
    if meta.remote == ref.remote and named and
        (not best or tostring(meta.version) > tostring(best.version)) then
      best = meta
    end
  end
  return best
end

-- Fetches an image of a remote into the cache entry id, once (under the
-- entry's lock): fill(dir) downloads and verifies its files and returns what
-- its metadata adds to the remote's; a failure leaves no partial entry.
local function fetch_entry(ref, img, id, label, o, source, fill)
  local meta, fetched, lock = acquire(id, label, o, function()
    local dir = vault.entry_dir(id)
    errors.check("images", fs.mkdirs(dir))
    local ok, err = pcall(function()
      local m = fill(dir)
      m.remote, m.alias, m.aliases, m.product = ref.remote, ref.alias, img.aliases, img.product
      m.os, m.release, m.codename = img.os, img.release_title, img.release
      m.version, m.arch, m.source, m.sha256 = img.version, img.arch, source, id
      m.created, m.last_used, m.sources = iso_now(), now(), { { url = source } }
      vault.write(id, m)
    end)
    if not ok then
      vault.clean_partial(dir)
      error(err, 0)
    end
  end)
  return result(meta, fetched, lock)
end

-- An LXD image of a remote: lxd.tar.xz and its root file system, each
-- verified against the manifest, cached under LXD's fingerprint of the pair.
local function resolve_lxd(ref, img, label, o, vm)
  local l = vm and img.lxd_vm or img.lxd
  if not l then
    errors.raise(string.format('image "%s" has no LXD %s image (%s) (try another: moonbase ' ..
      "find %s:)", label, vm and "virtual-machine" or "container",
      vm and "lxd.tar.xz with disk-kvm.img" or "lxd.tar.xz with squashfs or root.tar.xz",
      ref.remote), "unsupported")
  end
  -- LXD's fingerprint of the pair; LXD checks it again when it is uploaded
  local id = l.fingerprint
  local rootfs_name = vault.lxd_rootfs_names[l.rootfs_item]
  return fetch_entry(ref, img, id, label, o, l.rootfs.url, function(dir)
    fetch(l.metadata.url, dir .. "/" .. vault.lxd_metadata_name, l.metadata,
      label .. " (LXD metadata)", o)
    fetch(l.rootfs.url, dir .. "/" .. rootfs_name, l.rootfs, label, o)
    return { size = l.metadata.size + l.rootfs.size, format = "lxd",
      lxd = { rootfs_item = l.rootfs_item } }
  end)
end

-- How a remote's image is fetched for a format a driver's create asks for
-- (the driver table's image_format) other than a disk.
local by_format = {
  lxd = function(ref, img, label, o) return resolve_lxd(ref, img, label, o, false) end,
  ["lxd-vm"] = function(ref, img, label, o) return resolve_lxd(ref, img, label, o, true) end,
}

local function resolve_remote(ref, o)
  local ok, images = pcall(catalogue, ref.remote, o)
  if not ok then
    -- offline: an image this alias named before still launches
    local meta = errors.is(images) and images.code == "unreachable" and cached_alias(ref)
    if not meta then error(images, 0) end
    if not o.quiet then
      warn(string.format('remote "%s" is unreachable: using the cached %s:%s (version %s)',
        ref.remote, ref.remote, ref.alias, tostring(meta.version)))
    end
    local label = ref.remote .. ":" .. ref.alias
    local m, fetched, lock = acquire(meta.id, label, o, function()
      errors.raise(string.format('image "%s" vanished from the cache (try again)', label))
    end)
    return result(m, fetched, lock)
  end
  local img = ss.lookup(images, ref.alias)
  if not img then
    errors.raise(string.format('image "%s" not found on remote "%s" (try: moonbase find %s:)',
      ref.alias, ref.remote, ref.remote), "notfound")
  end
  local label = ref.remote .. ":" .. ref.alias
  local special = by_format[o.format]
  if special then return special(ref, img, label, o) end
  if not img.disk then
    errors.raise(string.format('image "%s" has no disk image (it is an LXD image: launch it ' ..
      "with local.driver=lxd, or pick another: moonbase find %s:)", label, ref.remote),
      "unsupported")
  end
  local id = img.disk.sha256
  return fetch_entry(ref, img, id, label, o, img.disk.url, function(dir)
    fetch(img.disk.url, dir .. "/disk.img", img.disk, label, o)
    if img.kernel then
      fetch(img.kernel.url, dir .. "/" .. vault.kernel_name, img.kernel, label .. " kernel", o)
      fetch(img.initrd.url, dir .. "/" .. vault.initrd_name, img.initrd, label .. " initrd", o)
    end
    vault.to_qcow2(dir .. "/disk.img", dir .. "/" .. vault.disk_name, label)
    return { size = disk_size(dir), kernel = img.kernel and true or nil,
      initrd = img.initrd and true or nil, cmdline = img.cmdline }
  end)
end

-- an entry that came from source (and, for files, from this size and mtime)
local function find_source(source, st)
  for _, meta in ipairs(vault.list()) do
    for _, s in ipairs(type(meta.sources) == "table" and meta.sources or {}) do
      if s.url == source and (not st or (s.size == st.size and
          math.abs((s.mtime or 0) - st.mtime) < 1e-3)) then -- JSON keeps ~0.1 ms
        return meta
      end
    end
  end
end

local function resolve_source(ref, o)
  local source, st, label, real
  if ref.kind == "file" then
    st = fs.stat(ref.path)
    if not st then
      errors.raise(string.format('image file "%s" does not exist (check the path after ' ..
        "file://)", ref.path), "notfound")
    end
    if st.type ~= "file" then
      errors.raise(string.format('image file "%s" is a %s, not a file', ref.path, st.type))
    end
    real = errors.check(nil, fs.realpath(ref.path))
    source = "file://" .. real
    label = real:match("[^/]+$")
  else
    source = ref.url
    label = ref.url:match("[^/?#]+$") or ref.url
    if ref.url:sub(1, 7):lower() == "http://" and not o.quiet and not M._warned_http then
      M._warned_http = true
      warn(string.format("%s is plain http://: nothing proves where the image came from " ..
        "(prefer https://)", ref.url))
    end
  end
  local hit = find_source(source, st)
  if hit then
    local meta, fetched, lock = acquire(hit.id, label, o, function()
      errors.raise(string.format('image "%s" vanished from the cache while in use (try again)',
        label))
    end)
    return result(meta, fetched, lock)
  end
  local key = "src-" .. vault.key(source)
  local id, downloaded = nil, false
  do
    local lock <close> = errors.check("images", vault.lock(key))
    hit = find_source(source, st)
    if hit then
      id = hit.id
    else
      local staging = vault.dir() .. "/.staging-" .. vault.key(source)
      errors.check("images", fs.mkdirs(staging))
      local ok, err = pcall(function()
        local url = ref.kind == "file" and file_url(real) or ref.url
        local r = fetch(url, staging .. "/disk.img", nil, label, o)
        id = r.sha256
        downloaded = true
        local idlock <close> = errors.check("images", vault.lock(id))
        local s = { url = source, size = st and st.size, mtime = st and st.mtime }
        local meta = vault.read(id)
        if meta then
          local sources = { s }
          for _, old in ipairs(type(meta.sources) == "table" and meta.sources or {}) do
            if old.url ~= s.url then sources[#sources + 1] = old end
          end
          meta.sources = sources
          vault.write(id, meta)
          fs.rmtree(staging)
          return
        end
        vault.to_qcow2(staging .. "/disk.img", staging .. "/" .. vault.disk_name, label)
        vault.write(id, {
          remote = ref.kind == "file" and "file" or "url", alias = ref.text, os = "unknown",
          source = source, sha256 = id, size = disk_size(staging), created = iso_now(),
          last_used = now(), sources = { s },
        }, staging)
        local dest = vault.entry_dir(id)
        if fs.exists(dest) then fs.rmtree(dest) end -- a remote's partial download
        errors.check("images", fs.rename(staging, dest))
      end)
      if not ok then
        vault.clean_partial(staging)
        error(err, 0)
      end
    end
  end
  local meta, fetched, lock = acquire(id, label, o, function()
    errors.raise(string.format('image "%s" vanished from the cache (try again)', label))
  end)
  return result(meta, downloaded or fetched, lock)
end

---@class moonbase.Image
---@field id string        sha256 of the image as published (the cache key)
---@field path string      the cached qcow2: use it as a backing file, never write to it
---@field kernel? string   for direct kernel boot, when the image ships one
---@field initrd? string
---@field cmdline? string
---@field os string
---@field release? string
---@field version? string
---@field alias? string
---@field remote? string   remote name, or "file" / "url"
---@field source string    where it was downloaded from
---@field size integer     bytes of the qcow2
---@field fetched boolean  downloaded by this call (false: a cache hit)
---@field lock? table      with o.hold: a shared lock that keeps prune away; close it
---                        once the instance record names image_id

---@class moonbase.ResolveOptions
---@field quiet? boolean        no progress, no notes on stderr
---@field progress? "auto"|"bar"|"lines"|"none"  default "auto" (a bar on a terminal)
---@field force_update? boolean read the remote's manifest again
---@field hold? boolean         return with result.lock held (see moonbase.Image)
---@field rate_limit? integer   download at most this many bytes per second

---Resolves an image reference to a verified qcow2 in the cache, downloading
---it (once, even with concurrent callers) when it is not cached.
---@param ref? string  default: the local.image.default setting
---@param o? moonbase.ResolveOptions
---@return moonbase.Image
function M.resolve(ref, o)
  o = o or {}
  if ref == nil then ref = settings.get("local.image.default") end
  local r, msg = M.parse_ref(ref)
  if not r then errors.usage(msg) end
  if r.kind == "remote" then return resolve_remote(r, o) end
  return resolve_source(r, o)
end

---------------------------------------------------------------- the cache

---@class moonbase.CachedImage
---@field id string
---@field image string     how it was asked for (remote:alias, or the source)
---@field os string
---@field release? string
---@field version? string
---@field size integer     bytes on disk
---@field last_used? integer  epoch seconds
---@field used_by string[] instances whose disks are based on it

---The cached images, most recently used first.
---@return moonbase.CachedImage[]
function M.list()
  local used = vault.in_use()
  local rows = {}
  for _, meta in ipairs(vault.list()) do
    rows[#rows + 1] = {
      id = meta.id,
      image = (meta.remote == "file" or meta.remote == "url") and meta.source or
        ((meta.remote or "?") .. ":" .. (meta.alias or "?")),
      os = meta.os, release = meta.release, version = meta.version,
      size = vault.du(meta.dir), last_used = meta.last_used,
      used_by = format.array(used[meta.id] or {}),
    }
  end
  return rows
end

---Removes cached images that no instance uses and that were last used more
---than older_than seconds ago; also leftovers of abandoned downloads.
---@param o? {older_than?: number, dry_run?: boolean}
---@return {id: string, image: string, size: integer}[] removed
---@return {id: string, image: string, reason: string}[] kept  (in use or busy)
function M.prune(o)
  o = o or {}
  local limit = now() - (o.older_than or 0)
  local removed, kept = {}, {}
  for _, row in ipairs(M.list()) do
    if (row.last_used or 0) <= limit then
      local lock = vault.lock(row.id, { wait = false })
      if not lock then
        kept[#kept + 1] = { id = row.id, image = row.image, reason = "busy" }
      else
        local used = vault.in_use()[row.id]
        if used then
          kept[#kept + 1] = { id = row.id, image = row.image,
            reason = "used by " .. table.concat(used, ", ") }
        elseif not o.dry_run then
          vault.remove(row.id)
          removed[#removed + 1] = { id = row.id, image = row.image, size = row.size }
        else
          removed[#removed + 1] = { id = row.id, image = row.image, size = row.size }
        end
        lock:close()
      end
    end
  end
  -- abandoned downloads: partial entries and staging dirs nobody holds
  for _, name in ipairs(fs.list(vault.dir()) or {}) do
    local dir = vault.dir() .. "/" .. name
    local key = name:match("^%.staging%-(%x+)$") and ("src-" .. name:sub(10)) or
      (name:match("^%x+$") and #name == 64 and not fs.exists(dir .. "/metadata.json") and name)
    local st = key and fs.stat(dir)
    if st and st.mtime <= limit and not o.dry_run then
      local lock = vault.lock(key, { wait = false })
      if lock then
        fs.rmtree(dir)
        lock:close()
      end
    end
  end
  return removed, kept
end

settings.register("local.image.default", {
  type = "string", default = M.default_image,
  validate = function(v) return M.check_ref(v) end,
  help = "the image `moonbase launch` uses when none is given (ALIAS, REMOTE:ALIAS, " ..
    "file:///path or https://...)",
})

return M
