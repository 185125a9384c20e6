-- Running a recipe's per-instance processes with dependencies: a child
-- starts once every node it depends on has succeeded, at most N at a time;
-- what depends on a failure is skipped, unrelated work goes on. Each child's
-- stdout and stderr go to its log file, which is relayed line by line,
-- prefixed with the instance's name, so progress is live. This process only
-- polls (waitpid WNOHANG every 50 ms): it does no work of its own.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local store = require("moonbase._core.store")

local M = {}

---Runs each node's argv once all its deps succeeded, at most o.parallel at a
---time; a node whose dependency failed is skipped. Returns the results by
---key, { status = "ok"|"failed"|"skipped", code, started, finished, message,
---and what the node's result file holds }, and the seconds it took.
---@param nodes {key: string, label: string, deps: string[], argv: string[], log: string, result?: string}[]
---@param o {parallel?: integer, quiet?: boolean, out?: file*, width?: integer, env?: table,
---  preset?: table, label_of?: fun(key: string): string, skip_message?: string,
---  on_wait?: function, on_start?: function, on_finish?: function}
function M.run(nodes, o)
  local out = o.out or io.stdout
  local width = o.width or 0
  for _, n in ipairs(nodes) do width = math.max(width, #n.label) end
  local results, running, pending = {}, {}, {}
  local nrunning = 0
  for k, r in pairs(o.preset or {}) do results[k] = r end
  for _, n in ipairs(nodes) do pending[#pending + 1] = n end
  local function say(n, line)
    if not o.quiet then
      out:write(string.format("%-" .. width .. "s | %s\n", n.label, line))
      out:flush()
    end
  end
  -- reads what the child appended since last time (an open handle keeps its
  -- offset), prints the complete lines, keeps a partial one for later
  local function relay(r, final)
    if not r.fh then r.fh = io.open(r.node.log, "rb") end
    if not r.fh then return end
    local chunk = (r.partial or "") .. (r.fh:read("a") or "")
    local upto = final and #chunk or (chunk:match("^.*()\n") or 0)
    r.partial = chunk:sub(upto + 1)
    if upto == 0 then return end
    for line in (chunk:sub(1, upto):gsub("\r", "\n") .. "\n"):gmatch("(.-)\n") do
      if line ~= "" then say(r.node, line) end
    end
    if final then r.fh:close() end
  end
  local t0 = util.now()
  while #pending > 0 or next(running) do
    -- skip what waits for a failure; start what is ready
    local i = 1
    while i <= #pending do
      local n = pending[i]
      local blocked, failed = false, nil
      for _, d in ipairs(n.deps) do
        local r = results[d]
        if not r then blocked = true
        elseif r.status ~= "ok" then failed = d end
      end
      if blocked and not failed and not n.announced then
        n.announced = true
        local waits = {}
        for _, d in ipairs(n.deps) do
          if not results[d] then waits[#waits + 1] = o.label_of and o.label_of(d) or d end
        end
        if o.on_wait then o.on_wait(n, waits) end
      end
      if failed then
        table.remove(pending, i)
        -- say what became of the dependency: it failed, or was skipped itself
        local why = results[failed].status == "skipped" and "was skipped" or "failed"
        results[n.key] = { status = "skipped", message = string.format(o.skip_message or
          "not started: it depends on %s, which %s", o.label_of and o.label_of(failed) or
          failed, why) }
        say(n, "skipped (" .. results[n.key].message .. ")")
      elseif not blocked and nrunning < (o.parallel or 1) then
        table.remove(pending, i)
        fs.remove(n.log)
        local pid, msg = process.spawn(n.argv, { stdout = n.log, stderr = n.log,
          stdin = "/dev/null", env = o.env })
        if not pid then
          results[n.key] = { status = "failed", message = tostring(msg) }
          say(n, "failed: " .. tostring(msg))
        else
          running[n.key] = { node = n, pid = pid, started = util.time() }
          nrunning = nrunning + 1
          if o.on_start then o.on_start(n) end
        end
      else
        i = i + 1
      end
    end
    local finished = false
    for key, r in pairs(running) do
      relay(r)
      local code = process.wait(r.pid, true)
      if code then
        relay(r, true)
        running[key] = nil
        nrunning = nrunning - 1
        finished = true
        local res = { code = code, started = r.started, finished = util.time() }
        local detail = r.node.result and store.read(r.node.result)
        if detail then for k, v in pairs(detail) do if res[k] == nil then res[k] = v end end end
        res.status = code == 0 and "ok" or "failed"
        if code ~= 0 and not res.message then
          local last
          for line in (fs.read(r.node.log) or ""):gmatch("[^\n]+") do last = line end
          res.message = last or ("exited with status " .. code)
        end
        results[key] = res
        if o.on_finish then o.on_finish(r.node, res) end
      end
    end
    if not finished and (next(running) or #pending > 0) then util.sleep(0.05) end
  end
  return results, util.now() - t0
end

return M
