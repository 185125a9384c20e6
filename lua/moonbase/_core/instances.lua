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
local names = require("moonbase._core.names")
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

---The directory of an instance; a name that is not an instance name is a
---usage error here, so no command ever reads or writes a path it makes up.
function M.dir(name)
  return paths.instance(drivers.scope(), names.instance(name))
end

local function record_path(dir)
  return dir .. "/instance.json"
end

-- The NICs as drivers see them: attached to a tap, to a network of the
-- driver's own, to the bridge itself (a driver that plugs its own port in,
-- bridge_nics), or (no moonbase network) the driver's user networking with
-- its forwarded SSH port. (driver_network was called libvirt_network.)
local function nics_of(rec)
  if not rec.nics then
    return { { attach = "user", mac = rec.mac, host_port = rec.ssh_port } }
  end
  local own_port = drivers.has("bridge_nics")
  local out = {}
  for _, n in ipairs(rec.nics) do
    local dn = n.driver_network or n.libvirt_network
    local attach, device = "tap", n.tap
    if dn then
      attach, device = "network", dn
    elseif own_port then
      attach, device = "bridge", n.bridge
    end
    out[#out + 1] = { network = n.network, mac = n.mac, ipv4 = n.ipv4, attach = attach,
      device = device }
  end
  return out
end

---Whether native shares keep the guest's owners and modes in xattrs instead
---of on the host's files: when moonbase (so QEMU) runs as root, whose 9p
---would otherwise let a guest plant setuid-root files and chown host files.
function M.native_mapped()
  return util.geteuid() == 0
end

---The native mounts as the driver wants them.
function M.native_specs(rec)
  local out = {}
  for _, m in ipairs(rec.mounts or {}) do
    if m.type == "native" then
      out[#out + 1] = { source = m.source, tag = m.tag, target = m.target,
        readonly = m.readonly or false, mapped = M.native_mapped() }
    end
  end
  return out
end

---The driver's view of a record (in dir, default its own).
function M.spec(rec, dir)
  return {
    name = rec.name, dir = dir or M.dir(rec.name), host = rec.host, cpus = rec.cpus,
    memory = rec.memory, disk_size = rec.disk,
    image = { path = rec.image_path, kernel = rec.kernel, initrd = rec.initrd,
      cmdline = rec.cmdline, metadata = rec.image_metadata, id = rec.image_id },
    nics = nics_of(rec), mounts = M.native_specs(rec), user = rec.user,
  }
end

-- What an instance record must hold, checked whenever one is read: a record
-- of another shape is damaged, reported as such, and never acted on.
M.RECORD = {
  name = "name", state = "string", cpus = "integer", memory = "integer", disk = "integer",
  image = "string?", image_id = "string?", image_path = "string?", driver = "string?",
  scope = "string?", created = "string?", updated = "string?", deleted = "boolean?",
  started_at = "number?", version = "integer?", disk_file = "file?", seed_file = "file?",
  kernel = "string?", initrd = "string?", cmdline = "string?", mac = "string?", ipv4 = "string?",
  user = "string?", host = "string?", host_key = "string?", ssh_port = "integer?",
  user_net_restrict = "boolean?", fstab_stale = "boolean?", renamed_from = "string?",
  rename_to = "name?", snapshot_head = "string?", snapshot_seq = "integer?",
  labels = { optional = true, map = "string" },
  mounts = { optional = true, list = { source = "string", target = "string", type = "string",
    readonly = "boolean?", tag = "string?" } },
  nics = { optional = true, list = { mac = "string?", tap = "string?", network = "string?" } },
  forwards = { optional = true, list = { host_port = "integer", guest_port = "integer",
    proto = "string?" } },
}
M.STATES = { creating = true, stopped = true, running = true, suspended = true,
  starting = true, unknown = true }

---Why the record read for `name` is damaged, or nil.
function M.damage(rec, name)
  local why = store.check(rec, M.RECORD)
  if why then return why end
  -- a rename killed after moving the directory, before rewriting the record
  if rec.name ~= name and rec.rename_to == name then rec.name, rec.rename_to = name, nil end
  if rec.name ~= name then
    return string.format("it names the instance \"%s\", not \"%s\"", rec.name, name)
  end
  if not M.STATES[rec.state] then
    return string.format("its state \"%s\" is not an instance state", rec.state)
  end
  if rec.cpus < 1 or rec.memory < 1 or rec.disk < 1 then
    return "cpus, memory and disk must be positive"
  end
end

-- the message of a damaged record: what is wrong, where, and what to do
local function damaged(name, path, why)
  return string.format("instance \"%s\" has a damaged record: %s (fix %s, or remove the " ..
    "instance: moonbase delete --purge %s)", name, why, path, name)
end

---Reads one record: the record, or nil, message, code ("notfound", or
---"damaged" for a record that is not valid JSON or not of a record's shape).
function M.find(name)
  local ok, bad = names.valid_instance(name)
  if not ok then return nil, bad, "usage" end
  local path = record_path(M.dir(name))
  local rec, msg, code = store.read(path)
  if not rec then
    if code == "notfound" then
      if fs.exists(M.dir(name)) == "directory" then
        return nil, damaged(name, path, "it is missing"), "damaged"
      end
      return nil, string.format("instance \"%s\" does not exist (try: moonbase list)", name),
        "notfound"
    end
    if code == "damaged" then return nil, damaged(name, path, (msg:gsub("^.- is ", "it is "))),
      code end
    return nil, msg, code
  end
  local why = M.damage(rec, name)
  if why then return nil, damaged(name, path, why), "damaged" end
  return rec
end

---Like find, but raises.
function M.get(name)
  return errors.check(nil, M.find(name))
end

---Every record of the current scope, sorted by name, and the damaged ones
---({name, message}), which are left out of the first list.
---@return table[] records, {name: string, message: string}[] damaged
function M.records()
  local dir = paths.instances(drivers.scope())
  M.sweep(dir) -- what a killed launch or delete left, as the next command sees the list
  local list = fs.list(dir) or {}
  local out, bad = {}, {}
  for _, n in ipairs(list) do
    if n:sub(1, 1) ~= "." and fs.exists(dir .. "/" .. n) == "directory" then
      if names.valid_instance(n) then
        local rec, msg, code = M.find(n)
        if rec then out[#out + 1] = rec
        elseif code ~= "notfound" then bad[#bad + 1] = { name = n, message = msg } end
      else
        bad[#bad + 1] = { name = n, message = string.format("%s/%s is not an instance (its " ..
          "name is not an instance name): remove it", dir, n) }
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  table.sort(bad, function(a, b) return a.name < b.name end)
  return out, bad
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

---Checks an instance name: the engine's rules, and not a driver's name
---(local.<driver>.* are the driver's settings). Raises a usage error.
function M.check_name(name, verb)
  errors.check(verb, util.valid_name(name))
  for _, d in ipairs(drivers.list()) do
    if d == name then
      errors.usage(string.format("%s: invalid instance name \"%s\": it is a reserved word " ..
        "(pick another name)", verb, name))
    end
  end
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

---A deep copy of a record's value (tables copied, the rest as is).
function M.copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = M.copy(v) end
  return c
end

---n random bytes as hex (MAC addresses, instance ids, snapshot tags).
function M.random_hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

---Removes what a launch or delete killed midway left in base: hidden
---staging (.new-NAME-PID) and trash (.trash-NAME-PID) directories whose
---process is gone.
local swept = {}
function M.sweep(base)
  if swept[base] then return end
  swept[base] = true
  for _, n in ipairs(fs.list(base) or {}) do
    local digits = n:match("^%.new%-.+%-(%d+)$") or n:match("^%.trash%-.+%-(%d+)$")
    local pid = digits and math.tointeger(tonumber(digits))
    if pid and pid ~= util.getpid() and not process.alive(pid) then fs.rmtree(base .. "/" .. n) end
  end
end

---Forgets which scopes were swept (see moonbase._core.store's forget).
function M.forget() swept = {} end

return M
