-- What runs in a recipe's guests: provisioning steps (sh, copy, write),
-- readiness probes, and the refs they use, resolved when the step runs.
-- Steps and probes run as root (through sudo when the guest is reached over
-- SSH as a user who is not root; a driver that runs commands itself runs
-- them as root), always in the guest: through the agent, or the driver's
-- exec (the test driver's sandbox), never on this host.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local errors = require("moonbase.errors")
local units = require("moonbase.units")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local network = require("moonbase._core.network")
local guest = require("moonbase._core.guest")
local transfer = require("moonbase._core.transfer")
local lang = require("moonbase._core.recipe_lang")

local M = {}

local function running_record(model, short, why)
  local inst = model.by_name[short]
  local rec = instances.find(inst.full)
  if not rec then
    errors.raise(string.format("%s: instance \"%s\" does not exist (run: %s)", why,
      inst.full, lang.command_line(model, "up")))
  end
  local st = lifecycle.state(rec)
  if st ~= "running" then
    errors.raise(string.format("%s: instance \"%s\" is %s (run: %s)", why, inst.full,
      st, lang.command_line(model, "up")), "state")
  end
  return rec
end

---The primary IPv4 of a running instance: its first network's address when
---instances join networks, else the driver's first address.
function M.address(rec)
  if instances.features.networks then
    local a = network.address(rec.name)
    if a then return a end
  end
  return lifecycle.ipv4(rec)[1]
end

---The value of ref(short).field.
function M.ref_value(model, short, field, at, arg)
  local why = string.format("%s: ref(\"%s\").%s", at or "?", short, field)
  local rec = running_record(model, short, why)
  if field == "ipv4" then
    local a = M.address(rec)
    if not a then errors.raise(why .. ": instance \"" .. rec.name .. "\" has no address yet") end
    return a
  elseif field == "ssh" then
    local host, port = drivers.current():ssh_address(instances.spec(rec))
    if not host then errors.raise(why .. ": " .. tostring(port)) end
    return host .. ":" .. port
  elseif field == "exec" then
    local status, out = M.capture(model, rec, arg)
    if status ~= 0 then
      errors.raise(string.format("%s: %s (in %s) exited with status %d", at or "?",
        "ref(\"" .. short .. "\").exec \"" .. arg .. "\"", rec.name, status))
    end
    return (out:gsub("\n$", ""))
  end
  errors.raise(why .. ": unknown field")
end

---A string from a string or lazy value, refs resolved now.
function M.resolve(model, v)
  if not lang.is_lazy(v) then return v end
  local out = {}
  for _, p in ipairs(lang.parts(v)) do
    out[#out + 1] = type(p) == "table" and M.ref_value(model, p.ref, p.field, p.where, p.arg) or p
  end
  return table.concat(out)
end

---Resolves lazy values anywhere in v (outputs may return tables of them)
---into plain data: strings, numbers, booleans and tables of them keyed by
---strings and numbers, with no metatables, so nothing of the recipe runs
---when moonbase prints it later (outside the recipe's budget).
function M.resolve_deep(model, v, seen)
  if lang.is_lazy(v) then return M.resolve(model, v) end
  if not lang.is_plain(v) then
    local t = lang.kind(v)
    if t ~= "string" and t ~= "number" and t ~= "boolean" and t ~= "nil" then
      errors.raise("an output must be a string, number, boolean or a table of them, not a " .. t)
    end
    return v
  end
  seen = seen or {}
  if seen[v] then errors.raise("an output table contains itself") end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    if type(k) ~= "string" and type(k) ~= "number" then
      errors.raise("an output table's keys must be strings or numbers, not a " .. lang.kind(k))
    end
    out[k] = M.resolve_deep(model, x, seen)
  end
  seen[v] = nil
  return out
end

---------------------------------------------------------------- in the guest
local function root_argv(rec, argv)
  if not drivers.has("ssh") or rec.user == "root" then return argv end
  local out = { "sudo", "-n" }
  for _, a in ipairs(argv) do out[#out + 1] = a end
  return out
end

local function env_list(model, rec, env)
  local list = { "MOONBASE_INSTANCE=" .. rec.name, "MOONBASE_PROJECT=" .. model.project }
  local keys = {}
  for k in pairs(env or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do list[#list + 1] = k .. "=" .. M.resolve(model, env[k]) end
  return list
end

---Runs a shell script as root in the guest (sh -e: it stops at the first
---failing command); its output goes to ours. Returns the exit status.
function M.sh(model, rec, script, o)
  o = o or {}
  local env = env_list(model, rec, o.env)
  local argv = { "env" }
  for _, kv in ipairs(env) do argv[#argv + 1] = kv end
  argv[#argv + 1] = "sh"
  argv[#argv + 1] = "-ec"
  argv[#argv + 1] = script
  if o.sudo ~= false then argv = root_argv(rec, argv) end
  return guest.exec(rec.name, argv, { workdir = o.workdir })
end

---Runs a script as root and captures its stdout (stdin is /dev/null, stderr
---is ours, or discarded with o.quiet).
---@return integer status, string stdout
function M.capture(model, rec, script, o)
  o = o or {}
  local env = env_list(model, rec, o.env)
  local argv = { "env" }
  for _, kv in ipairs(env) do argv[#argv + 1] = kv end
  argv[#argv + 1] = "sh"
  argv[#argv + 1] = "-c"
  argv[#argv + 1] = script
  if o.sudo ~= false then argv = root_argv(rec, argv) end
  local cmd = guest.command_line(argv, {})
  if o.quiet then cmd = cmd .. " 2>/dev/null" end
  return guest.capture(rec, cmd)
end

local q = guest.quote

local function random_tag()
  return string.format("%d-%d", util.getpid(), math.floor(util.now() * 1000) % 1000000)
end

---Copies a file or directory of the recipe's folder into the guest: a file
---to dst (into dst when it ends with /), a directory's contents into dst.
---The host path a copy step reads, checked again now against the recipe's
---folder (the folder may have changed since the recipe was loaded: a file
---swapped for a symlink that leads out, a FIFO): the real path and whether
---it is a directory.
function M.copy_source(model, step)
  local sandbox = require("moonbase._core.recipe_sandbox")
  local real, st = sandbox.resolve(model.box, step.src, "copy", { file = true, directory = true })
  if not real then errors.raise(st) end
  if st.type == "directory" then errors.check(nil, sandbox.check_tree(model.box, real, step.src)) end
  return real, st.type == "directory"
end

function M.copy(model, rec, step)
  local real, directory = M.copy_source(model, step)
  step = { src = step.src, dst = step.dst, mode = step.mode, real = real, directory = directory }
  local dst = M.resolve(model, step.dst)
  local base = step.real:match("([^/]+)$")
  local target = (not step.directory and dst:sub(-1) == "/") and (dst .. base) or dst
  local chmod = step.mode and (" && chmod " .. step.mode .. " " .. q(target)) or ""
  -- through the default user's SFTP into a scratch directory, then into
  -- place as root
  local tmp = "/tmp/moonbase-copy-" .. random_tag()
  local status = M.capture(model, rec, "mkdir -p " .. q(tmp), { sudo = false })
  if status ~= 0 then errors.raise("copy: cannot create " .. tmp .. " in " .. rec.name) end
  transfer.copy({ step.real }, rec.name .. ":" .. tmp .. "/",
    { recursive = true })
  local script
  if step.directory then
    script = "mkdir -p " .. q(target) .. " && cp -R " .. q(tmp .. "/" .. base) .. "/. " .. q(target)
  else
    script = "mkdir -p \"$(dirname " .. q(target) .. ")\" && cp " .. q(tmp .. "/" .. base) .. " " ..
      q(target)
  end
  status = M.sh(model, rec, script .. chmod .. "; rc=$?; rm -rf " .. q(tmp) .. "; exit $rc")
  if status ~= 0 then errors.raise(string.format("copy: putting %s into place in %s failed " ..
    "(status %d)", target, rec.name, status)) end
end

---Writes content (refs resolved) to a file in the guest, as root.
function M.write(model, rec, step)
  local path = M.resolve(model, step.path)
  local content = M.resolve(model, step.content)
  local tmp = string.format("%s/.write.%s", instances.dir(rec.name), random_tag())
  errors.check("write", fs.write(tmp, content, 384))
  local fd = errors.check("write", fs.open_fd(tmp, "r"))
  local script = "mkdir -p \"$(dirname " .. q(path) .. ")\" && cat > " .. q(path) ..
    (step.mode and (" && chmod " .. step.mode .. " " .. q(path)) or "")
  local argv = root_argv(rec, { "sh", "-ec", script })
  local ok, status, msg = pcall(guest.call, rec, { op = "exec",
    command = guest.command_line(argv, {}), fds = { fd, 1, 2 } })
  fs.close_fd(fd)
  fs.remove(tmp)
  if not ok then error(status, 0) end
  if not status then errors.raise("write: " .. tostring(msg)) end
  if status ~= 0 then errors.raise(string.format("write: %s in %s failed (status %d)", path,
    rec.name, status)) end
end

---One line saying what a step does.
function M.describe(step)
  if step.kind == "sh" then
    local first = (lang.template(step.script):match("^%s*([^\n]*)") or ""):sub(1, 60)
    return "sh: " .. first
  elseif step.kind == "copy" then
    return string.format("copy %s → %s", step.src, lang.template(step.dst))
  end
  return "write " .. lang.template(step.path)
end

---Runs one provisioning step; raises with the step's file:line on failure.
function M.run_step(model, rec, step)
  local ok, err = pcall(function()
    if step.kind == "sh" then
      local status = M.sh(model, rec, M.resolve(model, step.script),
        { env = step.env, sudo = step.sudo, workdir = step.workdir and
          M.resolve(model, step.workdir) })
      if status ~= 0 then errors.raise(string.format("exited with status %d", status)) end
    elseif step.kind == "copy" then
      M.copy(model, rec, step)
    else
      M.write(model, rec, step)
    end
  end)
  if not ok then
    local msg = errors.is(err) and err.message or tostring(err)
    errors.raise(string.format("%s (%s): %s", M.describe(step), step.where, msg),
      errors.is(err) and err.code or "failed")
  end
end

---------------------------------------------------------------- probes
M.default_probe_timeout = 300
M.default_probe_interval = 1

---The shell test a probe runs in the guest.
function M.probe_script(model, probe)
  if probe.kind == "tcp" then
    -- a listening socket on the port, from the kernel's tables (no tools needed)
    return string.format("grep -qE '^ *[0-9]+: [0-9A-F]+:%04X [0-9A-F]+:[0-9A-F]+ 0A' " ..
      "/proc/net/tcp /proc/net/tcp6", probe.port)
  elseif probe.kind == "file" then
    return "test -e " .. q(probe.path)
  end
  return M.resolve(model, probe.command)
end

---Waits until the probe passes (bounded). Returns the seconds it took.
function M.wait_ready(model, rec, probe)
  local timeout = probe.timeout or M.default_probe_timeout
  local interval = probe.interval or M.default_probe_interval
  local t0 = util.now()
  local tries = 0
  while true do
    tries = tries + 1
    local status = M.capture(model, rec, M.probe_script(model, probe), { quiet = true })
    if status == 0 then return util.now() - t0 end
    if util.now() - t0 + interval > timeout then
      errors.raise(string.format("%s (%s) did not pass within %s (%d tries)", probe.text,
        probe.where, timeout < 60 and string.format("%gs", timeout) or
        units.format_duration(timeout), tries), "timeout")
    end
    util.sleep(interval)
  end
end

---------------------------------------------------------------- outputs
---The `c` an output function receives.
function M.context(model)
  local params = {}
  for _, p in ipairs(model.params) do params[p.name] = p.value end
  local c = { project = model.project, params = params }
  c.instances = setmetatable({}, {
    __index = function(_, short)
      if not model.by_name[short] then
        error(string.format("c.instances.%s: no instance \"%s\" in this recipe", tostring(short),
          tostring(short)), 2)
      end
      local rec = instances.find(model.by_name[short].full)
      local st = rec and lifecycle.state(rec) or "absent"
      local info = { name = model.by_name[short].full, state = st }
      if st == "running" then
        info.ipv4 = M.address(rec)
        info.ipv4s = lifecycle.ipv4(rec, st)
        local host, port = drivers.current():ssh_address(instances.spec(rec))
        if host then info.ssh = host .. ":" .. port end
      end
      return info
    end,
    __newindex = function() error("c.instances is read-only", 2) end,
  })
  ---Runs a shell command (as root) in an instance; returns its stdout
  ---without the final newline, and raises when it fails.
  function c.exec(short, script)
    if type(short) ~= "string" or not model.by_name[short] then
      error(string.format("c.exec: no instance \"%s\" in this recipe", tostring(short)), 2)
    end
    if type(script) ~= "string" and not lang.is_lazy(script) then
      error("c.exec: the second argument is a shell command", 2)
    end
    local rec = running_record(model, short, "c.exec")
    local status, out = M.capture(model, rec, M.resolve(model, script))
    if status ~= 0 then
      errors.raise(string.format("c.exec(\"%s\", ...) exited with status %d", short, status))
    end
    return (out:gsub("\n$", ""))
  end
  return c
end

return M
