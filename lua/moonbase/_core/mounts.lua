-- Mounts: host folders shared with instances. Two kinds:
--   native   the driver's own sharing (QEMU: virtio-9p on the command line, so
--            adding one to a running instance needs a restart), mounted in the
--            guest over SSH and written to its fstab;
--   classic  sshfs in the guest in passive mode, served by the instance agent's
--            SFTP server confined to the folder (engine/sftp/sftp_server.c).
-- Mounts live in the instance record (rec.mounts); the agent brings them back
-- after every start (see establish / agent_requests, called from boot.lua).
-- Adding and removing mounts is moonbase.mounts's.
-- layer: services
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local instances = require("moonbase._core.instances")
local drivers = require("moonbase._core.drivers")
local seed = require("moonbase._core.seed")
local errors = require("moonbase.errors")

local M = {}

M.NINEP_OPTIONS = "trans=virtio,version=9p2000.L,msize=524288"
M.TAG_PREFIX = "moonbase"

---------------------------------------------------------------- paths

-- "a//b/./c/" -> "a/b/c"; nil when a component is "..".
local function clean(path)
  local parts = {}
  for c in path:gmatch("[^/]+") do
    if c == ".." then return nil end
    if c ~= "." then parts[#parts + 1] = c end
  end
  return (path:sub(1, 1) == "/" and "/" or "") .. table.concat(parts, "/")
end

---The host folder SRC as an absolute path with symlinks resolved; raises a
---usage error when it does not exist or is not a directory.
---@param src string
---@param verb string  "mount" or "launch", for messages
---@return string
function M.resolve_source(src, verb)
  if src == "" then errors.usage(verb .. ": a mount needs a source folder") end
  local abs = src
  if src:sub(1, 1) ~= "/" then abs = (util.getcwd() or ".") .. "/" .. src end
  local real = fs.realpath(abs)
  if not real then
    errors.usage(string.format("%s: source \"%s\" does not exist", verb, src))
  end
  local st = fs.stat(real)
  if not st or st.type ~= "directory" then
    errors.usage(string.format("%s: source \"%s\" is not a directory", verb, src))
  end
  return real
end

---The guest user's home directory.
function M.guest_home(user)
  user = user or seed.default_user
  return user == "root" and "/root" or ("/home/" .. user)
end

---Where SRC goes by default: the same path, unless it is under the host
---user's home, which maps to the guest user's home (as Multipass does).
---@param source string  absolute, resolved
---@param user? string  the guest user
function M.default_target(source, user)
  local home = os.getenv("HOME")
  home = home and home ~= "" and (fs.realpath(home) or home)
  if home and home ~= "/" then
    if source == home then return M.guest_home(user) end
    if source:sub(1, #home + 1) == home .. "/" then
      return M.guest_home(user) .. source:sub(#home + 1)
    end
  end
  return source
end

---Checks and normalizes a guest path; raises a usage error.
function M.check_target(dst, verb)
  if dst:sub(1, 1) ~= "/" then
    errors.usage(string.format("%s: target \"%s\" must be an absolute path in the guest",
      verb, dst))
  end
  if dst:find("[%c]") then
    errors.usage(string.format("%s: target %q has control characters", verb, dst))
  end
  local c = clean(dst)
  if not c then
    errors.usage(string.format("%s: target \"%s\" must not contain \"..\"", verb, dst))
  end
  if c == "/" then
    errors.usage(string.format("%s: target \"/\" would hide the guest's root (choose a " ..
      "folder)", verb))
  end
  return c
end

---"NAME[:DST]" -> name, dst|nil.
function M.split_instance_target(arg)
  local name, dst = arg:match("^([^:]*):(.*)$")
  if not name then return arg, nil end
  return name, dst
end

---"SRC[:DST]" (launch --mount) -> src, dst|nil: split at the last ":".
function M.split_source_target(arg)
  local src, dst = arg:match("^(.*):([^:]*)$")
  if not src or src == "" then return arg, nil end
  return src, dst
end

---Checks "HOST:GUEST" id maps; returns them as given.
function M.check_idmaps(list, what, verb)
  for _, m in ipairs(list or {}) do
    local h, g = m:match("^(%d+):(%d+)$")
    if not h or tonumber(h) > 4294967295 or tonumber(g) > 4294967295 then
      errors.usage(string.format("%s: --%s needs HOST:GUEST ids, got \"%s\"", verb, what, m))
    end
  end
  if list and #list > 16 then errors.usage(verb .. ": at most 16 --" .. what .. " entries") end
  return list
end

---------------------------------------------------------------- the record

---The native mounts as the driver wants them (spec().mounts).
M.native_specs = instances.native_specs

-- The smallest free 9p tag of rec.
local function new_tag(rec, taken)
  local used = {}
  for _, m in ipairs(rec.mounts or {}) do if m.tag then used[m.tag] = true end end
  for t in pairs(taken or {}) do used[t] = true end
  for i = 0, 4096 do
    local t = M.TAG_PREFIX .. i
    if not used[t] then return t end
  end
  errors.raise("mount: too many native mounts")
end

function M.find(rec, target)
  for i, m in ipairs(rec.mounts or {}) do
    if m.target == target then return m, i end
  end
end

---A new record entry for source -> target (both checked already).
---@param o {type: string, readonly?: boolean, uid_map?: string[], gid_map?: string[]}
function M.entry(rec, source, target, o, taken_tags)
  local m = { source = source, target = target, type = o.type, readonly = o.readonly or false }
  if o.type == "native" then m.tag = new_tag(rec, taken_tags) end
  if o.uid_map and #o.uid_map > 0 then m.uid_map = o.uid_map end
  if o.gid_map and #o.gid_map > 0 then m.gid_map = o.gid_map end
  return m
end

---The kind used when none is asked for: native where the driver has it.
function M.default_type(drv)
  return drv:has("native_mounts") and "native" or "classic"
end

-- Raises the dispatcher's "unsupported" error (with a hint to use --type
-- classic) when the driver has no native mounts (its capability, from its
-- mount_native slot).
function M.check_supported(drv, kind, verb)
  if kind ~= "native" then return end
  local ok, msg, code = drv:supports("native_mounts", "mount_native")
  if not ok then errors.raise(verb .. ": " .. msg .. " (try: --type classic)", code) end
end

---As root, a read-write native share keeps the guest's owners and modes in
---user xattrs (instances.native_mapped): refused, with the way out, where
---the source's filesystem has none.
function M.check_native_source(kind, source, readonly, verb)
  if kind ~= "native" or readonly or not instances.native_mapped() then return end
  local ok, msg = fs.xattr_ok(source)
  if not ok then
    errors.raise(string.format("%s: a native mount as root keeps the guest's owners and modes " ..
      "in user xattrs, which %s does not take (%s; try: --type classic, or --readonly)", verb,
      source, msg), "unsupported")
  end
end

function M.check_options(o, verb)
  if o.type == "native" and ((o.uid_map and #o.uid_map > 0) or (o.gid_map and #o.gid_map > 0))
  then
    errors.usage(verb .. ": --uid-map and --gid-map apply to classic mounts (9p shows host " ..
      "ownership as it is; try: --type classic)")
  end
  M.check_idmaps(o.uid_map, "uid-map", verb)
  M.check_idmaps(o.gid_map, "gid-map", verb)
end

---The mounts of a new instance, from `launch --mount SRC[:DST]` strings or
---recipe tables {source, target?, readonly?, type?}; raises before anything
---exists when one is wrong.
---@param list (string|table)[]|nil
---@param drv table the driver
---@param o? {user?: string}
---@return table[] entries for rec.mounts
function M.for_launch(list, drv, o)
  o = o or {}
  local rec = { mounts = {} }
  local tags = {}
  for _, a in ipairs(list or {}) do
    local src, dst, ro, kind
    if type(a) == "table" then
      src, dst, ro, kind = a.source, a.target, a.readonly, a.type
      if type(src) ~= "string" then errors.usage("launch: a mount needs a source folder") end
    else
      src, dst = M.split_source_target(a)
    end
    kind = kind or M.default_type(drv)
    if kind ~= "native" and kind ~= "classic" then
      errors.usage(string.format("launch: mount type \"%s\" is not native or classic",
        tostring(kind)))
    end
    M.check_supported(drv, kind, "launch")
    local source = M.resolve_source(src, "launch")
    M.check_native_source(kind, source, ro, "launch")
    local target = M.check_target(dst or M.default_target(source, o.user), "launch")
    if M.find(rec, target) then
      errors.usage(string.format("launch: two mounts at %s", target))
    end
    local m = M.entry(rec, source, target, { type = kind, readonly = ro }, tags)
    if m.tag then tags[m.tag] = true end
    rec.mounts[#rec.mounts + 1] = m
  end
  return rec.mounts
end

---------------------------------------------------------------- guest commands

local function shq(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- A path as /proc/mounts and fstab write it.
local function mtab_escape(p)
  return (p:gsub("[ \t\n\\]", function(c) return string.format("\\%03o", c:byte()) end))
end

local function sudo_sh(script, ...)
  local args = { "sudo", "-n", "sh", "-c", shq(script), "moonbase-mount" }
  for _, a in ipairs({ ... }) do args[#args + 1] = shq(a) end
  return table.concat(args, " ")
end

local function ninep_options(m)
  return M.NINEP_OPTIONS .. (m.readonly and ",ro" or "")
end

---The guest command that mounts one native share (idempotent).
function M.native_mount_command(m)
  return sudo_sh('mkdir -p "$1" && { grep -qsF " $2 9p " /proc/mounts || ' ..
    'mount -t 9p -o "$3" "$4" "$1"; }', m.target, mtab_escape(m.target), ninep_options(m), m.tag)
end

---The guest command that makes /etc/fstab list exactly these native shares
---(moonbase's lines are the ones whose tag starts with "moonbase").
function M.fstab_command(natives)
  local lines = {}
  for _, m in ipairs(natives) do
    lines[#lines + 1] = string.format("%s %s 9p %s,nofail 0 0", m.tag, mtab_escape(m.target),
      ninep_options(m))
  end
  return sudo_sh('{ grep -v "^' .. M.TAG_PREFIX .. '[0-9][0-9]* " /etc/fstab 2>/dev/null; ' ..
    'for l in "$@"; do printf "%s\\n" "$l"; done; } > /etc/fstab.moonbase && ' ..
    'cat /etc/fstab.moonbase > /etc/fstab; rm -f /etc/fstab.moonbase', table.unpack(lines))
end

---The guest command that unmounts a native share and drops its fstab line.
function M.native_umount_command(m)
  return sudo_sh('if grep -qsF " $2 9p " /proc/mounts; then umount "$1" 2>/dev/null || ' ..
    'umount -l "$1"; fi; { grep -v "^$3 " /etc/fstab 2>/dev/null; } > /etc/fstab.moonbase; ' ..
    'cat /etc/fstab.moonbase > /etc/fstab; rm -f /etc/fstab.moonbase', m.target,
    mtab_escape(m.target), m.tag)
end

M.NO_SSHFS = "sshfs is not installed in the guest (install it there, e.g. sudo apt install " ..
  "sshfs; moonbase does not install packages)"

---The guest command of a classic mount: sshfs in passive mode (SFTP on its
---stdin/stdout) as root, so every guest user may use the folder; ownership
---as the server reports it (after the id maps), permissions checked by the
---guest kernel.
function M.classic_command(m)
  local opts = "slave,allow_other,default_permissions" .. (m.readonly and ",ro" or "")
  return sudo_sh('command -v sshfs >/dev/null 2>&1 || { echo "' .. M.NO_SSHFS .. '" >&2; ' ..
    'exit 127; }; [ -e /dev/fuse ] || modprobe fuse 2>/dev/null; mkdir -p "$1" || exit 1; ' ..
    'if grep -qsF " $2 fuse.sshfs " /proc/mounts; then umount -l "$1"; fi; ' ..
    'exec sshfs -o "$3" : "$1"', m.target, mtab_escape(m.target), opts)
end

---A guest command that succeeds once the classic mount is up.
function M.classic_check_command(m)
  return "grep -qsF " .. shq(" " .. mtab_escape(m.target) .. " fuse.sshfs ") .. " /proc/mounts"
end

function M.classic_umount_command(m)
  return sudo_sh('if grep -qsF " $2 fuse.sshfs " /proc/mounts; then umount "$1" 2>/dev/null ' ..
    '|| umount -l "$1"; fi', m.target, mtab_escape(m.target))
end

---The host's uid and gid (the agent's).
local function host_ids()
  local _, out = process.run({ "id", "-g" })
  return util.geteuid(), math.tointeger(tonumber((out or ""):match("%d+"))) or 0
end

---What the agent needs to serve a classic mount. guest = {uid, gid} of the
---guest user, for the default maps (host user -> guest user).
function M.agent_request(m, guest)
  local uid_map, gid_map = m.uid_map, m.gid_map
  if not uid_map or not gid_map then
    local hu, hg = host_ids()
    uid_map = uid_map or (guest and guest.uid and { hu .. ":" .. guest.uid }) or {}
    gid_map = gid_map or (guest and guest.gid and { hg .. ":" .. guest.gid }) or {}
  end
  return {
    root = m.source, target = m.target, command = M.classic_command(m),
    check = M.classic_check_command(m), readonly = m.readonly or false,
    uid_map = table.concat(uid_map, ","), gid_map = table.concat(gid_map, ","),
  }
end

---Parses the output of `id -u; id -g`.
function M.parse_ids(out)
  local u, g = (out or ""):match("^%s*(%d+)%s+(%d+)")
  if not u then return nil end
  return { uid = math.tointeger(tonumber(u)), gid = math.tointeger(tonumber(g)) }
end
M.IDS_COMMAND = "id -u; id -g"

---------------------------------------------------------------- at boot (agent)

---In the agent, after cloud-init: mounts the native shares over session and
---rewrites the guest's fstab; returns the classic mounts for agent.serve and
---warnings (strings) for what failed.
function M.establish(session, rec)
  local warnings, natives, classic = {}, {}, {}
  local in_place = drivers.has("mounts_in_place") -- the driver put them at their targets
  for _, m in ipairs(rec.mounts or {}) do
    if m.type ~= "native" then
      classic[#classic + 1] = m
    elseif not in_place then
      natives[#natives + 1] = m
    end
  end
  local mounted = {}
  for _, m in ipairs(natives) do
    local code, _, err = session:run(M.native_mount_command(m))
    if code == 0 then
      mounted[#mounted + 1] = m
    else
      warnings[#warnings + 1] = string.format("mount %s => %s failed: %s", m.source, m.target,
        (tostring(err):gsub("%s+$", "")))
    end
  end
  if #natives > 0 or rec.fstab_stale then
    -- also drops the lines of native mounts removed while the instance was stopped
    session:run(M.fstab_command(mounted))
  end
  local requests = {}
  if #classic > 0 then
    local _, out = session:run(M.IDS_COMMAND)
    local guest = M.parse_ids(out)
    for _, m in ipairs(classic) do requests[#requests + 1] = M.agent_request(m, guest) end
  end
  return requests, warnings
end

---A warning for a classic mount the agent could not start.
function M.failure(req, message)
  return string.format("mount %s => %s failed: %s", req.root, req.target, message)
end

return M
