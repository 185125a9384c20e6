-- The simplestreams client: reads a host's streams/v1/index.json, follows the
-- "image-downloads" entry to its products file, and turns the products into a
-- catalogue for one architecture (supported products only, aliases on the
-- newest version, the disk item chosen, kernel/initrd items noted, and the
-- items of an LXD image: lxd.tar.xz with squashfs or root.tar.xz for a
-- container, with disk-kvm.img for a virtual machine). Parsing is
-- pure (text in, tables out) so the specs run it on fixtures; fetching and the
-- manifest cache (15 min TTL) are at the bottom.
-- layer: services
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")

local M = {}

M.ttl = 15 * 60
M.index_path = "streams/v1/index.json"

-- uname -m -> the arch names simplestreams uses
M.arches = { x86_64 = "amd64", aarch64 = "arm64", armv7l = "armhf", i686 = "i386",
  i386 = "i386", ppc64le = "ppc64el", s390x = "s390x", riscv64 = "riscv64" }

-- disk items, best first: the qcow2 cloud image ("disk1.img") before the rest
M.disk_items = { "disk1.img", "disk-kvm.img", "uefi1.img", "qcow2", "disk.qcow2", "disk.img",
  "img" }
M.kernel_items = { "vmlinuz", "boot-kernel", "kernel" }
M.initrd_items = { "initrd", "initrd.img", "boot-initrd" }

---The simplestreams arch of this host (amd64 on x86_64).
---@return string
function M.host_arch()
  local u = util.uname()
  local m = u and u.machine or "x86_64"
  return M.arches[m] or m
end

local function decode(text, what)
  local ok, doc = pcall(json.decode, text)
  if not ok then
    local why = tostring(doc):gsub("^.-: ", "")
    return nil, string.format("%s is not valid JSON (%s)", what, why)
  end
  if type(doc) ~= "table" then
    return nil, string.format("%s is not a JSON object", what)
  end
  return doc
end

local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  if type(v) == "number" then return tostring(math.tointeger(v) or v) end
end

local function int(v)
  if type(v) == "number" then return math.tointeger(v) end
  if type(v) == "string" then return math.tointeger(tonumber(v)) end
end

---The products file named by an index.json.
---@param text string  the index document
---@param what string  where it came from, for messages
---@return string? path  relative to the host's base URL
---@return string? message
function M.parse_index(text, what)
  local doc, msg = decode(text, what)
  if not doc then return nil, msg end
  if type(doc.index) ~= "table" then
    return nil, string.format('%s has no "index" object (is this a simplestreams image host?)',
      what)
  end
  local keys = {}
  for k, e in pairs(doc.index) do
    if type(e) == "table" and e.datatype == "image-downloads" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  if #keys == 0 then
    return nil, string.format('%s has no "image-downloads" entry (is this a simplestreams ' ..
      "image host?)", what)
  end
  local path = str(doc.index[keys[1]].path)
  if not path then
    return nil, string.format('%s: entry "%s" has no "path"', what, keys[1])
  end
  return path
end

local function find_item(items, names)
  for _, n in ipairs(names) do
    local it = items[n]
    if type(it) == "table" then return it, n end
  end
  for _, n in ipairs(names) do
    local keys = {}
    for k in pairs(items) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      local it = items[k]
      if type(it) == "table" and it.ftype == n then return it, k end
    end
  end
end

-- a file item as {path, sha256, size}, or nil and what is missing
local function file_item(it, where)
  local path, sha, size = str(it.path), str(it.sha256), int(it.size)
  if not path then return nil, where .. ' has no "path"' end
  if not sha or not sha:match("^%x+$") or #sha ~= 64 then
    return nil, where .. ' has no valid "sha256"'
  end
  if not size or size < 0 then return nil, where .. ' has no valid "size"' end
  return { path = path, sha256 = sha:lower(), size = size, ftype = str(it.ftype) }
end

-- LXD's split images: the metadata tarball (lxd.tar.xz) names the
-- fingerprint LXD gives it with each root file system (SHA-256 of the two
-- files, one after the other), as combined_<item>_sha256. A container takes
-- a squashfs (LXD unpacks it fastest) or root.tar.xz; a VM takes disk-kvm.img.
local lxd_rootfs = {
  container = { { item = "squashfs", combined = { "combined_squashfs_sha256" } },
    { item = "root.tar.xz", combined = { "combined_rootxz_sha256", "combined_sha256" } } },
  vm = { { item = "disk-kvm.img", combined = { "combined_disk-kvm-img_sha256" } } },
}

-- {metadata, rootfs, rootfs_item, fingerprint} of one kind, or nil (without
-- the fingerprint LXD would give it, a pair is not offered)
local function lxd_image(items, kind, where)
  local mit = find_item(items, { "lxd.tar.xz" })
  if not mit then return nil end
  for _, r in ipairs(lxd_rootfs[kind]) do
    local rit, rname = find_item(items, { r.item })
    if rit then
      local meta = file_item(mit, where .. ' item "lxd.tar.xz"')
      local root = file_item(rit, where .. ' item "' .. rname .. '"')
      if meta and root then
        for _, k in ipairs(r.combined) do
          local v = str(mit[k])
          if v and v:match("^%x+$") and #v == 64 then
            return { metadata = meta, rootfs = root, rootfs_item = r.item,
              fingerprint = v:lower() }
          end
        end
      end
    end
  end
end

local function split_aliases(v)
  local out = {}
  if type(v) == "string" then
    for a in v:gmatch("[^,%s]+") do out[#out + 1] = a end
  elseif type(v) == "table" then
    for _, a in ipairs(v) do
      if type(a) == "string" and a ~= "" then out[#out + 1] = a end
    end
  end
  return out
end

---@class moonbase.CatalogueImage
---@field product string   product key
---@field os string
---@field release string   codename, e.g. "noble"
---@field release_title string  e.g. "24.04 LTS"
---@field version string   the version (serial) key, e.g. "20240423"
---@field aliases string[] only on a product's newest version
---@field arch string
---@field supported boolean
---@field disk? {path: string, sha256: string, size: integer, ftype?: string}
---@field lxd? moonbase.LxdImage     an LXD container image
---@field lxd_vm? moonbase.LxdImage  an LXD virtual-machine image
---@field kernel? {path: string, sha256: string, size: integer}
---@field initrd? {path: string, sha256: string, size: integer}
---@field cmdline? string

---@class moonbase.LxdImage
---@field metadata {path: string, sha256: string, size: integer}  lxd.tar.xz
---@field rootfs {path: string, sha256: string, size: integer}    its root file system
---@field rootfs_item string  "squashfs", "root.tar.xz" or "disk-kvm.img"
---@field fingerprint string LXD's fingerprint of the pair, from the manifest

---Turns a products document into catalogue entries for one arch, newest
---version of each product first, products sorted by key.
---@param text string
---@param what string  where it came from, for messages
---@param arch? string  default: the host's
---@param o? {all?: boolean}  all: keep unsupported products too
---@return moonbase.CatalogueImage[]? images
---@return string? message
function M.parse_products(text, what, arch, o)
  o = o or {}
  arch = arch or M.host_arch()
  local doc, msg = decode(text, what)
  if not doc then return nil, msg end
  if type(doc.products) ~= "table" or next(doc.products) == nil then
    return nil, string.format('%s has no "products"', what)
  end
  local keys = {}
  for k in pairs(doc.products) do keys[#keys + 1] = k end
  table.sort(keys)
  local out, problem, other_arches = {}, nil, 0
  for _, key in ipairs(keys) do
    local p = doc.products[key]
    local supported = type(p) == "table" and p.supported ~= false
    if type(p) ~= "table" then
      problem = problem or string.format('product "%s" is not an object', key)
    elseif str(p.arch) ~= arch then
      other_arches = other_arches + 1
    elseif (supported or o.all) and type(p.versions) == "table" then
      local vkeys = {}
      for v, body in pairs(p.versions) do
        if type(body) == "table" and type(body.items) == "table" then vkeys[#vkeys + 1] = v end
      end
      table.sort(vkeys, function(a, b) return a > b end)
      local aliases = split_aliases(p.aliases)
      local first = true
      for _, v in ipairs(vkeys) do
        local items = p.versions[v].items
        local where = string.format('product "%s" version "%s"', key, v)
        local it, name = find_item(items, M.disk_items)
        local disk, why
        if it then
          disk, why = file_item(it, where .. ' item "' .. name .. '"')
        else
          why = where .. " has no disk image item"
        end
        local lxd = lxd_image(items, "container", where)
        local lxd_vm = lxd_image(items, "vm", where)
        if disk or lxd or lxd_vm then
          local kit, kname = find_item(items, M.kernel_items)
          local iit, iname = find_item(items, M.initrd_items)
          local kernel = kit and file_item(kit, kname)
          local initrd = iit and file_item(iit, iname)
          out[#out + 1] = {
            product = key, os = str(p.os) or "unknown",
            release = str(p.release) or str(p.version) or key,
            release_title = str(p.release_title) or str(p.version) or str(p.release) or key,
            version = v, aliases = first and aliases or {}, arch = arch,
            supported = supported, disk = disk, lxd = lxd, lxd_vm = lxd_vm,
            kernel = kernel and initrd and kernel or nil,
            initrd = kernel and initrd and initrd or nil,
            cmdline = str(p.versions[v].kernel_cmdline) or str(p.kernel_cmdline) or
              str(p.cmdline),
          }
          first = false
        else
          problem = problem or why
        end
      end
    end
  end
  if #out == 0 then
    if problem then
      return nil, string.format("%s has no usable images: %s", what, problem)
    end
    return nil, string.format("%s has no supported images for %s%s", what, arch,
      other_arches > 0 and string.format(" (%d for other architectures)", other_arches) or "")
  end
  return out
end

---The image an alias names: the newest version of the product that has it as
---an alias, or whose key, release or release version is the text.
---@param images moonbase.CatalogueImage[]
---@param alias string
---@return moonbase.CatalogueImage?
function M.lookup(images, alias)
  for _, img in ipairs(images) do
    for _, a in ipairs(img.aliases) do
      if a == alias then return img end
    end
  end
  -- a product's versions are listed newest first, so the first match is newest
  for _, img in ipairs(images) do
    if img.product == alias or img.release == alias then return img end
  end
  -- alias@version (or product@version) picks an older version
  local name, version = alias:match("^(.+)@(.+)$")
  if name then
    local newest = M.lookup(images, name)
    if newest then
      for _, img in ipairs(images) do
        if img.product == newest.product and img.version == version then return img end
      end
    end
  end
end

---------------------------------------------------------------- fetching

local function join(base, rel)
  if rel:match("^%a[%w+.-]*://") then return rel end
  return (base:gsub("/*$", "/")) .. rel:gsub("^/+", "")
end
M.join = join

local function cache_file(remote)
  return paths.cache .. "/manifests/" .. remote .. ".json"
end

local function download(url)
  -- libcurl is in the plugin: loaded only when a manifest is read
  local body, msg, code = require("moonbase.engine.image").http_get(url)
  if not body then return nil, msg, code end
  return body
end

---Fetches and parses a host's catalogue (no cache).
---@param base string  the host's base URL
---@return moonbase.CatalogueImage[]? images
---@return string? message
---@return string? code
function M.fetch(base, arch)
  local index_url = join(base, M.index_path)
  local text, msg, code = download(index_url)
  if not text then return nil, msg, code end
  local path
  path, msg = M.parse_index(text, "manifest " .. index_url)
  if not path then return nil, msg, "failed" end
  local products_url = join(base, path)
  text, msg, code = download(products_url)
  if not text then return nil, msg, code end
  local images
  images, msg = M.parse_products(text, "manifest " .. products_url, arch)
  if not images then return nil, msg, "failed" end
  for _, img in ipairs(images) do
    local files = { img.disk, img.kernel, img.initrd }
    for _, l in pairs({ img.lxd, img.lxd_vm }) do
      files[#files + 1], files[#files + 2] = l.metadata, l.rootfs
    end
    for _, f in pairs(files) do f.url = join(base, f.path) end
  end
  return images
end

---The catalogue of a remote, from the manifest cache when it is younger than
---M.ttl (and was fetched from the same URL), else fetched and cached. When a
---refresh fails and an older copy exists, that copy is used with stale = true.
---@param remote string
---@param base string
---@param o? {force?: boolean, arch?: string, now?: number}
---@return moonbase.CatalogueImage[]? images
---@return string? message  (or, on success, nil)
---@return string? code
---@return boolean? stale
function M.catalogue(remote, base, o)
  o = o or {}
  local arch = o.arch or M.host_arch()
  local now = o.now or util.time()
  local file = cache_file(remote)
  local cached = store.read(file)
  local usable = type(cached) == "table" and cached.url == base and cached.arch == arch and
    type(cached.images) == "table" and type(cached.fetched_at) == "number"
  if usable and not o.force and now - cached.fetched_at < M.ttl and now >= cached.fetched_at then
    return cached.images
  end
  local images, msg, code = M.fetch(base, arch)
  if not images then
    if usable and not o.force and code == "unreachable" then
      return cached.images, nil, nil, true
    end
    return nil, msg, code
  end
  fs.mkdirs(paths.cache .. "/manifests")
  store.write(file, { url = base, arch = arch, fetched_at = now, images = images })
  return images
end

---Forgets a remote's cached catalogue.
function M.forget(remote)
  fs.remove(cache_file(remote))
end

return M
