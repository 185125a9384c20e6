-- Talking to an instance's agent (see engine/agent/agent.c): starting it for a boot
-- or to attach to a running QEMU, following its progress through agent.json,
-- and sending it exec/transfer requests.
-- layer: services
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local agent = require("moonbase.engine.agent")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")
local log = require("moonbase.log")

local M = {}

function M.socket(dir) return dir .. "/agent.sock" end
function M.status_file(dir) return dir .. "/agent.json" end

---The agent's last reported status, if its process still lives.
function M.status(dir)
  local st = store.read(M.status_file(dir))
  if st and st.pid and process.alive(st.pid) then return st end
  return nil, st
end

---Waits (bounded) until the instance's agent process has exited: after a
---stop or suspend, so its clean-up (taps) is done before anything starts again.
function M.wait_exit(dir, timeout)
  local st = store.read(M.status_file(dir))
  if not (st and st.pid) then return true end
  local deadline = util.time() + (timeout or 10)
  while process.alive(st.pid) do
    if util.time() > deadline then return false end
    util.sleep(0.02)
  end
  return true
end

-- The steps this agent has been through, in order: the status file carries
-- them, so a caller polling it shows each step even when the agent passed
-- through one between two polls (a container's cloud-init is often done by
-- the time SSH answers).
local passed = {}

---Writes the agent's status (from the agent itself).
function M.report(dir, state, extra)
  if state ~= "ready" and state ~= "failed" then passed[#passed + 1] = state end
  local st = { pid = util.getpid(), state = state, updated = util.time(), steps = passed }
  for k, v in pairs(extra or {}) do st[k] = v end
  store.write(M.status_file(dir), st)
end

local labels = {
  starting = "Starting", ["waiting-ssh"] = "Waiting for SSH",
  ["waiting-cloud-init"] = "Waiting for cloud-init", ready = "Ready",
}

local function tail(path, n)
  local text = fs.read(path) or ""
  local lines = {}
  for l in text:gmatch("[^\n]*") do lines[#lines + 1] = l end
  local out = {}
  for i = math.max(1, #lines - n), #lines do
    if lines[i] ~= "" then out[#out + 1] = lines[i] end
  end
  return table.concat(out, "\n")
end
M.tail = tail

---Starts the agent for an instance and waits until it reports ready.
---@param name string
---@param dir string
---@param o {mode: "boot"|"resume"|"attach", timeout: number, driver: string, quiet?: boolean, verb?: string}
function M.start(name, dir, o)
  local self_exe = errors.check(nil, fs.readlink("/proc/self/exe"))
  M.wait_exit(dir, 10) -- a previous agent may still be cleaning up
  fs.remove(M.status_file(dir))
  local deadline = util.time() + (o.timeout or 300)
  local argv = { self_exe, "agent", name, "--mode", o.mode, "--driver", o.driver,
    "--deadline", string.format("%.3f", deadline) }
  log.say(1, "agent %s: starting it (%s): %s", name, o.mode, log.quote_argv(argv))
  -- with -v, the agent's lines in its agent.log (appended to) are shown here too
  local relayed = (fs.stat(dir .. "/agent.log") or {}).size or 0
  local pid = errors.check(o.verb, process.spawn(argv, { detach = true,
    stdout = dir .. "/agent.log", stderr = dir .. "/agent.log" }))
  local tty = not o.quiet and util.isatty(2)
  local shown, seen = nil, {}
  local function show(state)
    if seen[state] then return end
    shown, seen[state] = state, true
    log.say(1, "agent %s: %s", name, (labels[state] or state):lower())
    if o.quiet then return end
    local label = (labels[state] or state) .. "…"
    if tty then
      io.stderr:write("\r\27[K", label)
    else
      io.stderr:write(label, "\n")
    end
  end
  local warnings
  local ok, err = pcall(function()
    while true do
      relayed = log.relay(dir .. "/agent.log", relayed, "agent " .. name)
      local st = store.read(M.status_file(dir))
      if st and st.pid == pid then
        for _, step in ipairs(type(st.steps) == "table" and st.steps or {}) do
          if type(step) == "string" then show(step) end
        end
        if st.state == "ready" then
          relayed = log.relay(dir .. "/agent.log", relayed, "agent " .. name)
          warnings = st.warnings -- e.g. a mount that did not come back
          return
        end
        if st.state == "failed" then
          errors.raise(string.format("%s: %s", o.verb or "start", st.message or "failed"),
            st.code or "failed")
        end
        show(st.state)
      elseif not process.alive(pid) then
        errors.raise(string.format("%s: the agent of \"%s\" exited before the instance " ..
          "was ready:\n%s", o.verb or "start", name, tail(dir .. "/agent.log", 10)))
      end
      if util.time() > deadline + 15 then
        errors.raise(string.format("%s: instance \"%s\" was not ready within %ds",
          o.verb or "start", name, math.floor(o.timeout or 300)), "timeout")
      end
      util.sleep(0.02)
    end
  end)
  if tty and shown then io.stderr:write("\r\27[K") end
  if not ok then error(err, 0) end
  for _, w in ipairs(warnings or {}) do
    io.stderr:write(o.verb or "start", ": warning: ", w, "\n")
  end
  return pid
end

---Sends a request; when no agent listens and start_agent is given, starts one
---and retries once.
function M.call(dir, request, start_agent)
  local status, msg, code = agent.call(M.socket(dir), request)
  if status == nil and code == "unreachable" and start_agent then
    start_agent()
    status, msg, code = agent.call(M.socket(dir), request)
  end
  return status, msg, code
end

return M
