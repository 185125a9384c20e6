-- Clone and rename of stopped instances.
--
-- A clone is an independent instance: its disk is a copy of what the source
-- wrote (the driver's clone: for QEMU, the overlay's data on the same cached
-- image, never a copy of the image), and it gets an identity of its own, as
-- a launch would: MAC, addresses, SSH port, host key, instance-id (so the
-- guest's cloud-init runs its per-instance steps and names itself after the
-- clone) and a new machine-id. It is assembled in a hidden staging directory
-- and renamed into place, so a killed clone leaves nothing that list shows.
-- It keeps the source's CPUs, memory, disk size, mounts, labels and
-- cloud-init; not its snapshots, its port forwards (their host ports are the
-- source's) or its recipe membership.
--
-- A rename moves the instance's directory and what is keyed by its name: its
-- addresses and DNS name on moonbase's networks, aliases that run in it, its
-- recipe's record of it. The guest itself is not touched.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local paths = require("moonbase._core.paths")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local aliases = require("moonbase._core.aliases")
local boot = require("moonbase._core.boot")
local launch = require("moonbase._core.launch")
local network = require("moonbase._core.network")
local bridged = require("moonbase._core.bridged")
local errors = require("moonbase.errors")

local M = {}

-- Labels moonbase gives (a recipe's project, recipe, instance) stay with the
-- source: the recipe did not make the clone.
local function own_labels(labels)
  if not labels then return nil end
  local out = {}
  for k, v in pairs(labels) do
    if not k:match("^moonbase%.") then out[k] = v end
  end
  return next(out) and out or nil
end

local copy = instances.copy

---The name a clone gets by default: SOURCE-cloneN, the first one free.
function M.default_name(source)
  for n = 1, 10000 do
    local name = string.format("%s-clone%d", source, n)
    if not fs.exists(instances.dir(name)) then return name end
  end
  errors.raise("clone: no free name (try: --name NAME)")
end

-- The record of an instance that is there (not deleted) and stopped; the
-- caller holds its lock.
local function stopped_record(name, verb)
  local rec = instances.get(name)
  if rec.deleted then
    errors.raise(string.format("%s: instance \"%s\" is deleted (try: moonbase recover %s)",
      verb, name, name), "state")
  end
  local st = lifecycle.state(rec, verb)
  if st == "stopped" then return rec end
  local hint
  if st == "running" then
    hint = string.format("%s needs it stopped; try: moonbase stop %s", verb, rec.name)
  elseif st == "suspended" then
    hint = string.format("its saved memory belongs to the disk as it is; try: moonbase " ..
      "start %s, then stop it, or stop --force %s", rec.name, rec.name)
  else
    hint = "try: moonbase info " .. rec.name
  end
  errors.raise(string.format("%s: instance \"%s\" is %s (%s)", verb, rec.name, st, hint), "state")
end

local function free_name(name, verb)
  errors.check(verb, util.valid_name(name))
  if fs.exists(instances.dir(name)) then
    errors.raise(string.format("%s: instance \"%s\" already exists (try: another name)", verb,
      name), "exists")
  end
end

---Clones a stopped instance; returns the clone's record (stopped).
---@param source string
---@param o? {name?: string, quiet?: boolean}
---@return table record
function M.clone(source, o)
  o = o or {}
  errors.check("clone", util.valid_name(source))
  local name = o.name or M.default_name(source)
  free_name(name, "clone")
  instances.get(source)
  drivers.need("clone", "clone", "clones are")
  local drv, drvname = drivers.current()
  local base = paths.instances(drivers.scope())
  instances.sweep(base)
  local src_lock <close> = instances.lock(source)
  local rec = stopped_record(source, "clone")
  free_name(name, "clone")
  local staging = string.format("%s/.new-%s-%d", base, name, util.getpid())
  errors.check("clone", fs.mkdirs(staging, 448))
  local lock = instances.lock(name, staging)
  local new = {
    name = name, scope = rec.scope, driver = drvname, image = rec.image,
    image_id = rec.image_id, image_path = rec.image_path, kernel = rec.kernel,
    initrd = rec.initrd, cmdline = rec.cmdline, cpus = rec.cpus, memory = rec.memory,
    disk = rec.disk, created = os.date("!%Y-%m-%dT%H:%M:%SZ"), state = "creating",
    labels = own_labels(rec.labels), mounts = copy(rec.mounts), version = rec.version,
    disk_file = rec.disk_file, host = rec.host, cloned_from = source,
  }
  local ok, err = pcall(function()
    local user_data = fs.read(instances.dir(source) .. "/user-data")
    if user_data then errors.check("clone", fs.write(staging .. "/user-data", user_data, 384)) end
    local nets, with_bridge = {}, false
    for i = 2, #(rec.nics or {}) do
      local nic = rec.nics[i]
      if nic.network == bridged.NETWORK then with_bridge = true
      else nets[#nets + 1] = { network = nic.network, mode = nic.mode or "auto" } end
    end
    local cloud_init = boot.prepare(new, { cloud_init = user_data, networks = nets,
      bridged = with_bridge, quiet = o.quiet, new_machine_id = true })
    instances.save(new, staging)
    local spec = instances.spec(new, staging)
    spec.cloud_init = cloud_init -- the driver makes the clone's seed (or config) of them
    errors.check("clone", drv:clone(instances.spec(rec), spec))
    launch.native_mounts(drv, new, staging, "clone")
    new.state = "stopped"
    instances.save(new, staging)
  end)
  if not ok then
    launch.discard(drv, new, staging, lock)
    error(err, 0)
  end
  local renamed, msg = fs.rename(staging, instances.dir(name))
  if not renamed then
    launch.discard(drv, new, staging, lock)
    errors.raise("clone: " .. msg, fs.exists(instances.dir(name)) and "exists" or "failed")
  end
  lock:close()
  return new
end

---Renames a stopped instance.
---@param old string
---@param new string
---@return table record
function M.rename(old, new)
  errors.check("rename", util.valid_name(old))
  free_name(new, "rename")
  instances.get(old)
  drivers.need("rename", "rename", "renames are")
  local drv = drivers.current()
  local lock <close> = instances.lock(old)
  local rec = stopped_record(old, "rename")
  free_name(new, "rename")
  local target = copy(rec)
  target.name = new
  errors.check("rename", drv:rename(instances.spec(rec), instances.spec(target,
    instances.dir(new))))
  -- what is keyed by the name, moved first (each step can be run again), then
  -- the directory (the commit: a record's name follows its directory)
  if rec.nics then network.rename(old, new) end
  aliases.update(function(data)
    for _, a in pairs(data) do
      if a.instance == old then a.instance = new end
    end
  end)
  -- the record says where it goes, so a rename killed right after the move
  -- reads as done (instances.damage), not as a record naming another instance
  rec.rename_to = new
  instances.save(rec)
  local ok, msg = fs.rename(instances.dir(old), instances.dir(new))
  if not ok then
    rec.rename_to = nil
    instances.save(rec)
    if rec.nics then pcall(network.rename, new, old) end
    aliases.update(function(data)
      for _, a in pairs(data) do
        if a.instance == new then a.instance = old end
      end
    end)
    errors.raise("rename: " .. msg, fs.exists(instances.dir(new)) and "exists" or "failed")
  end
  rec.name, rec.rename_to = new, nil
  rec.renamed_from = old
  instances.save(rec)
  return rec
end

return M
