-- Snapshots of instances: take (stopped, or running with the guest's memory
-- where the driver can), list, restore (after a safety snapshot of the state
-- it replaces, unless destructive), delete, rename and comment; and groups of
-- them taken together with the group paused (a recipe's instances).
--
-- The driver keeps each snapshot's data under a tag of moonbase's choosing
-- ("mb-<time>-<hex>", never reused); moonbase keeps what users see in
-- <instance dir>/snapshots/<name>.json: name, tag, parent, created, comment,
-- whether it holds memory, and the instance's cpus, memory, disk, mounts and
-- forwards, which a restore brings back. The driver is the truth: a record
-- whose tag the driver does not have is not listed, and a tag of moonbase's
-- without a record (a snapshot killed between the two steps) is removed by
-- the next snapshot operation on that instance, under its lock.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local store = require("moonbase._core.store")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local settings = require("moonbase._core.settings")
local errors = require("moonbase.errors")

local M = {}

local TAG_PREFIX = "mb-"

---Checks a snapshot name: a letter, then letters, digits and dashes (no dot:
---INSTANCE.SNAPSHOT names one), at most 63 characters.
---@return boolean?, string?, string?
function M.check_name(name)
  if type(name) ~= "string" or not name:match("^[A-Za-z][A-Za-z0-9-]*$") or #name > 63 then
    return nil, string.format("invalid snapshot name \"%s\": use letters, digits and dashes, " ..
      "starting with a letter, at most 63 characters", tostring(name)), "usage"
  end
  return true
end

---Splits "INSTANCE.SNAPSHOT"; raises a usage error naming `what` otherwise.
---@return string instance, string snapshot
function M.parse_ref(ref, what)
  local inst, snap = tostring(ref):match("^([^.]+)%.(.+)$")
  if not inst then
    errors.usage(string.format("%s: \"%s\" is not INSTANCE.SNAPSHOT (try: moonbase list " ..
      "--snapshots)", what, tostring(ref)))
  end
  errors.check(what, util.valid_name(inst))
  errors.check(what, M.check_name(snap))
  return inst, snap
end

local function dir_of(name) return instances.dir(name) .. "/snapshots" end
local function path_of(name, snap) return dir_of(name) .. "/" .. snap .. ".json" end

local function now_iso() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

local function new_tag()
  return string.format("%s%s-%s", TAG_PREFIX, os.date("!%Y%m%d%H%M%S"), instances.random_hex(4))
end

-- Every snapshot record of an instance (valid or not), oldest first.
local function records(name)
  local out = {}
  for _, f in ipairs(fs.list(dir_of(name)) or {}) do
    local snap = f:match("^(.+)%.json$")
    if snap and f:sub(1, 1) ~= "." then
      local r = store.read(dir_of(name) .. "/" .. f)
      if type(r) == "table" and r.name == snap and type(r.tag) == "string" then
        out[#out + 1] = r
      end
    end
  end
  table.sort(out, function(a, b)
    if (a.seq or 0) ~= (b.seq or 0) then return (a.seq or 0) < (b.seq or 0) end
    return a.name < b.name
  end)
  return out
end

-- The driver's snapshots of an instance by tag, or nil, message, code.
local function driver_tags(drv, rec)
  local list, msg, code = drv:snapshot_list(instances.spec(rec))
  if not list then return nil, msg, code end
  local by = {}
  for _, s in ipairs(list) do by[s.name] = s end
  return by
end

-- The driver that holds the instance now (the current one, or the scope's
-- other driver that runs it) and the live state; raises for `verb` when
-- the current driver cannot act on it.
local function live(rec, verb)
  local st = lifecycle.state(rec, verb)
  return drivers.current(), st
end

-- Removes what a killed snapshot left: the driver's tags of ours without a
-- record, records without the driver's tag. The caller holds the lock.
local function repair(rec, drv)
  local tags = driver_tags(drv, rec)
  if not tags then return end
  local known = {}
  for _, r in ipairs(records(rec.name)) do
    known[r.tag] = true
    if not tags[r.tag] then fs.remove(path_of(rec.name, r.name)) end
  end
  for tag in pairs(tags) do
    if tag:sub(1, #TAG_PREFIX) == TAG_PREFIX and not known[tag] then
      drv:snapshot_delete(instances.spec(rec), tag)
    end
  end
end

local function find_record(name, snap, what)
  local r = store.read(path_of(name, snap))
  if type(r) ~= "table" or r.name ~= snap or type(r.tag) ~= "string" then
    errors.raise(string.format("%s: instance \"%s\" has no snapshot \"%s\" (try: moonbase " ..
      "list --snapshots)", what, name, snap), "notfound")
  end
  return r
end

local function by_tag(name)
  local t = {}
  for _, r in ipairs(records(name)) do t[r.tag] = r end
  return t
end

-- The next default name: snapshotN with N past every one this instance had.
local function default_name(rec, taken)
  local n = (rec.snapshot_count or 0) + 1
  while taken["snapshot" .. n] do n = n + 1 end
  return "snapshot" .. n, n
end

local copy = instances.copy

-- Takes one snapshot of a locked instance in state st. Returns its record.
local function take_locked(rec, drv, st, o)
  local taken = {}
  for _, r in ipairs(records(rec.name)) do taken[r.name] = true end
  local name, n = o.name, nil
  if name then
    if taken[name] then
      errors.raise(string.format("snapshot: instance \"%s\" already has a snapshot \"%s\" " ..
        "(try: another --name, or moonbase delete %s.%s)", rec.name, name, rec.name, name),
        "exists")
    end
  else
    name, n = default_name(rec, taken)
  end
  local parent = rec.snapshot_head and by_tag(rec.name)[rec.snapshot_head]
  rec.snapshot_seq = (rec.snapshot_seq or 0) + 1
  local srec = {
    name = name, tag = new_tag(), seq = rec.snapshot_seq,
    parent = parent and parent.tag or nil,
    created = now_iso(), comment = o.comment, memory = st == "running",
    driver = select(2, drivers.current()), group = o.group,
    spec = { cpus = rec.cpus, memory = rec.memory, disk = rec.disk, mounts = copy(rec.mounts),
      forwards = copy(rec.forwards), started_at = rec.started_at },
  }
  errors.check("snapshot", fs.mkdirs(dir_of(rec.name), 448))
  -- the driver's snapshot first, then the record that makes it visible: a
  -- kill in between leaves a tag that repair() removes
  errors.check("snapshot", drv:snapshot_take(instances.spec(rec), srec.tag))
  -- the driver says whether it kept the memory (a container's snapshot of a
  -- running instance may be of its files only)
  local kept = (driver_tags(drv, rec) or {})[srec.tag]
  if kept then srec.memory = kept.memory end
  store.write(path_of(rec.name, name), srec)
  rec.snapshot_head = srec.tag
  if n then rec.snapshot_count = n end
  instances.save(rec)
  return srec
end

local function with_lock(name, verb, fn)
  errors.check(verb, util.valid_name(name))
  instances.get(name) -- a clear error before any lock
  drivers.need("snapshots", verb, "snapshots are")
  local lock <close> = instances.lock(name)
  local rec = instances.get(name)
  if rec.deleted then
    errors.raise(string.format("%s: instance \"%s\" is deleted (try: moonbase recover %s)", verb,
      name, name), "state")
  end
  return fn(rec)
end

local function snapshot_state(rec, st, verb)
  if st == "running" or st == "stopped" then return end
  local hint = st == "suspended"
    and string.format("try: moonbase start %s first, or moonbase stop --force %s", rec.name,
      rec.name)
    or string.format("try: moonbase info %s", rec.name)
  errors.raise(string.format("%s: instance \"%s\" is %s (%s)", verb, rec.name, st, hint), "state")
end

---Takes a snapshot of an instance: of its disk when stopped, with its memory
---too when running (where the driver can).
---@param name string
---@param o? {name?: string, comment?: string}
---@return table snapshot record
function M.take(name, o)
  o = o or {}
  if o.name then errors.check("snapshot", M.check_name(o.name)) end
  return with_lock(name, "snapshot", function(rec)
    local drv, st = live(rec, "snapshot")
    snapshot_state(rec, st, "snapshot")
    repair(rec, drv)
    return take_locked(rec, drv, st, o)
  end)
end

---The snapshots of an instance the driver really has, oldest first:
---{instance, name, parent (a name), created, comment, state ("running": it
---holds the guest's memory; "stopped": the disk), size (the bytes the driver
---reports as its own: the saved memory), cpus, memory, disk, current (the
---one last taken or restored)}.
---@param name string
---@return table[]
function M.list(name)
  local rec = instances.get(name)
  local drv = drivers.current()
  local tags = driver_tags(drv, rec)
  if not tags then return {} end -- a driver that cannot say (another host)
  local all = records(name)
  local names = {}
  for _, r in ipairs(all) do names[r.tag] = r.name end
  local out = {}
  for _, r in ipairs(all) do
    local d = tags[r.tag]
    if d then
      local spec = r.spec or {}
      out[#out + 1] = { instance = name, name = r.name, parent = r.parent and names[r.parent],
        created = r.created, comment = r.comment, state = d.memory and "running" or "stopped",
        size = d.size, cpus = spec.cpus, memory = spec.memory, disk = spec.disk,
        current = rec.snapshot_head == r.tag or nil }
    end
  end
  return out
end

---Every instance's snapshots (list --snapshots).
---@return table[]
function M.list_all()
  local out = {}
  for _, rec in ipairs(instances.records()) do
    if not rec.deleted then
      for _, s in ipairs(M.list(rec.name)) do out[#out + 1] = s end
    end
  end
  return out
end

-- A driver's message about a snapshot, with the snapshot's name for its tag
-- and without the driver's own "op: " prefix.
local function said(msg, srec)
  msg = tostring(msg):gsub("^snapshot delete: ", ""):gsub("^restore: ", "")
  return (msg:gsub(srec.tag:gsub("%-", "%%-"), srec.name))
end

-- Restores one locked instance to srec. st: its live state.
local function restore_locked(rec, drv, st, srec, o)
  local safety
  if not o.destructive then
    if st == "suspended" then
      errors.raise(string.format("restore: instance \"%s\" is suspended, and its saved state " ..
        "cannot go into a snapshot (try: moonbase start %s first, or restore --destructive)",
        rec.name, rec.name), "state")
    end
    snapshot_state(rec, st, "restore")
    safety = take_locked(rec, drv, st, { comment = o.safety_comment or
      string.format("before restoring %s", srec.name), group = o.group })
  end
  if st == "running" or st == "suspended" or st == "starting" then
    errors.check("restore", drv:shutdown(instances.spec(rec), { force = true, timeout = 0 }))
    lifecycle.settle(rec)
    rec.state = "stopped"
    rec.started_at = nil
    instances.save(rec)
  end
  local spec = srec.spec or {}
  local before = { cpus = rec.cpus, memory = rec.memory, disk = rec.disk, mounts = rec.mounts,
    forwards = rec.forwards }
  rec.cpus, rec.memory, rec.disk = spec.cpus or rec.cpus, spec.memory or rec.memory,
    spec.disk or rec.disk
  rec.mounts, rec.forwards = copy(spec.mounts), copy(spec.forwards)
  local ok, msg, code = drv:snapshot_restore(instances.spec(rec), srec.tag)
  if not ok then
    for k, v in pairs(before) do rec[k] = v end
    errors.raise("restore: " .. said(msg, srec), code)
  end
  rec.snapshot_head = srec.tag
  rec.state = srec.memory and "suspended" or "stopped"
  instances.save(rec)
  if srec.memory then
    -- the guest runs on from the snapshot: its uptime, and so info's
    rec.started_at = spec.started_at
    errors.check("restore", lifecycle.boot(rec, "resume", { timeout = o.timeout,
      quiet = o.quiet, verb = "restore" }))
    rec.state = "running"
    rec.driver = select(2, drivers.current())
    instances.save(rec)
  end
  return safety
end

---Restores a snapshot: unless o.destructive, a snapshot of the current state
---is taken first (returned). A snapshot with memory comes back running,
---one of the disk leaves the instance stopped.
---@param name string
---@param snap string
---@param o? {destructive?: boolean, timeout?: number, quiet?: boolean}
---@return table? safety snapshot record
function M.restore(name, snap, o)
  o = o or {}
  errors.check("restore", M.check_name(snap))
  return with_lock(name, "restore", function(rec)
    local srec = find_record(name, snap, "restore")
    local drv, st = live(rec, "restore")
    local tags = errors.check("restore", driver_tags(drv, rec))
    if not tags[srec.tag] then
      errors.raise(string.format("restore: snapshot \"%s\" of \"%s\" is damaged: the %s " ..
        "driver has no data for it (try: moonbase delete %s.%s)", snap, name,
        select(2, drivers.current()), name, snap), "notfound")
    end
    return restore_locked(rec, drv, st, srec, o)
  end)
end

-- Deletes one snapshot of a locked instance: its children take its parent.
local function delete_locked(rec, drv, srec)
  local ok, msg, code = drv:snapshot_delete(instances.spec(rec), srec.tag)
  if not ok and code ~= "notfound" then errors.raise("delete: " .. said(msg, srec), code) end
  for _, r in ipairs(records(rec.name)) do
    if r.parent == srec.tag then
      r.parent = srec.parent
      store.write(path_of(rec.name, r.name), r)
    end
  end
  errors.check("delete", fs.remove(path_of(rec.name, srec.name)))
  if rec.snapshot_head == srec.tag then
    rec.snapshot_head = srec.parent
    instances.save(rec)
  end
end

---Deletes a snapshot.
---@param name string
---@param snap string
function M.delete(name, snap)
  errors.check("delete", M.check_name(snap))
  return with_lock(name, "delete", function(rec)
    local srec = find_record(name, snap, "delete")
    local drv = live(rec, "delete")
    delete_locked(rec, drv, srec)
  end)
end

---Checks, changing nothing, that "INSTANCE.SNAPSHOT" names a snapshot that
---exists (what `targets` checks for every name before deleting any).
---@return string "act"
function M.check_delete(ref)
  local name, snap = M.parse_ref(ref, "delete")
  local rec = errors.check("delete", instances.find(name))
  find_record(rec.name, snap, "delete")
  return "act"
end

---Renames a snapshot or sets its comment (the settings
---local.INSTANCE.SNAPSHOT.name and .comment).
function M.set(name, snap, prop, value)
  local what = string.format("set local.%s.%s.%s", name, snap, prop)
  if prop == "name" then errors.check(what, M.check_name(value)) end
  return with_lock(name, what, function(rec)
    local srec = find_record(name, snap, what)
    if prop == "comment" then
      srec.comment = value ~= "" and value or nil
      store.write(path_of(name, snap), srec)
      return value
    end
    if value == snap then return value end
    if fs.exists(path_of(name, value)) then
      errors.raise(string.format("%s: instance \"%s\" already has a snapshot \"%s\"", what,
        rec.name, value), "exists")
    end
    srec.name = value
    store.write(path_of(name, value), srec)
    fs.remove(path_of(name, snap))
    return value
  end)
end

---A snapshot's name or comment.
function M.get(name, snap, prop)
  local srec = find_record(name, snap, string.format("get local.%s.%s.%s", name, snap, prop))
  if prop == "name" then return srec.name end
  return srec.comment or ""
end

---------------------------------------------------------------- groups

-- Locks every instance (in name order: two groups never deadlock), runs fn
-- with the records and their drivers and states, unlocks.
local function with_group(names, verb, fn)
  local sorted = {}
  for _, n in ipairs(names) do sorted[#sorted + 1] = n end
  table.sort(sorted)
  for _, n in ipairs(sorted) do
    errors.check(verb, util.valid_name(n))
    instances.get(n)
  end
  drivers.need("snapshots", verb, "snapshots are")
  local locks, members = {}, {}
  local ok, err = pcall(function()
    for _, n in ipairs(sorted) do
      locks[#locks + 1] = instances.lock(n)
      local rec = instances.get(n)
      if rec.deleted then
        errors.raise(string.format("%s: instance \"%s\" is deleted (try: moonbase recover %s)",
          verb, n, n), "state")
      end
      local drv, st = live(rec, verb)
      members[#members + 1] = { rec = rec, drv = drv, st = st }
    end
    return fn(members)
  end)
  for i = #locks, 1, -1 do locks[i]:close() end
  if not ok then error(err, 0) end
  return err
end

-- Takes one snapshot per member, the running ones paused together first and
-- continued whatever happens; on a failure the ones taken are removed.
local function take_group_locked(members, o)
  local paused, taken = {}, {}
  local ok, err = pcall(function()
    for _, m in ipairs(members) do
      snapshot_state(m.rec, m.st, "snapshot")
      repair(m.rec, m.drv)
    end
    for _, m in ipairs(members) do
      if m.st == "running" then
        errors.check("snapshot", m.drv:suspend(instances.spec(m.rec), { pause = true }))
        paused[#paused + 1] = m
      end
    end
    for _, m in ipairs(members) do
      taken[#taken + 1] = { m = m, srec = take_locked(m.rec, m.drv, m.st, o) }
    end
  end)
  for _, m in ipairs(paused) do m.drv:resume(instances.spec(m.rec)) end
  if not ok then
    for _, t in ipairs(taken) do pcall(delete_locked, t.m.rec, t.m.drv, t.srec) end
    error(err, 0)
  end
  return taken
end

---The name the next group snapshot gets by default: snapshotN, free in every
---member and among the group records in dir.
function M.group_default_name(names, dir)
  for n = 1, 100000 do
    local name = "snapshot" .. n
    local free = not fs.exists(dir .. "/" .. name .. ".json")
    for _, inst in ipairs(names) do
      free = free and not fs.exists(path_of(inst, name))
    end
    if free then return name end
  end
  errors.raise("snapshot: no free snapshot name (try: --name NAME)")
end

---Takes a snapshot of several instances together (one name for all): the
---running ones are paused while the set is taken, so it is consistent. The
---group's record goes to dir/<name>.json.
---@param names string[]
---@param dir string   where group records live
---@param o {name?: string, comment?: string, label: string}
---@return table group record
function M.take_group(names, dir, o)
  if #names == 0 then errors.raise("snapshot: " .. o.label .. " has no instances", "state") end
  if o.name then errors.check("snapshot", M.check_name(o.name)) end
  errors.check("snapshot", fs.mkdirs(dir, 448))
  local glock <close> = errors.check("snapshot", fs.lock(dir .. "/lock"))
  local name = o.name or M.group_default_name(names, dir)
  if fs.exists(dir .. "/" .. name .. ".json") then
    errors.raise(string.format("snapshot: %s already has a snapshot \"%s\" (try: another " ..
      "--name)", o.label, name), "exists")
  end
  return with_group(names, "snapshot", function(members)
    for _, m in ipairs(members) do
      if fs.exists(path_of(m.rec.name, name)) then
        errors.raise(string.format("snapshot: instance \"%s\" already has a snapshot \"%s\" " ..
          "(try: another --name)", m.rec.name, name), "exists")
      end
    end
    local taken = take_group_locked(members, { name = name, comment = o.comment, group = name })
    local g = { name = name, created = now_iso(), comment = o.comment, instances = {} }
    for _, t in ipairs(taken) do g.instances[t.m.rec.name] = t.srec.name end
    store.write(dir .. "/" .. name .. ".json", g)
    return g
  end)
end

---Group records in dir, oldest first, each with its instances.
function M.list_groups(dir)
  local out = {}
  for _, f in ipairs(fs.list(dir) or {}) do
    local name = f:match("^(.+)%.json$")
    local g = name and store.read(dir .. "/" .. f)
    if type(g) == "table" and g.name == name and type(g.instances) == "table" then
      out[#out + 1] = g
    end
  end
  table.sort(out, function(a, b) return (a.created or "") < (b.created or "") end)
  return out
end

---Restores a group snapshot: unless o.destructive, the current state of every
---member is first taken as a group snapshot of its own (returned).
---@param dir string
---@param name string
---@param o {destructive?: boolean, label: string, timeout?: number, quiet?: boolean}
---@return table? safety group record
function M.restore_group(dir, name, o)
  errors.check("restore", M.check_name(name))
  local g = store.read(dir .. "/" .. name .. ".json")
  if type(g) ~= "table" or type(g.instances) ~= "table" then
    errors.raise(string.format("restore: %s has no snapshot \"%s\" (try: moonbase list " ..
      "--snapshots)", o.label, name), "notfound")
  end
  local names = {}
  for inst in pairs(g.instances) do names[#names + 1] = inst end
  table.sort(names)
  -- every member and its snapshot checked before anything changes
  for _, inst in ipairs(names) do
    if not instances.find(inst) then
      errors.raise(string.format("restore: instance \"%s\" of %s's snapshot \"%s\" no longer " ..
        "exists", inst, o.label, name), "notfound")
    end
    find_record(inst, g.instances[inst], "restore")
  end
  local safety
  if not o.destructive then
    safety = M.take_group(names, dir, { label = o.label,
      comment = string.format("before restoring %s", name) })
  end
  for _, inst in ipairs(names) do
    M.restore(inst, g.instances[inst], { destructive = true, timeout = o.timeout,
      quiet = o.quiet })
  end
  return safety
end

---------------------------------------------------------------- settings
local props = { name = true, comment = true }
settings.register_pattern("^local%.([a-z][a-z0-9-]*)%.([A-Za-z][A-Za-z0-9-]*)%.([a-z]+)$", {
  doc = { "`local.<instance>.<snapshot>.name` / `.comment`", "a snapshot name, or text",
    "set by moonbase snapshot", "a snapshot's name (setting it renames the snapshot) and " ..
    "comment (see docs/snapshots.md)" },
  help = function(_, _, _, prop)
    return prop == "name" and "the snapshot's name (setting it renames the snapshot)"
      or "the snapshot's comment"
  end,
  accepts = function(_, _, prop) return props[prop] == true end,
  keys = function()
    local keys = {}
    for _, rec in ipairs(instances.records()) do
      for _, r in ipairs(records(rec.name)) do
        keys[#keys + 1] = string.format("local.%s.%s.comment", rec.name, r.name)
        keys[#keys + 1] = string.format("local.%s.%s.name", rec.name, r.name)
      end
    end
    return keys
  end,
  get = function(_, name, snap, prop) return M.get(name, snap, prop) end,
  check = function(_, raw, name, snap, prop)
    local what = string.format("set local.%s.%s.%s", name, snap, prop)
    instances.get(name)
    find_record(name, snap, what)
    if prop == "name" then
      errors.check(what, M.check_name(raw))
      if raw ~= snap and fs.exists(path_of(name, raw)) then
        errors.raise(string.format("%s: instance \"%s\" already has a snapshot \"%s\"", what,
          name, raw), "exists")
      end
    end
  end,
  set = function(_, raw, name, snap, prop) return M.set(name, snap, prop, raw) end,
  unset = function(_, name, snap, prop)
    if prop ~= "comment" then
      errors.usage(string.format("local.%s.%s.name cannot be unset: set it to a value " ..
        "instead", name, snap))
    end
    return M.set(name, snap, "comment", "")
  end,
})

return M
