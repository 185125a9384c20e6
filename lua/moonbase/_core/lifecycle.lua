-- The life of instances: the live state (the driver's answer; stale records
-- repaired), start, stop, suspend, restart, delete, recover, purge, exec, and
-- the per-instance settings (local.<instance>.cpus|memory|disk). Every
-- mutation holds the instance's lock (moonbase._core.instances).
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local agent = require("moonbase.engine.agent")
local process = require("moonbase.engine.process")
local paths = require("moonbase._core.paths")
local settings = require("moonbase._core.settings")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local agentctl = require("moonbase._core.agentctl")
local hosts = require("moonbase._core.hosts")
local units = require("moonbase.units")
local errors = require("moonbase.errors")

local M = {}

local save, spec = instances.save, instances.spec

---The live state: "deleted" for soft-deleted records, else the driver's answer.
---An instance live under the scope's other driver (the driver's "elsewhere")
---has that driver's state, and its name as second result; so has one placed
---on another host by a driver that is not the current one. With `verb`, an
---operation that the current driver cannot do on it raises instead.
---Stale records are repaired when nobody else holds the lock.
---`sp` is the driver's view of rec when the caller has made it already;
---`listing`: one of many asked in a row (the driver may answer them all from
---one request).
---@return string state, string? owner
function M.state(rec, verb, sp, listing)
  if rec.deleted then return "deleted" end
  sp = sp or spec(rec)
  local drv, drvname = drivers.current()
  local owner
  local conn, connname = drivers.for_record(rec)
  if connname ~= drvname then
    -- on another host: only the driver that placed it there knows it
    drv, owner = conn, connname
    if verb and verb ~= "exec" then
      errors.raise(string.format("%s: instance \"%s\" lives on the %s host %s, and " ..
        "local.driver is %s (try: moonbase set local.driver=%s, then moonbase %s %s)", verb,
        rec.name, owner, M.location(rec), drvname, owner, verb, rec.name), "state")
    end
  end
  local st, elsewhere = drv:state(sp, listing and { listing = true } or nil)
  st = st or "unknown"
  if st == "absent" then st = "unknown" end
  if st == "elsewhere" then
    owner = elsewhere or rec.driver or "another"
    local other = drivers.open(owner)
    st = other and other:state(sp, { own = true }) or "running"
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
    local lock = fs.lock(instances.dir(rec.name) .. "/lock", { wait = false })
    if lock then
      local fresh = instances.find(rec.name)
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
---`moonbase set local.driver=NAME`): { {name=, driver=}, ... }.
function M.live_elsewhere(name)
  local out = {}
  local ok, drv = pcall(drivers.open, name)
  if not ok or not drv or drv:scope() ~= drivers.scope() then return out end
  for _, rec in ipairs(instances.records()) do
    if not rec.deleted then
      local st, owner = drv:state(spec(rec))
      if st == "elsewhere" then
        out[#out + 1] = { name = rec.name, driver = owner or rec.driver }
      end
    end
  end
  return out
end

---Where the instance runs: "local", or "user@host" of the host it was placed on.
function M.location(rec)
  return hosts.location(rec.host)
end

---The host (a URI) a new instance goes to when it is another machine's (the
---recipe's `host`, else the driver's host setting), or nil for this one.
function M.placement(host)
  local _, drvname = drivers.current()
  if host == "local" then return nil end
  local hs = drivers.host_setting(drvname)
  if host and not hs then
    local can = drivers.placing(host)
    errors.usage(string.format("launch: host = %s needs the %s driver (try: moonbase set " ..
      "local.driver=%s)", host, table.concat(can, " or "), can[1] or "?"))
  end
  if not hs then return nil end
  local uri = host or settings.get(hs.key)
  if host and not hosts.is_remote(uri) then
    errors.usage(string.format("launch: host must be \"local\" or a remote URI such as " ..
      "qemu+ssh://user@host/system, got \"%s\"", host))
  end
  return hosts.is_remote(uri) and uri or nil
end

---Addresses the driver reports (empty unless running).
function M.ipv4(rec, state, sp)
  if (state or M.state(rec, nil, sp)) ~= "running" then return {} end
  return (drivers.for_record(rec)):ipv4(sp or spec(rec)) or {}
end

---Rows for `list`; an instance whose record is damaged is a row in state
---"unknown" with the problem (what is wrong and what to do).
---@param o? {addresses?: boolean}  addresses = false: no driver query for them
function M.list(o)
  o = o or {}
  local drv, current = drivers.current()
  -- the driver may start asking for every instance's state now, while the
  -- records are read (LXD answers its listing in the meantime)
  if drv then drv:list_ahead() end
  local rows = {}
  local recs, bad = instances.records()
  for _, rec in ipairs(recs) do
    local sp = spec(rec)
    local st, owner = M.state(rec, nil, sp, true)
    rows[#rows + 1] = { name = rec.name, state = st, image = rec.image,
      ipv4 = o.addresses ~= false and M.ipv4(rec, st, sp) or nil,
      driver = owner or current, host = M.location(rec),
      -- (said by the side that knows the setting: a daemon's client does not)
      other_driver = owner ~= nil and owner ~= current or nil }
  end
  for _, b in ipairs(bad) do
    rows[#rows + 1] = { name = b.name, state = "unknown", image = nil,
      ipv4 = o.addresses ~= false and {} or nil, driver = current, host = "local",
      problem = b.message }
  end
  table.sort(rows, function(a, b) return a.name < b.name end)
  return rows
end

---Everything `info` shows.
function M.info(name)
  local rec = instances.get(name)
  local st, owner = M.state(rec)
  local drv = drivers.current()
  if owner then drv = drivers.open(owner) or drv end
  local disk_used
  if rec.disk_file then
    local s = fs.stat(instances.dir(name) .. "/" .. rec.disk_file)
    disk_used = s and s.allocated
  end
  local ssh_host, ssh_port
  if st == "running" then ssh_host, ssh_port = drv:ssh_address(spec(rec)) end
  local uptime
  if st == "running" and rec.started_at then uptime = math.floor(util.time() - rec.started_at) end
  return {
    name = rec.name, state = st, image = rec.image, cpus = rec.cpus, memory = rec.memory,
    disk_total = rec.disk, disk_used = disk_used, ipv4 = M.ipv4(rec, st),
    ssh = ssh_host and (ssh_host .. ":" .. ssh_port) or nil, uptime = uptime,
    driver = owner or select(2, drivers.current()), host = M.location(rec), created = rec.created,
    mounts = rec.mounts or {},
    labels = rec.labels,
  }
end

---------------------------------------------------------------- lifecycle
---Starts an instance the way its driver needs: directly (test driver), or
---through a new agent that boots or resumes it and waits for SSH and
---cloud-init. Returns true, or nil, message, code.
function M.boot(rec, mode, o)
  o = o or {}
  local drv, drvname = drivers.current()
  if not drivers.has("ssh") then -- nothing to wait for over SSH: the driver starts it
    if mode == "resume" then return drv:resume(spec(rec)) end
    return drv:start(spec(rec))
  end
  local ok, err = pcall(agentctl.start, rec.name, instances.dir(rec.name), {
    mode = mode, timeout = o.timeout or 300, driver = drvname, quiet = o.quiet,
    verb = o.verb or "start" })
  if ok then return true end
  if errors.is(err) then
    return nil, (err.message:gsub("^%w+: ", "")), err.code
  end
  error(err, 0)
end

---After the hypervisor stopped: waits (bounded) for the instance agent to
---finish its clean-up, so a start right after never races it. An agent with
---no process to watch (the driver named none: another host) is told to end.
function M.settle(rec)
  if not drivers.has("ssh") then return end
  local dir = instances.dir(rec.name)
  local st = agentctl.status(dir)
  -- an agent that watches a process ends with it; one whose process lives on
  -- (a frozen container) or that watches none is told to stop
  if st and (not st.watching or process.alive(st.watching)) then
    pcall(agent.call, agentctl.socket(dir), { op = "stop" })
  end
  agentctl.wait_exit(dir, 10)
end

local function with_instance(name, verb, fn)
  instances.get(name) -- a clear error for a missing instance, before touching anything
  local lock <close> = instances.lock(name)
  local rec = instances.get(name)
  if rec.deleted and verb ~= "recover" and verb ~= "delete" and verb ~= "purge" then
    errors.raise(string.format("%s: instance \"%s\" is deleted (try: moonbase recover %s)", verb,
      name, name), "state")
  end
  return fn(rec)
end

-- For the lifecycle verbs: under the lock, the transition decides; an
-- instance already in the wanted state is returned as it is, with the notice.
local function transition(name, verb, o, fn)
  instances.get(name)
  local lock <close> = instances.lock(name)
  local rec = instances.get(name)
  local what, notice, st = M.transition(verb, rec, o)
  if what == "already" then return rec, notice end
  return fn(rec, st)
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

---What to run first when an instance must be running and is `st`: a hint
---that works when followed (a deleted instance must be recovered before it
---can start).
function M.start_hint(name, st)
  if st == "deleted" then
    return string.format("try: moonbase recover %s, then moonbase start %s", name, name)
  end
  return "try: moonbase start " .. name
end

---The record of instance name when it is running; else raises (state) with
---what to run first, for the command `verb` (exec, transfer, ...).
---@return table record
function M.running_record(name, verb)
  local rec = instances.get(name)
  local st = M.state(rec)
  if st ~= "running" then
    errors.raise(string.format("%s: instance \"%s\" is %s (%s)", verb, name, st,
      M.start_hint(name, st)), "state")
  end
  return rec
end

local function wrong_state(verb, name, st, hint)
  errors.raise(string.format("%s: instance \"%s\" is %s%s", verb, name, st,
    hint and (" (" .. hint .. ")") or ""), "state")
end

---What `verb` does to an instance in its current state: "act", or "already"
---and a notice when the instance is in the wanted state already (stop of a
---stopped one: nothing to do, not a failure); raises when it cannot be
---done. One table for the checks before anything is done (M.check) and the
---same decision again under the instance's lock.
---@param o? {force?: boolean, purge?: boolean}
---@return "act"|"already" what, string? notice, string? state
function M.transition(verb, rec, o)
  o = o or {}
  local name = rec.name
  if rec.deleted then
    if verb == "recover" or (verb == "delete" and o.purge) then return "act", nil, "deleted" end
    if verb == "delete" then
      return "already", string.format("instance \"%s\" is deleted already (to remove it " ..
        "for good: moonbase purge)", name), "deleted"
    end
    if verb == "stop" then
      return "already", string.format("instance \"%s\" is deleted (not running)", name),
        "deleted"
    end
    wrong_state(verb, name, "deleted", verb == "start" and ("try: moonbase recover " .. name) or
      verb == "suspend" and "only a running instance can be suspended" or
      M.start_hint(name, "deleted"))
  end
  if verb == "recover" then
    return "already", string.format("instance \"%s\" is not deleted (nothing to recover)",
      name)
  end
  local st = M.state(rec, verb)
  if verb == "delete" then return "act", nil, st end
  if verb == "start" then
    if st == "running" then
      return "already", string.format("instance \"%s\" is running already", name), st
    end
    if st ~= "stopped" and st ~= "suspended" then
      wrong_state("start", name, st, "try: moonbase stop --force " .. name)
    end
  elseif verb == "stop" then
    if st == "stopped" then
      return "already", string.format("instance \"%s\" is stopped already", name), st
    end
    if st == "suspended" and not o.force then
      wrong_state("stop", name, st, "try: moonbase start " .. name .. ", or stop --force")
    end
  elseif verb == "suspend" then
    if st == "suspended" then
      return "already", string.format("instance \"%s\" is suspended already", name), st
    end
    if st ~= "running" then
      wrong_state("suspend", name, st, "only a running instance can be suspended")
    end
  elseif verb == "restart" then
    if st ~= "running" then wrong_state("restart", name, st, M.start_hint(name, st)) end
  end
  return "act", nil, st
end

---Checks, without changing anything, what `verb` would do to the instance
---`name` (see M.transition): for commands that check every name first.
function M.check(verb, name, o)
  local rec, msg, code = instances.find(name)
  if not rec then
    if code == "damaged" and verb == "delete" and o and o.purge then return "act" end
    errors.raise(verb .. ": " .. msg, code)
  end
  return M.transition(verb, rec, o)
end

---Starts a stopped instance, or resumes a suspended one.
---Returns the record, and a notice when it was running already.
function M.start(name, o)
  o = o or {}
  return transition(name, "start", o, function(rec, st)
    if st == "suspended" then
      errors.check("start", M.boot(rec, "resume", o))
    else
      errors.check("start", M.boot(rec, "boot", o))
      rec.started_at = util.time()
    end
    rec.state = "running"
    rec.driver = select(2, drivers.current()) -- who runs it now (shared scope)
    save(rec)
    return rec
  end)
end

---Stops a running (or, with force, suspended) instance.
---Returns the record, and a notice when it was stopped already.
function M.stop(name, o)
  o = o or {}
  return transition(name, "stop", o, function(rec)
    local drv = drivers.current()
    errors.check("stop", drv:shutdown(spec(rec), { force = o.force, timeout = o.timeout }))
    M.settle(rec)
    fs.remove(instances.dir(name) .. "/stop.json") -- a delayed stop has nothing left to do
    rec.state = "stopped"
    rec.started_at = nil
    save(rec)
    return rec
  end)
end

---Saves a running instance's state and stops it; start resumes it.
function M.suspend(name)
  return transition(name, "suspend", nil, function(rec)
    errors.check("suspend", drivers.current():suspend(spec(rec)))
    M.settle(rec)
    rec.state = "suspended"
    save(rec)
    return rec
  end)
end

---Stops (gracefully) and starts a running instance.
---@param o? {timeout?: number}  how long the start may take
function M.restart(name, o)
  M.transition("restart", instances.get(name))
  M.stop(name)
  return M.start(name, o)
end

---------------------------------------------------------------- the primary instance
---The primary instance's name (client.primary-name), nil when it is "".
function M.primary()
  local n = settings.get("client.primary-name")
  if n == nil or n == "" then return nil end
  return n
end

---The primary instance's name, or a usage error naming what to do instead.
function M.primary_or_usage(verb)
  local n = M.primary()
  if not n then
    errors.usage(string.format("%s needs an instance name (there is no primary instance: " ..
      "client.primary-name is empty; try: moonbase %s NAME)", verb, verb))
  end
  return n
end

---------------------------------------------------------------- readiness
---Waits until the instance is running and, where moonbase reaches the guest
---through its agent, SSH answers and cloud-init is done.
function M.wait_ready(name, timeout)
  local deadline = util.time() + (timeout or 300)
  local dir = instances.dir(name)
  local said
  while true do
    local rec = instances.get(name)
    local st = M.state(rec)
    local ready = st == "running"
    if ready and drivers.uses_agent() then
      local a = agentctl.status(dir)
      ready = a ~= nil and a.state == "ready"
    end
    if ready then return true end
    if st == "stopped" or st == "deleted" or st == "unknown" then
      -- nobody is starting it (a start in progress holds the instance's lock)
      local lock = fs.lock(dir .. "/lock", { wait = false })
      if lock then
        lock:close()
        rec = instances.get(name)
        st = M.state(rec)
        if st ~= "running" then
          wrong_state("wait-ready", name, st, M.start_hint(name, st))
        end
      end
    end
    if util.time() >= deadline then
      errors.raise(string.format("wait-ready: instance \"%s\" was not ready after %s (it is " ..
        "%s%s)", name, units.format_duration(timeout or 300), st,
        said and (", " .. said) or ""), "timeout")
    end
    local a = agentctl.status(dir)
    said = a and a.state and a.state:gsub("%-", " ") or nil
    util.sleep(0.2)
  end
end

---------------------------------------------------------------- a delayed stop
-- <dir>/stop.json: {at = epoch, pid = the waiting process}
local function stop_file(name) return instances.dir(name) .. "/stop.json" end

---Cancels a pending delayed stop; returns when it would have stopped.
function M.cancel_stop(name)
  instances.get(name)
  local store = require("moonbase._core.store")
  local t = store.read(stop_file(name))
  if not t then return nil end
  -- the waiting process, if it is still ours (a pid can be reused)
  local cmdline = t.pid and fs.read("/proc/" .. t.pid .. "/cmdline") or ""
  if t.pid ~= util.getpid() and cmdline:find("\0stop\0" .. name .. "\0--at\0", 1, true) then
    require("moonbase.engine.process").kill(t.pid)
  end
  fs.remove(stop_file(name))
  return t.at
end

---Stops the instance `minutes` from now, from a detached process that a
---stop or cancel_stop ends (Multipass's stop --time).
function M.stop_later(name, minutes)
  local rec = instances.get(name)
  local st = M.state(rec, "stop")
  if st ~= "running" then
    wrong_state("stop", name, st, st == "stopped" and "nothing to do" or
      ("try: moonbase stop --force " .. name))
  end
  M.cancel_stop(name)
  local at = tonumber(string.format("%.3f", util.time() + minutes * 60))
  local process = require("moonbase.engine.process")
  local store = require("moonbase._core.store")
  local exe = errors.check("stop", fs.readlink("/proc/self/exe"))
  -- written before the waiting process starts (pid 0: being started), so it
  -- never finds the stop cancelled because it looked before this wrote
  store.write(stop_file(name), { at = at, pid = 0 })
  local ok, pid, msg = pcall(process.spawn, { exe, "stop", name, "--at",
    string.format("%.3f", at) }, { detach = true, stdout = "/dev/null", stderr =
    instances.dir(name) .. "/stop.log" })
  if not ok or not pid then
    fs.remove(stop_file(name))
    errors.check("stop", nil, ok and msg or pid)
  end
  store.write(stop_file(name), { at = at, pid = pid })
  return at
end

---The waiting half of stop_later: sleeps until `at` (or until the stop is
---cancelled: stop.json no longer names this process), then stops.
function M.stop_at(name, at)
  local store = require("moonbase._core.store")
  local me = util.getpid()
  -- ours: it names this process, or this stop while this process is started
  local function ours(t)
    return t and (t.pid == me or t.pid == 0 and type(t.at) == "number" and
      math.abs(t.at - at) < 0.01)
  end
  while util.time() < at do
    if not ours(store.read(stop_file(name))) then return false end
    util.sleep(math.min(1, math.max(0.05, at - util.time())))
  end
  if not ours(store.read(stop_file(name))) then return false end
  fs.remove(stop_file(name))
  local rec = instances.find(name)
  if not rec or M.state(rec) ~= "running" then return false end
  M.stop(name)
  return true
end

local function purge_files(rec)
  local drv = drivers.current()
  local dir = instances.dir(rec.name)
  if not rec.destroyed then errors.check("delete", drv:destroy(spec(rec))) end
  if rec.nics then -- (loaded here: list and info need no network code)
    require("moonbase._core.bridged").detach(rec.name, rec.nics)
    require("moonbase._core.network").release(rec.name)
  end
  -- move aside first so a concurrent list never sees a half-removed directory
  local trash = string.format("%s/.trash-%s-%d", paths.instances(drivers.scope()), rec.name,
    util.getpid())
  if fs.rename(dir, trash) then
    errors.check("delete", fs.rmtree(trash))
  else
    errors.check("delete", fs.rmtree(dir))
  end
end

---Deletes an instance: stopped and kept for `recover`, or, with purge, removed.
-- An instance whose record is damaged can still be purged: whatever runs
-- under its name is destroyed through the driver, its leases released by
-- name, and its directory removed.
local function purge_damaged(name)
  local lock <close> = instances.lock(name)
  local rec, _, code = instances.find(name)
  if rec or code ~= "damaged" then return false end
  local drv = drivers.current()
  pcall(drv.destroy, drv, spec({ name = name, cpus = 1, memory = instances.defaults.memory,
    disk = instances.defaults.disk }))
  pcall(require("moonbase._core.network").release, name)
  purge_files({ name = name, destroyed = true })
  return true
end

---Returns the record (nil when purged), and a notice when it was deleted
---already.
function M.delete(name, o)
  o = o or {}
  if o.purge and select(3, instances.find(name)) == "damaged" and purge_damaged(name) then
    return nil
  end
  return transition(name, "delete", o, function(rec, st)
    if st == "running" or st == "suspended" then
      errors.check("delete", drivers.current():shutdown(spec(rec), { force = true, timeout = 0 }))
      M.settle(rec)
    end
    if o.purge then
      purge_files(rec)
      return nil
    end
    rec.deleted = true
    rec.state = "stopped"
    save(rec)
    return rec
  end)
end

---Brings a deleted instance back (stopped).
function M.recover(name)
  return transition(name, "recover", nil, function(rec)
    rec.deleted = nil
    rec.state = "stopped"
    save(rec)
    return rec
  end)
end

---Removes every deleted instance for good; returns their names.
function M.purge()
  instances.sweep(paths.instances(drivers.scope()))
  local gone = {}
  for _, r in ipairs(instances.records()) do
    if r.deleted then
      local lock <close> = instances.lock(r.name)
      local rec = instances.find(r.name)
      if rec and rec.deleted then
        purge_files(rec)
        gone[#gone + 1] = rec.name
      end
    end
  end
  return gone
end

---------------------------------------------------------------- per-instance settings
function M.get_property(name, prop)
  local rec = instances.get(name)
  local v = rec[prop]
  if prop == "memory" or prop == "disk" then
    return units.format_size(v)
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
  instances.validate_resources({ [prop] = value }, what)
  instances.get(name)
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
          units.format_size(rec.disk)))
      end
      errors.check(what, drivers.current():resize_disk(spec(rec), value))
    end
    rec[prop] = value
    save(rec)
    return value
  end)
end

---------------------------------------------------------------- settings
settings.register("local.driver", {
  after = function(v)
    -- a live instance stays with the driver that runs it: say which
    local ok, live = pcall(M.live_elsewhere, v)
    for _, r in ipairs(ok and live or {}) do
      io.stderr:write(string.format("note: instance \"%s\" stays with the %s driver " ..
        "(running or suspended) until it stops there (exec works; start, stop, suspend " ..
        "and delete need local.driver=%s)\n", r.name, r.driver, r.driver))
    end
  end,
})

local properties = { cpus = true, memory = true, disk = true }
settings.register_pattern("^local%.([a-z][a-z0-9-]*)%.([a-z]+)$", {
  doc = { "`local.<instance>.cpus` / `.disk` / `.memory`", "a number of CPUs, or a size " ..
    "(`2G`)", "set at launch", "the instance's resources; set on a stopped instance, applied " ..
    "at its next start; a disk only grows" },
  help = "per-instance setting (applied at next start)",
  accepts = function(_, prop) return properties[prop] == true end,
  keys = function()
    local keys = {}
    for _, rec in ipairs(instances.records()) do
      for _, p in ipairs({ "cpus", "disk", "memory" }) do
        keys[#keys + 1] = "local." .. rec.name .. "." .. p
      end
    end
    return keys
  end,
  get = function(_, name, prop) return M.get_property(name, prop) end,
  check = function(_, raw, name, prop) return M.check_property(name, prop, raw) end,
  set = function(_, raw, name, prop) return M.set_property(name, prop, raw) end,
})

return M
