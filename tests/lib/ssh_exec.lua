-- One command over moonbase.engine.ssh with this process's stdin/stdout/stderr,
-- exiting with its status (255 when the connection fails), as `ssh` does. For
-- the SSH specs and benchmarks:
--   moonbase --lua tests/lib/ssh_exec.lua [options] PORT KEY HOST_KEY_FILE COMMAND
-- options: --user NAME (default: the current user), --env K=V (repeatable),
-- --no-stdin, --repeat N (run N times over one
-- session, report the median wall time in ms on stderr), --fresh (with
-- --repeat: a new connection for every run).
local ssh = require("moonbase.engine.ssh")
local system = require("system")

local env, stdin, rep, fresh, user = {}, true, nil, false, nil
local args = {}
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--env" then
    local k, v = arg[i + 1]:match("^([^=]+)=(.*)$")
    env[k] = v
    i = i + 1
  elseif a == "--no-stdin" then
    stdin = false
  elseif a == "--repeat" then
    rep = tonumber(arg[i + 1])
    i = i + 1
  elseif a == "--fresh" then
    fresh = true
  elseif a == "--user" then
    user = arg[i + 1]
    i = i + 1
  else
    args[#args + 1] = a
  end
  i = i + 1
end
local port, key, host_key_file, command = tonumber(args[1]), args[2], args[3], args[4]
local f = assert(io.open(host_key_file))
local host_key = f:read("l")
f:close()

if not user then
  local p = io.popen("id -un")
  user = p:read("l")
  p:close()
end

local function connect()
  local s, msg = ssh.connect({ host = "127.0.0.1", port = port, user = user,
    key = key, host_key = host_key, timeout = 10 })
  if not s then
    io.stderr:write("ssh_exec: ", msg, "\n")
    os.exit(255)
  end
  return s
end

local opts = { stdin = stdin, env = next(env) and env or nil }
if not rep then
  local s = connect()
  local status, msg = s:exec(command, opts)
  if not status then
    io.stderr:write("ssh_exec: ", msg, "\n")
    os.exit(255)
  end
  s:close()
  os.exit(status)
end

local times = {}
local s = not fresh and connect() or nil
for _ = 1, rep do
  local t0 = system.gettime()
  local c = s or connect()
  local status, msg = c:exec(command, opts)
  if not s then c:close() end
  times[#times + 1] = (system.gettime() - t0) * 1000
  if status ~= 0 then
    io.stderr:write("ssh_exec: ", tostring(msg or status), "\n")
    os.exit(255)
  end
end
table.sort(times)
local median = #times % 2 == 1 and times[(#times + 1) // 2]
  or (times[#times // 2] + times[#times // 2 + 1]) / 2
io.stderr:write(string.format("median_ms=%.2f min_ms=%.2f max_ms=%.2f\n", median, times[1],
  times[#times]))
os.exit(0)
