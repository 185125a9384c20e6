-- Lifecycle events (`moonbase watch`), read from the state directory, so they
-- are the same whoever made the change: the CLI, a recipe, the daemon, an
-- agent. The records are polled (cheaply: a file is read again only when its
-- size or mtime changed) and each difference becomes an event: launching
-- (with the agent's progress), running, cloud-init-done, stopped, suspended,
-- deleted, recovered, purged, forward-added/-removed, mount-added/-removed,
-- snapshot-taken/-deleted, recipe-provisioned. Through a daemon the same
-- function runs in its worker and its lines are relayed.
-- layer: facade
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")

local M = {}

M.interval = 0.25

local function stamp(path)
  local st = fs.stat(path)
  return st and (tostring(st.size) .. ":" .. tostring(st.mtime)) or nil
end

local cache = {}
local function read_json(path)
  local s = stamp(path)
  if not s then cache[path] = nil return nil end
  local c = cache[path]
  if c and c.stamp == s then return c.value end
  local v = store.read(path)
  cache[path] = { stamp = s, value = v }
  return v
end

local function count(t) return type(t) == "table" and #t or 0 end

---What the events compare: per "scope/name", the record's parts that change.
function M.snapshot()
  local snap = {}
  local base = paths.data .. "/instances"
  for _, scope in ipairs(fs.list(base) or {}) do
    if scope:sub(1, 1) ~= "." then
      for _, name in ipairs(fs.list(base .. "/" .. scope) or {}) do
        local dir = base .. "/" .. scope .. "/" .. name
        if name:sub(1, 1) ~= "." and fs.exists(dir) == "directory" then
          local rec = read_json(dir .. "/instance.json")
          if type(rec) == "table" then
            local agent = read_json(dir .. "/agent.json")
            local recipe = read_json(dir .. "/recipe.json")
            snap[scope .. "/" .. name] = {
              scope = scope, name = name, state = rec.state, deleted = rec.deleted and true,
              forwards = count(rec.forwards), mounts = count(rec.mounts),
              snapshots = #(fs.list(dir .. "/snapshots") or {}),
              agent = type(agent) == "table" and agent.state or nil,
              provisioned = type(recipe) == "table" and recipe.provisioned and true or false,
              project = type(rec.labels) == "table" and rec.labels["moonbase.project"] or nil,
            }
          end
        end
      end
    end
  end
  return snap
end

local agent_progress = { starting = true, ["waiting-ssh"] = true,
  ["waiting-cloud-init"] = true }

---The events between two snapshots, in a stable order.
function M.diff(old, new)
  local out = {}
  local function ev(s, event, extra)
    local e = { event = event, instance = s.name, scope = s.scope }
    for k, v in pairs(extra or {}) do e[k] = v end
    out[#out + 1] = e
  end
  local keys = {}
  for k in pairs(new) do keys[#keys + 1] = k end
  for k in pairs(old) do if not new[k] then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local a, b = old[k], new[k]
    if not a then
      ev(b, "launching", { state = b.state })
      if b.state == "running" then ev(b, "running") end
    elseif not b then
      ev(a, "purged")
    else
      if b.agent ~= a.agent and agent_progress[b.agent or ""] then
        ev(b, "launching", { progress = b.agent })
      end
      if b.agent == "ready" and a.agent ~= "ready" then ev(b, "cloud-init-done") end
      if b.deleted and not a.deleted then
        ev(b, "deleted")
      elseif a.deleted and not b.deleted then
        ev(b, "recovered")
      elseif b.state ~= a.state and b.state then
        ev(b, b.state)
      end
      for _, what in ipairs({ { "forwards", "forward" }, { "mounts", "mount" },
        { "snapshots", "snapshot" } }) do
        local f, word = what[1], what[2]
        if b[f] > a[f] then
          ev(b, word == "snapshot" and "snapshot-taken" or (word .. "-added"), { count = b[f] })
        elseif b[f] < a[f] then
          ev(b, word .. (word == "snapshot" and "-deleted" or "-removed"), { count = b[f] })
        end
      end
      if b.provisioned and not a.provisioned then
        ev(b, "recipe-provisioned", { project = b.project })
      end
    end
  end
  return out
end

local function line(e, format)
  if format == "json" then return json.encode(e) end
  local extra = e.progress or e.project or (e.count and tostring(e.count)) or ""
  return string.format("%s  %-20s %s%s", e.time, e.event, e.instance,
    extra ~= "" and ("  " .. extra) or "")
end

---Prints events as they happen (one JSON object per line with
---format = "json"), until `count` events were printed or `timeout` seconds
---passed (both optional: forever). Returns the number printed.
---@param o {format?: "json"|"table", count?: integer, timeout?: number}
---@return integer
function M.watch(o)
  o = o or {}
  local last = M.snapshot()
  local printed, deadline = 0, o.timeout and (util.now() + o.timeout)
  if o.format ~= "json" and not o.quiet then
    io.stderr:write("Watching instances (Ctrl-C to stop)...\n")
  end
  while true do
    if deadline and util.now() >= deadline then return printed end
    util.sleep(M.interval)
    local now = M.snapshot()
    for _, e in ipairs(M.diff(last, now)) do
      e.time = os.date("!%Y-%m-%dT%H:%M:%SZ")
      io.stdout:write(line(e, o.format), "\n")
      io.stdout:flush()
      printed = printed + 1
      if o.count and printed >= o.count then return printed end
    end
    last = now
  end
end

return M
