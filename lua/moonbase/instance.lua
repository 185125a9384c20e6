-- Instances: records on disk (the memory) checked against the driver (the
-- truth). Every mutation holds the instance's lock; records are written
-- atomically; a new instance is assembled in a hidden staging directory and
-- renamed into place, so nothing is ever half-created.
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local core_driver = require("moonbase.engine.driver")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")
local settings = require("moonbase.settings")

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

local driver_cache
---The driver chosen by local.driver.
---@return table handle, string name
function M.driver()
  if not driver_cache then
    local name = settings.get("local.driver")
    M.use_driver(name)
  end
  return driver_cache, driver_cache:name()
end

---Uses this driver instead of the setting (the agent runs with the driver
---that started it, whatever the setting says meanwhile).
function M.use_driver(name)
  if name == "libvirt" then
    -- the C driver reads its connection URI from the environment (agents inherit it)
    util.setenv("MOONBASE_LIBVIRT_URI", settings.get("local.libvirt.uri"))
  end
  driver_cache = errors.check(nil, core_driver.get(name))
end

---Drivers whose guests are reached over SSH through the instance agent.
function M.uses_agent()
  local _, name = M.driver()
  return name ~= "test"
end

---The visible instance scope (qemu and libvirt share "qemu").
function M.scope()
  return (M.driver():scope())
end

function M.dir(name)
  return paths.instance(M.scope(), name)
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

---The driver's view of a record.
function M.spec(rec, dir)
  return {
    name = rec.name, dir = dir or M.dir(rec.name), cpus = rec.cpus, memory = rec.memory,
    disk_size = rec.disk, image = rec.image_path,
    disk = rec.disk_file and ((dir or M.dir(rec.name)) .. "/" .. rec.disk_file),
    seed = rec.seed_file and ((dir or M.dir(rec.name)) .. "/" .. rec.seed_file),
    kernel = rec.kernel, initrd = rec.initrd, cmdline = rec.cmdline, mac = rec.mac,
    ssh_port = rec.ssh_port, mounts = require("moonbase.mounts").native_specs(rec),
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
  local dir = paths.instances(M.scope())
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

local function save(rec, dir)
  rec.updated = os.date("!%Y-%m-%dT%H:%M:%SZ")
  store.write(record_path(dir or M.dir(rec.name)), rec)
end
---Writes a record (atomically); the caller holds the instance's lock.
M.save = save

---Takes the instance's lock (blocks while another moonbase call holds it).
function M.lock(name, dir)
  return errors.check(nil, fs.lock((dir or M.dir(name)) .. "/lock"))
end

---QEMU and libvirt share the scope "qemu": the other driver of that pair.
local scope_siblings = { qemu = "libvirt", libvirt = "qemu" }

---The live state: "deleted" for soft-deleted records, else the driver's answer.
---An instance live under the scope's other driver (the driver's "elsewhere")
---has that driver's state, and its name as second result; with `verb`, an
---operation that the current driver cannot do on it raises instead.
---Stale records are repaired when nobody else holds the lock.
---@return string state, string? owner
function M.state(rec, verb)
  if rec.deleted then return "deleted" end
  local drv, drvname = M.driver()
  local owner
  if rec.host and drvname ~= "libvirt" then
    -- on another libvirt host: only the libvirt driver knows it
    drv, owner = core_driver.get("libvirt"), "libvirt"
    if verb and verb ~= "exec" then
      errors.raise(string.format("%s: instance \"%s\" lives on the libvirt host %s, and " ..
        "local.driver is %s (try: moonbase set local.driver=libvirt, then moonbase %s %s)", verb,
        rec.name, M.location(rec), drvname, verb, rec.name), "state")
    end
  end
  local st = drv:state(M.spec(rec)) or "unknown"
  if st == "absent" then st = "unknown" end
  if st == "elsewhere" then
    owner = (rec.driver ~= drvname and rec.driver) or scope_siblings[drvname] or "another"
    local other = core_driver.get(owner)
    st = other and other:state(M.spec(rec)) or "running"
    if st ~= "suspended" and st ~= "starting" then st = "running" end
    if verb == "start" and st ~= "suspended" then
      errors.raise(string.format("start: instance \"%s\" is already %s under the %s driver " ..
        "(nothing to do; local.driver is %s)", rec.name, st, owner, drvname), "state")
    elseif verb and verb ~= "exec" then
      errors.raise(string.format("%s: instance \"%s\" is %s under the %s driver, and " ..
        "local.driver is %s (try: moonbase set local.driver=%s, then moonbase %s %s)", verb,
        rec.name, st, owner, drvname, owner, verb, rec.name), "state")
    end
  end
  if st ~= rec.state and st ~= "unknown" and rec.state ~= "creating" then
    local lock = fs.lock(M.dir(rec.name) .. "/lock", { wait = false })
    if lock then
      local fresh = M.find(rec.name)
      if fresh and not fresh.deleted then
        fresh.state = st
        save(fresh)
      end
      lock:close()
    end
  end
  return st, owner
end

---Instances of the scope live under another driver than `name` (for
---`moonbase set local.driver=NAME`): { {name=, state=, driver=}, ... }.
function M.live_elsewhere(name)
  local out = {}
  local ok, drv = pcall(core_driver.get, name)
  if not ok or not drv or drv:scope() ~= M.scope() then return out end
  for _, rec in ipairs(M.records()) do
    if not rec.deleted then
      local st = drv:state(M.spec(rec))
      if st == "elsewhere" then
        local owner = rec.driver ~= name and rec.driver or scope_siblings[name]
        out[#out + 1] = { name = rec.name, driver = owner }
      end
    end
  end
  return out
end

---Where the instance runs: "local", or "user@host" of its libvirt host.
function M.location(rec)
  if not rec.host then return "local" end
  return require("moonbase._core.libvirt_remote").location(rec.host)
end

---The libvirt URI a new instance goes to when it is another host's (the
---recipe's `host`, else local.libvirt.uri), or nil for this machine.
function M.placement(host)
  local _, drvname = M.driver()
  if host == "local" then return nil end
  if host and drvname ~= "libvirt" then
    errors.usage(string.format("launch: host = %s needs the libvirt driver (try: moonbase set " ..
      "local.driver=libvirt)", host))
  end
  if drvname ~= "libvirt" then return nil end
  local remote = require("moonbase._core.libvirt_remote")
  local uri = host or settings.get("local.libvirt.uri")
  if host and not remote.is_remote(uri) then
    errors.usage(string.format("launch: host must be \"local\" or a remote libvirt URI such " ..
      "as qemu+ssh://user@host/system, got \"%s\"", host))
  end
  return remote.is_remote(uri) and uri or nil
end

---Addresses the driver reports (empty unless running).
function M.ipv4(rec, state)
  if (state or M.state(rec)) ~= "running" then return {} end
  return M.driver():ipv4(M.spec(rec)) or {}
end

---Rows for `list`.
function M.list()
  local rows = {}
  for _, rec in ipairs(M.records()) do
    local st, owner = M.state(rec)
    rows[#rows + 1] = { name = rec.name, state = st, ipv4 = M.ipv4(rec, st), image = rec.image,
      driver = owner, host = M.location(rec) }
  end
  return rows
end

---Everything `info` shows.
function M.info(name)
  local rec = M.get(name)
  local st, owner = M.state(rec)
  local drv = M.driver()
  if owner then drv = core_driver.get(owner) or drv end
  local disk_used
  if rec.disk_file then
    local s = fs.stat(M.dir(name) .. "/" .. rec.disk_file)
    disk_used = s and s.allocated
  end
  local ssh_host, ssh_port
  if st == "running" then ssh_host, ssh_port = drv:ssh_address(M.spec(rec)) end
  local uptime
  if st == "running" and rec.started_at then uptime = math.floor(util.time() - rec.started_at) end
  return {
    name = rec.name, state = st, image = rec.image, cpus = rec.cpus, memory = rec.memory,
    disk_total = rec.disk, disk_used = disk_used, ipv4 = M.ipv4(rec, st),
    ssh = ssh_host and (ssh_host .. ":" .. ssh_port) or nil, uptime = uptime,
    driver = owner or select(2, M.driver()), host = M.location(rec), created = rec.created,
    mounts = rec.mounts or {},
    labels = rec.labels,
  }
end

---------------------------------------------------------------- validation
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

---------------------------------------------------------------- lifecycle
---Creates and starts an instance (moonbase._core.launch).
---@param o {name?: string, image?: string, cpus?: integer, memory?: integer, disk?: integer, cloud_init?: string, labels?: table, mounts?: (string|table)[]}
---@return table record
function M.launch(o)
  return require("moonbase._core.launch").run(M, o)
end

---Starts an instance the way its driver needs: directly (test driver), or
---through a new agent that boots or resumes it and waits for SSH and
---cloud-init. Returns true, or nil, message, code.
function M.boot(rec, mode, o)
  o = o or {}
  local drv, drvname = M.driver()
  if not M.uses_agent() then
    if mode == "resume" then return drv:resume(M.spec(rec)) end
    return drv:start(M.spec(rec))
  end
  local ok, err = pcall(require("moonbase._core.agentctl").start, rec.name, M.dir(rec.name), {
    mode = mode, timeout = o.timeout or 300, driver = drvname, quiet = o.quiet,
    verb = o.verb or "start" })
  if ok then return true end
  if errors.is(err) then
    return nil, (err.message:gsub("^%w+: ", "")), err.code
  end
  error(err, 0)
end

---The agent's main (the hidden `moonbase agent` command).
function M.run_agent(name, opts)
  if opts.driver then M.use_driver(opts.driver) end
  return require("moonbase._core.boot").agent_main(M, name, opts)
end

---After QEMU stopped: waits (bounded) for the instance agent to finish its
---clean-up, so a start right after never races it.
function M.settle(rec)
  if not M.uses_agent() then return end
  local agentctl = require("moonbase._core.agentctl")
  if rec.host then -- no QEMU of ours to watch on another host: told to end
    pcall(require("moonbase.engine.agent").call, agentctl.socket(M.dir(rec.name)), { op = "stop" })
  end
  agentctl.wait_exit(M.dir(rec.name), 10)
end

local function with_instance(name, verb, fn)
  M.get(name) -- a clear error for a missing instance, before touching anything
  local lock <close> = M.lock(name)
  local rec = M.get(name)
  if rec.deleted and verb ~= "recover" and verb ~= "delete" and verb ~= "purge" then
    errors.raise(string.format("%s: instance \"%s\" is deleted (try: moonbase recover %s)", verb,
      name, name), "state")
  end
  return fn(rec)
end

---Runs fn(rec) under the instance's lock and saves the record it changed
---(when fn raises, nothing is saved).
function M.update(name, verb, fn)
  return with_instance(name, verb, function(rec)
    local r = fn(rec)
    save(rec)
    return r
  end)
end

local function wrong_state(verb, name, st, hint)
  errors.raise(string.format("%s: instance \"%s\" is %s%s", verb, name, st,
    hint and (" (" .. hint .. ")") or ""), "state")
end

---Starts a stopped instance, or resumes a suspended one.
function M.start(name, o)
  o = o or {}
  return with_instance(name, "start", function(rec)
    local st = M.state(rec, "start")
    if st == "running" then wrong_state("start", name, st, "nothing to do") end
    if st == "suspended" then
      errors.check("start", M.boot(rec, "resume", o))
    elseif st == "stopped" then
      errors.check("start", M.boot(rec, "boot", o))
      rec.started_at = util.time()
    else
      wrong_state("start", name, st, "try: moonbase stop --force " .. name)
    end
    rec.state = "running"
    rec.driver = select(2, M.driver()) -- who runs it now (shared scope)
    save(rec)
    return rec
  end)
end

---Stops a running (or, with force, suspended) instance.
function M.stop(name, o)
  o = o or {}
  return with_instance(name, "stop", function(rec)
    local drv = M.driver()
    local st = M.state(rec, "stop")
    if st == "stopped" then wrong_state("stop", name, st, "nothing to do") end
    if st == "suspended" and not o.force then
      wrong_state("stop", name, st, "try: moonbase start " .. name .. ", or stop --force")
    end
    errors.check("stop", drv:shutdown(M.spec(rec), { force = o.force, timeout = o.timeout }))
    M.settle(rec)
    rec.state = "stopped"
    rec.started_at = nil
    save(rec)
    return rec
  end)
end

---Saves a running instance's state and stops it; start resumes it.
function M.suspend(name)
  return with_instance(name, "suspend", function(rec)
    local st = M.state(rec, "suspend")
    if st ~= "running" then wrong_state("suspend", name, st, "only a running instance can be " ..
      "suspended") end
    errors.check("suspend", M.driver():suspend(M.spec(rec)))
    M.settle(rec)
    rec.state = "suspended"
    save(rec)
    return rec
  end)
end

---Stops (gracefully) and starts a running instance.
function M.restart(name)
  local rec = M.get(name)
  local st = M.state(rec)
  if st ~= "running" then
    wrong_state("restart", name, st, "try: moonbase start " .. name)
  end
  M.stop(name)
  return M.start(name)
end

local function purge_files(rec)
  local drv = M.driver()
  local dir = M.dir(rec.name)
  errors.check("delete", drv:destroy(M.spec(rec)))
  if rec.nics then
    require("moonbase._core.bridged").detach(rec.name, rec.nics)
    require("moonbase.network").release(rec.name)
  end
  -- move aside first so a concurrent list never sees a half-removed directory
  local trash = string.format("%s/.trash-%s-%d", paths.instances(M.scope()), rec.name,
    util.getpid())
  if fs.rename(dir, trash) then
    errors.check("delete", fs.rmtree(trash))
  else
    errors.check("delete", fs.rmtree(dir))
  end
end

---Deletes an instance: stopped and kept for `recover`, or, with purge, removed.
function M.delete(name, o)
  o = o or {}
  return with_instance(name, "delete", function(rec)
    local st = M.state(rec, "delete")
    if st == "running" or st == "suspended" then
      errors.check("delete", M.driver():shutdown(M.spec(rec), { force = true, timeout = 0 }))
      M.settle(rec)
    end
    if o.purge then
      purge_files(rec)
      return nil
    end
    if rec.deleted then wrong_state("delete", name, "deleted already", "try: moonbase purge") end
    rec.deleted = true
    rec.state = "stopped"
    save(rec)
    return rec
  end)
end

---Brings a deleted instance back (stopped).
function M.recover(name)
  return with_instance(name, "recover", function(rec)
    if not rec.deleted then wrong_state("recover", name, "not deleted", "nothing to recover") end
    rec.deleted = nil
    rec.state = "stopped"
    save(rec)
    return rec
  end)
end

---Removes what a launch or delete killed midway left in base: hidden
---staging (.new-NAME-PID) and trash (.trash-NAME-PID) directories whose
---process is gone.
function M.sweep(base)
  local process = require("moonbase.engine.process")
  for _, n in ipairs(fs.list(base) or {}) do
    local digits = n:match("^%.new%-.+%-(%d+)$") or n:match("^%.trash%-.+%-(%d+)$")
    local pid = digits and math.tointeger(tonumber(digits))
    if pid and pid ~= util.getpid() and not process.alive(pid) then fs.rmtree(base .. "/" .. n) end
  end
end

---Removes every deleted instance for good; returns their names.
function M.purge()
  M.sweep(paths.instances(M.scope()))
  local gone = {}
  for _, r in ipairs(M.records()) do
    if r.deleted then
      local lock <close> = M.lock(r.name)
      local rec = M.find(r.name)
      if rec and rec.deleted then
        purge_files(rec)
        gone[#gone + 1] = rec.name
      end
    end
  end
  return gone
end

---Runs a command in the instance; returns its exit status.
---The test driver's "guest" runs it on the host, in the instance directory.
function M.exec(name, argv, o)
  o = o or {}
  local rec = M.get(name)
  local st = M.state(rec)
  if st ~= "running" then
    wrong_state(o.pty and "shell" or "exec", name, st, "try: moonbase start " .. name)
  end
  if M.uses_agent() then return require("moonbase._core.boot").exec(M, rec, argv, o) end
  local process = require("moonbase.engine.process")
  local env = { MOONBASE_INSTANCE = name }
  for _, kv in ipairs(o.env or {}) do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then errors.usage("exec: --env needs KEY=VALUE, got \"" .. kv .. "\"") end
    env[k] = v
  end
  local pid, msg = process.spawn(argv, { cwd = o.workdir or M.dir(name), env = env })
  if not pid then
    io.stderr:write("exec: ", msg, "\n")
    return 127
  end
  return process.wait(pid)
end

---------------------------------------------------------------- per-instance settings
function M.get_property(name, prop)
  local rec = M.get(name)
  local v = rec[prop]
  if prop == "memory" or prop == "disk" then
    return require("moonbase.units").format_size(v)
  end
  return v
end

local function parse_property(name, prop, raw)
  local what = "set local." .. name .. "." .. prop
  local value
  if prop == "cpus" then
    value = math.tointeger(tonumber(raw))
    if not value or not raw:match("^%d+$") then
      errors.usage(what .. ": use a whole number of cpus, got \"" .. raw .. "\"")
    end
  else
    local msg
    value, msg = util.parse_size(raw)
    if not value then errors.usage(what .. ": " .. msg) end
  end
  M.validate_resources({ [prop] = value }, what)
  M.get(name)
  return value, what
end

---Checks a per-instance setting without applying it.
function M.check_property(name, prop, raw)
  parse_property(name, prop, raw)
end

---Sets cpus/memory/disk of a stopped instance (disk only grows); applied at next start.
function M.set_property(name, prop, raw)
  local value, what = parse_property(name, prop, raw)
  return with_instance(name, "set", function(rec)
    local st = M.state(rec)
    if st ~= "stopped" then
      wrong_state(what, name, st, "try: moonbase stop " .. name .. " first")
    end
    if prop == "disk" then
      if value < rec.disk then
        errors.usage(string.format("%s: the disk can only grow (it is %s now)", what,
          require("moonbase.units").format_size(rec.disk)))
      end
      errors.check(what, M.driver():resize_disk(M.spec(rec), value))
    end
    rec[prop] = value
    save(rec)
    return value
  end)
end

return M
