-- Commands and files in a running instance's guest, through its agent
-- (which holds the SSH session; engine/agent): exec, a login shell, output
-- captured, files put and got; or, for a driver that runs commands in its
-- guest itself (its exec slot: the test driver's sandbox), through it.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local errors = require("moonbase.errors")
local log = require("moonbase.log")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local agentctl = require("moonbase._core.agentctl")

local M = {}

local function quote(s)
  if s:match("^[%w@%%+=:,./_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.quote = quote

---The command line for argv with a working directory and environment.
function M.command_line(argv, o)
  local parts = {}
  for _, a in ipairs(argv) do parts[#parts + 1] = quote(a) end
  local cmd = table.concat(parts, " ")
  if o.env and #o.env > 0 then
    local env = { "env" }
    for _, kv in ipairs(o.env) do
      if not kv:match("^[%a_][%w_]*=") then
        errors.usage("exec: --env needs KEY=VALUE, got \"" .. kv .. "\"")
      end
      env[#env + 1] = quote(kv)
    end
    cmd = table.concat(env, " ") .. " " .. cmd
  end
  if o.workdir then cmd = "cd " .. quote(o.workdir) .. " && " .. cmd end
  return cmd
end

-- The command in a guest whose driver runs commands itself (no SSH, no
-- agent): argv (nil: a login shell) wired to fds; its status, or nil,
-- message, code (the dispatcher's "unsupported" for a driver that can do
-- neither).
local function native(rec, argv, o, fds)
  local drv = drivers.for_record(rec)
  return drv:exec(instances.spec(rec), { argv = argv, env = o.env, workdir = o.workdir,
    tty = o.pty or nil, fds = fds })
end

---Sends a request to the instance's agent, starting one if it is gone. A
---driver that runs commands itself does "exec" requests; what only the
---agent can do (forwards, classic mounts) is refused by the dispatcher.
function M.call(rec, request)
  local drv, drvname = drivers.current()
  if not drivers.has("ssh") then
    if request.op ~= "exec" then
      local ok, msg, code = drv:supports("ssh", request.op)
      if not ok then return nil, msg, code end
    end
    return native(rec, { "sh", "-c", request.command }, {}, request.fds)
  end
  local dir = instances.dir(rec.name)
  log.say(2, "agent %s: %s%s", rec.name, request.op, request.command and (" " ..
    request.command) or request.remote and (" " .. request.remote) or "")
  return agentctl.call(dir, request, function()
    local _, owner = lifecycle.state(rec)
    if owner then drvname = owner end -- running under the scope's other driver
    agentctl.start(rec.name, dir, { mode = "attach", timeout = 60, driver = drvname,
      quiet = true, verb = "exec" })
  end)
end

---Runs argv (or, without one, a login shell) in a running instance; returns
---the remote status, or 255 when SSH could not be established.
local function agent_exec(rec, argv, o)
  local request = { op = "exec", pty = o.pty, interactive = o.interactive,
    term = os.getenv("TERM") }
  if argv and #argv > 0 then request.command = M.command_line(argv, o) end
  local ok, status, msg = pcall(M.call, rec, request)
  if not ok then
    io.stderr:write(errors.is(status) and status.message or tostring(status), "\n")
    return 255
  end
  if not status then
    io.stderr:write(string.format("exec: cannot reach \"%s\": %s\n", rec.name, msg))
    return 255
  end
  return status
end

---Runs a shell command line in the guest and captures its stdout.
---@return integer status, string stdout
function M.capture(rec, command)
  local tmp = string.format("%s/.capture.%d", instances.dir(rec.name), util.getpid())
  local fd = errors.check("transfer", fs.open_fd(tmp, "w"))
  local null = errors.check("transfer", fs.open_fd("/dev/null", "r"))
  local ok, status, msg = pcall(M.call, rec, { op = "exec", command = command,
    fds = { null, fd, 2 } })
  fs.close_fd(fd)
  fs.close_fd(null)
  local out = fs.read(tmp) or ""
  fs.remove(tmp)
  if not ok then error(status, 0) end
  if not status then errors.raise("transfer: " .. msg) end
  return status, out
end

---Copies a local file to the guest: SFTP through the agent, or, where the
---driver runs commands, the file on the stdin of `cat` in the guest.
function M.put(rec, local_path, remote_path, o)
  local st = errors.check("transfer", fs.stat(local_path))
  if not drivers.has("ssh") then
    local fd = errors.check("transfer", fs.open_fd(local_path, "r"))
    local status, msg, code = native(rec, { "sh", "-c",
      'exec 2>/dev/null; cat > "$1" && chmod "$2" "$1"', "put", remote_path,
      string.format("%o", st.mode & 511) }, {}, { fd, 1, 2 })
    fs.close_fd(fd)
    if not status then errors.raise("transfer: " .. msg, code) end
    if status ~= 0 then
      errors.raise(string.format("transfer: cannot write %s:%s (is its directory there?)",
        rec.name, remote_path))
    end
    return
  end
  local status, msg, code = M.call(rec, { op = "put", ["local"] = local_path,
    remote = remote_path, mode = st.mode & 511, preserve = o.preserve })
  if not status then errors.raise("transfer: " .. msg, code) end
end

---Copies a guest file to a local path (written to a temporary file, renamed).
function M.get(rec, remote_path, local_path, o)
  if not drivers.has("ssh") then
    local tmp = string.format("%s.moonbase-%d.tmp", local_path, util.getpid())
    local fd = errors.check("transfer", fs.open_fd(tmp, "w"))
    -- the guest's answer as an exit status (3: missing, 4: a directory), the
    -- guest's words never mixed into ours
    local status, msg, code = native(rec, { "sh", "-c", 'exec 2>/dev/null; ' ..
      '[ -e "$1" ] || exit 3; [ ! -d "$1" ] || exit 4; exec cat -- "$1"', "get", remote_path },
      {}, { 0, fd, 2 })
    fs.close_fd(fd)
    if status == 0 then
      status, msg = fs.rename(tmp, local_path)
      if status then return end
      code = "failed"
    end
    fs.remove(tmp)
    if not status then errors.raise("transfer: " .. msg, code) end
    local where = rec.name .. ":" .. remote_path
    if status == 3 then errors.raise("transfer: " .. where .. " does not exist", "notfound") end
    if status == 4 then
      errors.raise("transfer: " .. where .. " is a directory (try: -r)", "usage")
    end
    errors.raise(string.format("transfer: cannot read %s", where))
  end
  local status, msg, code = M.call(rec, { op = "get", ["local"] = local_path,
    remote = remote_path, preserve = o.preserve })
  if not status then errors.raise("transfer: " .. msg, code) end
end

---Runs a command (argv; a login shell without one) in a running instance;
---returns its exit status. Through the agent (SSH), or by the driver itself.
function M.exec(name, argv, o)
  o = o or {}
  local verb = o.pty and "shell" or "exec"
  local rec = lifecycle.running_record(name, verb)
  if drivers.has("ssh") then return agent_exec(rec, argv, o) end
  for _, kv in ipairs(o.env or {}) do
    if not kv:match("^[%a_][%w_]*=") then
      errors.usage("exec: --env needs KEY=VALUE, got \"" .. kv .. "\"")
    end
  end
  local status, msg, code = native(rec, argv and #argv > 0 and argv or nil, o, nil)
  if not status then errors.raise(verb .. ": " .. msg, code) end
  return status
end

return M
