-- The image cache ("vault"): <cache>/images/<id>/ holds a verified disk.qcow2
-- (plus vmlinuz/initrd.img when the image boots a kernel directly), or an
-- LXD image (lxd.tar.xz and its root file system; the id is LXD's
-- fingerprint), and metadata.json, written last: a directory without metadata.json is a
-- download in progress (its *.part files are kept for resuming), never an
-- image. Locks live in <cache>/images/.locks/ and are never removed, so two
-- processes always lock the same file.
-- layer: services
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")

local M = {}

M.disk_name = "disk.qcow2"
M.kernel_name = "vmlinuz"
M.initrd_name = "initrd.img"
M.lxd_metadata_name = "lxd.tar.xz"
-- an LXD image's root file system, by the simplestreams item it came from
M.lxd_rootfs_names = { squashfs = "rootfs.squashfs", ["root.tar.xz"] = "root.tar.xz",
  ["disk-kvm.img"] = "disk-kvm.img" }

-- the file that makes an entry complete besides metadata.json
local function main_file(meta)
  if meta.lxd ~= nil then -- an LXD image: its root file system
    return type(meta.lxd) == "table" and M.lxd_rootfs_names[meta.lxd.rootfs_item]
  end
  return M.disk_name
end

function M.dir()
  return paths.cache .. "/images"
end

function M.entry_dir(id)
  return M.dir() .. "/" .. id
end

local function meta_path(id)
  return M.entry_dir(id) .. "/metadata.json"
end

---The metadata of a complete entry, or nil.
---@param id string
---@return table?
function M.read(id)
  local meta = store.read(meta_path(id))
  local main = type(meta) == "table" and main_file(meta)
  if not main or not fs.exists(M.entry_dir(id) .. "/" .. main) then
    return nil
  end
  meta.id = id
  meta.dir = M.entry_dir(id)
  return meta
end

---Writes an entry's metadata (atomically): this is what makes it an entry.
---dir: where the entry is being assembled (default: its place in the cache).
function M.write(id, meta, dir)
  local copy = {}
  for k, v in pairs(meta) do
    if k ~= "dir" then copy[k] = v end
  end
  copy.id = id
  store.write(dir and (dir .. "/metadata.json") or meta_path(id), copy)
end

---Every complete entry, newest use first.
---@return table[]
function M.list()
  local out = {}
  for _, name in ipairs(fs.list(M.dir()) or {}) do
    if name:match("^%x+$") and #name == 64 then
      local meta = M.read(name)
      if meta then out[#out + 1] = meta end
    end
  end
  table.sort(out, function(a, b)
    local ua, ub = a.last_used or 0, b.last_used or 0
    if ua ~= ub then return ua > ub end
    return a.id < b.id
  end)
  return out
end

---Takes the lock named key (an image id, or "src-<hash>" for a source whose
---digest is not known yet). o: {shared=bool, wait=bool|seconds}.
function M.lock(key, o)
  local dir = M.dir() .. "/.locks"
  errors.check("images", fs.mkdirs(dir))
  return fs.lock(dir .. "/" .. key .. ".lock", o)
end

---A short stable name for a string (FNV-1a, 64 bits, hex).
---@param s string
---@return string
function M.key(s)
  local h = 0xcbf29ce484222325 -- wraps to a negative integer, as intended
  for i = 1, #s do
    h = h ~ s:byte(i)
    h = h * 1099511628211
  end
  return string.format("%016x", h)
end

---Ids of the images that instance records name (image_id), in every scope,
---including instances still being created.
---@return table<string, string[]>  id -> instance names
function M.in_use()
  local used = {}
  local root = paths.data .. "/instances"
  for _, scope in ipairs(fs.list(root) or {}) do
    for _, name in ipairs(fs.list(root .. "/" .. scope) or {}) do
      local rec = store.read(root .. "/" .. scope .. "/" .. name .. "/instance.json")
      if type(rec) == "table" and type(rec.image_id) == "string" then
        used[rec.image_id] = used[rec.image_id] or {}
        table.insert(used[rec.image_id], rec.name or name)
      end
    end
  end
  for _, names in pairs(used) do table.sort(names) end
  return used
end

---True when the file starts with the qcow2 magic.
function M.is_qcow2(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local magic = f:read(4)
  f:close()
  return magic == "QFI\251"
end

local function qemu_img(argv, what)
  local code, out, err = process.run(argv)
  if code == nil then
    errors.raise(string.format("%s: cannot run qemu-img (%s): install qemu-utils", what, out))
  end
  if code ~= 0 then
    errors.raise(string.format("%s: qemu-img failed: %s", what,
      (err or ""):gsub("%s+$", ""):gsub("\n", " ")))
  end
  return out
end

---Makes dest a qcow2 copy of src: a rename when src is qcow2 already, else a
---one-time conversion (qemu-img convert), written under a temporary name.
---@param src string
---@param dest string
---@param what string  for messages
function M.to_qcow2(src, dest, what)
  if M.is_qcow2(src) then
    errors.check(what, fs.rename(src, dest))
    return
  end
  local info = qemu_img({ "qemu-img", "info", "--output=json", src }, what)
  local ok, doc = pcall(json.decode, info)
  local fmt = ok and type(doc) == "table" and doc.format or "raw"
  local tmp = dest .. ".tmp"
  fs.remove(tmp)
  local pok, perr = pcall(qemu_img, { "qemu-img", "convert", "-f", fmt, "-O", "qcow2", src, tmp },
    what .. ": converting " .. fmt .. " to qcow2")
  if not pok then
    fs.remove(tmp)
    error(perr, 0)
  end
  errors.check(what, fs.rename(tmp, dest))
  fs.remove(src)
end

---After a failed fetch: keep *.part files (to resume) and remove the rest, and
---the directory itself when nothing is left. A complete entry is not touched.
function M.clean_partial(dir)
  if fs.exists(dir .. "/metadata.json") then return end
  for _, n in ipairs(fs.list(dir) or {}) do
    if not n:match("%.part$") then fs.rmtree(dir .. "/" .. n) end
  end
  local left = fs.list(dir)
  if left and #left == 0 then fs.rmtree(dir) end
end

---Removes an entry (the caller holds its lock). Moves it aside first, so a
---reader never sees half an entry.
function M.remove(id)
  local dir = M.entry_dir(id)
  local trash = string.format("%s/.trash-%s-%d", M.dir(), id, util.getpid())
  if fs.rename(dir, trash) then
    return errors.check("images", fs.rmtree(trash))
  end
  return errors.check("images", fs.rmtree(dir))
end

---Bytes a directory's files take.
function M.du(dir)
  local total = 0
  for _, n in ipairs(fs.list(dir) or {}) do
    local st = fs.stat(dir .. "/" .. n, true)
    if st and st.type == "file" then total = total + st.allocated end
  end
  return total
end

return M
