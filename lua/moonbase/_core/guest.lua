-- Commands and files in a running instance's guest, through its agent
-- (which holds the SSH session; engine/agent): exec, a login shell, output
-- captured, files put and got. The test driver's "guest" runs commands on
-- the host, in the instance directory.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local errors = require("moonbase.errors")
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

---Sends a request to the instance's agent, starting one if it is gone.
function M.call(rec, request)
  local dir = instances.dir(rec.name)
  local _, drvname = drivers.current()
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

---Copies a local file to the guest (SFTP through the agent).
function M.put(rec, local_path, remote_path, o)
  local st = errors.check("transfer", fs.stat(local_path))
  local status, msg, code = M.call(rec, { op = "put", ["local"] = local_path,
    remote = remote_path, mode = st.mode & 511, preserve = o.preserve })
  if not status then errors.raise("transfer: " .. msg, code) end
end

---Copies a guest file to a local path (written to a temporary file, renamed).
function M.get(rec, remote_path, local_path, o)
  local status, msg, code = M.call(rec, { op = "get", ["local"] = local_path,
    remote = remote_path, preserve = o.preserve })
  if not status then errors.raise("transfer: " .. msg, code) end
end

---Runs a command in the instance; returns its exit status.
---The test driver's "guest" runs it on the host, in the instance directory.
function M.exec(name, argv, o)
  o = o or {}
  local rec = instances.get(name)
  local st = lifecycle.state(rec)
  if st ~= "running" then
    errors.raise(string.format("%s: instance \"%s\" is %s (%s)", o.pty and "shell" or "exec",
      name, st, lifecycle.start_hint(name, st)), "state")
  end
  if drivers.uses_agent() then return agent_exec(rec, argv, o) end
  if o.workdir and (fs.stat(o.workdir) or {}).type ~= "directory" then
    errors.raise(string.format("%s: working directory %s does not exist in \"%s\"",
      o.pty and "shell" or "exec", o.workdir, name), "notfound")
  end
  local env = { MOONBASE_INSTANCE = name }
  for _, kv in ipairs(o.env or {}) do
    local k, v = kv:match("^([%w_]+)=(.*)$")
    if not k then errors.usage("exec: --env needs KEY=VALUE, got \"" .. kv .. "\"") end
    env[k] = v
  end
  local pid, msg = process.spawn(argv, { cwd = o.workdir or instances.dir(name), env = env })
  if not pid then
    io.stderr:write("exec: ", msg, "\n")
    return 127
  end
  return process.wait(pid)
end


return M
