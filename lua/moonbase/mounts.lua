-- Mounts: host folders shared with instances, native (the driver's own
-- sharing) or classic (sshfs in the guest, served by the agent's confined
-- SFTP server). Adding and removing them here; what they are, how the guest
-- mounts them and how the agent brings them back is moonbase._core.mounts.
-- layer: facade
local core = require("moonbase._core.mounts")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local guest = require("moonbase._core.guest")
local errors = require("moonbase.errors")

local M = {}

M.NINEP_OPTIONS, M.TAG_PREFIX, M.NO_SSHFS = core.NINEP_OPTIONS, core.TAG_PREFIX, core.NO_SSHFS
for _, f in ipairs({ "resolve_source", "guest_home", "default_target", "check_target",
  "split_instance_target", "split_source_target", "check_idmaps", "native_specs", "entry",
  "default_type", "for_launch", "native_mount_command", "fstab_command",
  "native_umount_command", "classic_command", "classic_check_command",
  "classic_umount_command", "agent_request", "parse_ids", "establish", "failure" }) do
  M[f] = core[f]
end
M.IDS_COMMAND = core.IDS_COMMAND

local find, check_options, check_supported = core.find, core.check_options,
  core.check_supported

---------------------------------------------------------------- mount / umount

local function guest_call(rec, request, verb)
  local status, msg, code = guest.call(rec, request)
  if not status then errors.raise(verb .. ": " .. msg, code) end
  return status
end

local function guest_run(rec, command, verb)
  local status = guest.capture(rec, command)
  if status ~= 0 then
    errors.raise(string.format("%s: the guest command failed with status %d", verb, status))
  end
end

-- Starts a classic mount in a running guest through its agent.
local function start_classic(rec, m)
  local _, out = guest.capture(rec, M.IDS_COMMAND)
  local req = M.agent_request(m, M.parse_ids(out))
  guest_call(rec, { op = "mount", ["local"] = req.root, remote = req.target,
    command = req.command, check = req.check, readonly = req.readonly, uid_map = req.uid_map,
    gid_map = req.gid_map }, "mount")
end

---Adds mounts of one host folder (`moonbase mount`). Everything is checked
---before anything changes.
---@param src string  host folder (relative to the current directory or absolute)
---@param targets string[]  "NAME[:DST]" each
---@param o {type?: string, readonly?: boolean, uid_map?: string[], gid_map?: string[], restart?: boolean, quiet?: boolean}
---@return table[] the mounts added, each with .instance
function M.add(src, targets, o)
  o = o or {}
  if #targets == 0 then errors.usage("mount needs a source folder and an instance") end
  local drv = drivers.current()
  local kind = o.type or M.default_type(drv)
  check_options({ type = kind, uid_map = o.uid_map, gid_map = o.gid_map }, "mount")
  local source = M.resolve_source(src, "mount")
  core.check_native_source(kind, source, o.readonly, "mount")
  -- plan: every target checked against its record and the others
  local plan, seen, tags = {}, {}, {}
  for _, arg in ipairs(targets) do
    local name, dst = M.split_instance_target(arg)
    if name == "" then errors.usage(string.format("mount: no instance name in \"%s\"", arg)) end
    local rec = instances.get(name)
    if rec.deleted then
      errors.raise(string.format("mount: instance \"%s\" is deleted (try: moonbase recover %s)",
        name, name), "state")
    end
    check_supported(drv, kind, "mount")
    local target = M.check_target(dst or M.default_target(source, rec.user), "mount")
    if find(rec, target) then
      errors.usage(string.format("mount: \"%s\" already has a mount at %s (try: moonbase " ..
        "umount %s:%s)", name, target, name, target))
    end
    local key = name .. "\0" .. target
    if seen[key] then errors.usage(string.format("mount: %s:%s given twice", name, target)) end
    seen[key] = true
    local st = lifecycle.state(rec)
    if kind == "classic" and st ~= "running" then
      errors.raise(string.format("mount: instance \"%s\" is %s (classic mounts need a running " ..
        "instance; %s)", name, st, lifecycle.start_hint(name, st)), "state")
    end
    if kind == "native" and st == "suspended" then
      errors.raise(string.format("mount: instance \"%s\" is suspended (try: moonbase start %s " ..
        "first)", name, name), "state")
    end
    -- a driver that mounts shares in place plugs one into a running instance;
    -- otherwise (9p) it is on the hypervisor's command line: a restart
    local restart = kind == "native" and st == "running" and drivers.has("ssh") and
      not drivers.has("mounts_in_place")
    if restart and not o.restart then
      errors.raise(string.format("mount: adding a native mount to running instance \"%s\" " ..
        "needs a restart (try: moonbase mount --restart ..., or --type classic)", name),
        "state")
    end
    tags[name] = tags[name] or {}
    local m = M.entry(rec, source, target, { type = kind, readonly = o.readonly,
      uid_map = o.uid_map, gid_map = o.gid_map }, tags[name])
    if m.tag then tags[name][m.tag] = true end
    plan[#plan + 1] = { name = name, mount = m, state = st, restart = restart }
  end
  -- apply
  local added = {}
  for _, p in ipairs(plan) do
    local m = p.mount
    if p.restart then
      if not o.quiet then
        io.stderr:write(string.format("Restarting %s to add the mount…\n", p.name))
      end
      lifecycle.stop(p.name)
    end
    lifecycle.update(p.name, "mount", function(rec)
      if find(rec, m.target) then
        errors.usage(string.format("mount: \"%s\" already has a mount at %s", p.name, m.target))
      end
      if m.type == "native" then
        errors.check("mount", drv:mount_native(instances.spec(rec), m))
      elseif drivers.has("ssh") then
        start_classic(rec, m)
      end
      rec.mounts = rec.mounts or {}
      rec.mounts[#rec.mounts + 1] = m
    end)
    if p.restart then
      lifecycle.start(p.name)
    elseif m.type == "native" and p.state == "stopped" and not o.quiet then
      io.stderr:write(string.format("The mount of %s at %s:%s applies when %s starts.\n",
        m.source, p.name, m.target, p.name))
    end
    m.instance = p.name
    added[#added + 1] = m
  end
  return added
end

---Removes mounts (`moonbase umount NAME[:DST]`): one, or every mount of NAME.
---@return table[] the mounts removed
function M.remove(arg, o)
  o = o or {}
  local name, dst = M.split_instance_target(arg)
  if name == "" then errors.usage(string.format("umount: no instance name in \"%s\"", arg)) end
  local target = dst and M.check_target(dst, "umount")
  local drv = drivers.current()
  instances.get(name)
  return lifecycle.update(name, "umount", function(rec)
    local chosen = {}
    if target then
      local m = find(rec, target)
      if not m then
        errors.usage(string.format("umount: \"%s\" has no mount at %s (try: moonbase info %s)",
          name, target, name))
      end
      chosen[1] = m
    else
      for _, m in ipairs(rec.mounts or {}) do chosen[#chosen + 1] = m end
      if #chosen == 0 then
        errors.usage(string.format("umount: \"%s\" has no mounts", name))
      end
    end
    local st = lifecycle.state(rec)
    if st == "suspended" then
      errors.raise(string.format("umount: instance \"%s\" is suspended (try: moonbase start " ..
        "%s first)", name, name), "state")
    end
    local live = st == "running" and drivers.has("ssh")
    for _, m in ipairs(chosen) do
      if m.type == "native" then
        if drivers.has("mounts_in_place") then
          -- the driver takes it out, running or not
          errors.check("umount", drv:umount_native(instances.spec(rec), m))
        elseif live then
          -- the 9p device itself goes away at the next start
          guest_run(rec, M.native_umount_command(m), "umount")
        else
          errors.check("umount", drv:umount_native(instances.spec(rec), m))
          rec.fstab_stale = drivers.has("ssh") or nil -- the guest's fstab, at next start
        end
      elseif live then
        guest_call(rec, { op = "umount", remote = m.target,
          command = M.classic_umount_command(m) }, "umount")
      end
      local _, i = find(rec, m.target)
      table.remove(rec.mounts, i)
    end
    return chosen
  end)
end

return M
