-- Instance records (the memory): data/instances/<scope>/<name>/instance.json,
-- written atomically, each mutation under the instance's lock; and the
-- driver's view of a record (spec). The live state, from the driver (the
-- truth), is moonbase._core.lifecycle's.
-- layer: records
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local drivers = require("moonbase._core.drivers")
local errors = require("moonbase.errors")

local M = {}

M.defaults = { cpus = 1, memory = 1024 ^ 3, disk = 5 * 1024 ^ 3 }
M.limits = { min_memory = 128 * 1024 ^ 2, min_disk = 512 * 1024 ^ 2, max_cpus = 256 }

---What launch{} accepts beyond name/image/cpus/memory/disk/cloud_init/labels.
---Recipes (moonbase.recipe) pass these keys only when their flag is true, and
---refuse recipes that use them otherwise. The shapes recipes pass:
---  networks = { { network = "proj-backend", ip? = "10.77.0.10" }, ... }
---  mounts   = { { source = "/abs/dir", target = "/srv/x", readonly? = bool,
---                 type? = "native"|"classic" }, ... }
---  forwards = { { host_port = 8080, guest_port = 80, proto = "tcp"|"udp" }, ... }
M.features = { networks = true, mounts = true, forwards = true }

function M.dir(name)
  return paths.instance(drivers.scope(), name)
end

local function record_path(dir)
  return dir .. "/instance.json"
end

-- The NICs after the first, as drivers see them: one on a libvirt network
-- moonbase defines names that network (lua/moonbase/_core/libvirtnet.lua).
local function extra_nics(nics)
  local out = {}
  for i = 2, #nics do
    local n = nics[i]
    out[#out + 1] = n.libvirt_network and { network = n.libvirt_network, mac = n.mac,
      ipv4 = n.ipv4 } or n
  end
  return out
end

---The native mounts as the driver wants them.
function M.native_specs(rec)
  local out = {}
  for _, m in ipairs(rec.mounts or {}) do
    if m.type == "native" then
      out[#out + 1] = { source = m.source, tag = m.tag, readonly = m.readonly or false }
    end
  end
  return out
end

---The driver's view of a record.
function M.spec(rec, dir)
  return {
    name = rec.name, dir = dir or M.dir(rec.name), cpus = rec.cpus, memory = rec.memory,
    disk_size = rec.disk, image = rec.image_path,
    disk = rec.disk_file and ((dir or M.dir(rec.name)) .. "/" .. rec.disk_file),
    seed = rec.seed_file and ((dir or M.dir(rec.name)) .. "/" .. rec.seed_file),
    kernel = rec.kernel, initrd = rec.initrd, cmdline = rec.cmdline, mac = rec.mac,
    ssh_port = rec.ssh_port, mounts = M.native_specs(rec),
    ipv4 = rec.ipv4, tap = rec.nics and rec.nics[1].tap,
    network = rec.nics and rec.nics[1].libvirt_network,
    nets = rec.nics and extra_nics(rec.nics),
    user_net_restrict = rec.user_net_restrict,
  }
end

---Reads one record, or nil, message, "notfound".
function M.find(name)
  local rec, msg, code = store.read(record_path(M.dir(name)))
  if not rec then
    if code == "notfound" then
      return nil, string.format("instance \"%s\" does not exist (try: moonbase list)", name),
        "notfound"
    end
    return nil, msg, code
  end
  return rec
end

---Like find, but raises.
function M.get(name)
  return errors.check(nil, M.find(name))
end

---Every record of the current scope, sorted by name.
function M.records()
  local dir = paths.instances(drivers.scope())
  local names = fs.list(dir) or {}
  local out = {}
  for _, n in ipairs(names) do
    if n:sub(1, 1) ~= "." then
      local rec = store.read(record_path(dir .. "/" .. n))
      if rec then out[#out + 1] = rec end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

---Writes a record (atomically); the caller holds the instance's lock.
function M.save(rec, dir)
  rec.updated = os.date("!%Y-%m-%dT%H:%M:%SZ")
  store.write(record_path(dir or M.dir(rec.name)), rec)
end

---Takes the instance's lock (blocks while another moonbase call holds it).
function M.lock(name, dir)
  return errors.check(nil, fs.lock((dir or M.dir(name)) .. "/lock"))
end

---Checks cpus, memory and disk against M.limits (a usage error if not).
function M.validate_resources(o, what)
  if o.cpus and (math.type(o.cpus) ~= "integer" or o.cpus < 1 or o.cpus > M.limits.max_cpus) then
    errors.usage(string.format("%s: cpus must be a whole number from 1 to %d, got %s", what,
      M.limits.max_cpus, tostring(o.cpus)))
  end
  if o.memory and o.memory < M.limits.min_memory then
    errors.usage(string.format("%s: memory must be at least 128M, got %d bytes", what, o.memory))
  end
  if o.disk and o.disk < M.limits.min_disk then
    errors.usage(string.format("%s: disk must be at least 512M, got %d bytes", what, o.disk))
  end
end

---Removes what a launch or delete killed midway left in base: hidden
---staging (.new-NAME-PID) and trash (.trash-NAME-PID) directories whose
---process is gone.
function M.sweep(base)
  for _, n in ipairs(fs.list(base) or {}) do
    local digits = n:match("^%.new%-.+%-(%d+)$") or n:match("^%.trash%-.+%-(%d+)$")
    local pid = digits and math.tointeger(tonumber(digits))
    if pid and pid ~= util.getpid() and not process.alive(pid) then fs.rmtree(base .. "/" .. n) end
  end
end

return M
