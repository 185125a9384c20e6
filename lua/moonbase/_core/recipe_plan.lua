-- Recipes: Lua files that describe a mini-cloud. This module loads a recipe
-- (in a sandbox, every mistake found before anything is launched), compares
-- it with the instances it made before (plan: create / change / replace /
-- keep / delete), and evaluates its outputs. Applying a plan (up, down,
-- provision) is moonbase._core.recipe_run; the language is
-- moonbase._core.recipe_lang; steps, probes and refs are
-- moonbase._core.recipe_steps. Editors complete recipes from recipe.d.lua.
--
-- Recipe instances are ordinary instances named "<project>-<name>" and
-- labelled moonbase.project / moonbase.recipe / moonbase.instance. What the
-- recipe applied to each (image, cloud-init, provisioning, ...) is kept in
-- recipe.json in the instance's directory, so `up` knows what changed and
-- whether provisioning ran. moonbase.recipe is the public face.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local errors = require("moonbase.errors")
local units = require("moonbase.units")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local instances = require("moonbase._core.instances")
local drivers = require("moonbase._core.drivers")
local lifecycle = require("moonbase._core.lifecycle")
local network = require("moonbase._core.network")
local lang = require("moonbase._core.recipe_lang")
local check = require("moonbase._core.recipe_check")
local sandbox = require("moonbase._core.recipe_sandbox")
local steps = require("moonbase._core.recipe_steps")

local M = {}

M.LABEL_PROJECT = "moonbase.project"
M.LABEL_RECIPE = "moonbase.recipe"
M.LABEL_INSTANCE = "moonbase.instance"
M.STATE_FILE = "recipe.json"

---@class moonbase.RecipeModel
---@field path string          the recipe's real path
---@field shown string         the path as the user gave it (in messages)
---@field dir string
---@field project string
---@field params table[]
---@field instances table[]    declarations, in file order
---@field by_name table<string, table>
---@field networks table[]
---@field outputs table[]

---What this build can do with recipe keys that depend on other work.
---@return table<string, boolean>
function M.capabilities()
  local f = instances.features or {}
  return { networks = f.networks == true, mounts = f.mounts == true,
    forwards = f.forwards == true }
end

local function stem_project(real)
  local file = real:match("([^/]+)$")
  local stem = file:gsub("%.lua$", "")
  if stem == "moonbase" or stem == "recipe" then
    stem = real:match("([^/]+)/[^/]+$") or stem
  end
  stem = stem:lower():gsub("[^a-z0-9]+", "-"):gsub("^[^a-z]+", ""):gsub("%-+$", "")
  if stem == "" then stem = "recipe" end
  return (stem:sub(1, 40):gsub("%-+$", ""))
end

---Finds the recipe file a command names: a file, a directory holding
---moonbase.lua, or (no argument) ./moonbase.lua.
---@return string real, string shown
function M.find(arg)
  local shown = arg or "moonbase.lua"
  if fs.exists(shown) == "directory" or (fs.exists(shown) == "link" and
      (fs.stat(shown) or {}).type == "directory") then
    shown = shown:gsub("/+$", "") .. "/moonbase.lua"
  end
  local real = fs.realpath(shown)
  if not real then
    errors.usage(string.format("recipe %s does not exist%s", shown, arg and "" or
      " (give the recipe file: moonbase up FILE.lua)"))
  end
  if (fs.stat(real) or {}).type ~= "file" then
    errors.usage(string.format("recipe %s is not a file", shown))
  end
  shown = shown:gsub("^%./", "")
  return real, shown
end

---Parses repeated --param k=v into a table.
---@param list string[]
---@return table<string, string>
function M.parse_params(list)
  local out = {}
  for _, kv in ipairs(list or {}) do
    local k, v = kv:match("^([%a_][%w_%-]*)=(.*)$")
    if not k then errors.usage("--param needs NAME=VALUE, got \"" .. kv .. "\"") end
    out[k] = v
  end
  return out
end

-- An instance the recipe made and a user renamed since (moonbase rename) is
-- still the recipe's: its declared instance goes by the new name.
local function follow_renames(model)
  local by_key = {}
  for _, rec in ipairs(instances.records()) do
    local l = rec.labels
    local key = l and l[M.LABEL_PROJECT] == model.project and l[M.LABEL_RECIPE] == model.path
      and l[M.LABEL_INSTANCE]
    if key then
      by_key[key] = by_key[key] or {}
      table.insert(by_key[key], rec.name)
    end
  end
  for short, inst in pairs(model.by_name or {}) do
    local names = by_key[short]
    if names and #names == 1 and names[1] ~= inst.full and not instances.find(inst.full) then
      inst.full = names[1]
    end
  end
end

local load_once

---Loads and checks a recipe. Every mistake raises one usage error (exit 1)
---listing each with its file:line; nothing is launched or changed.
---Parameters: those given, else those the project's last `up` used
---(remembered per project), else the defaults; each model.params entry says
---which in `source` ("given", "last up", "default").
---@param arg? string  what the user named (file, directory, or nil for ./moonbase.lua)
---@param o? {params?: table<string, string>, budget?: number, remembered?: boolean}
---@return moonbase.RecipeModel
function M.load(arg, o)
  o = o or {}
  local given = o.params or {}
  local model = load_once(arg, o, given)
  local saved = o.remembered ~= false and M.remembered_params(model) or nil
  local merged, from_saved = {}, {}
  for _, p in ipairs(model.params) do
    if given[p.name] ~= nil then
      merged[p.name] = given[p.name]
    elseif saved and saved[p.name] ~= nil then
      merged[p.name], from_saved[p.name] = saved[p.name], true
    end
  end
  if next(from_saved) then
    local again = load_once(arg, o, merged)
    -- the project is named before any param() can matter; if a param renamed
    -- it, the remembered values belong to another project: keep the given ones
    if again.project == model.project then model = again else from_saved = {} end
  end
  for _, p in ipairs(model.params) do
    p.source = from_saved[p.name] and "last up" or (p.raw ~= nil and "given" or "default")
  end
  return model
end

---Where a project keeps the parameters of its last `up`.
local function params_file(project)
  return M.run_dir(project) .. "/params.json"
end

---The parameters the project's last `up` of this recipe used (name -> text),
---or nil.
---@return table<string, string>?
function M.remembered_params(model)
  local t = store.read(params_file(model.project))
  if type(t) == "table" and t.recipe == model.path and type(t.params) == "table" then
    return t.params
  end
  return nil
end

---Remembers the parameters this run of `up` uses (given or remembered), for
---the project's next commands.
function M.remember_params(model)
  local params = {}
  for _, p in ipairs(model.params) do
    if p.raw ~= nil then params[p.name] = p.raw end
  end
  local old = store.read(params_file(model.project))
  local same = type(old) == "table" and old.recipe == model.path and
    type(old.params) == "table"
  if same then
    for k, v in pairs(params) do same = same and old.params[k] == v end
    for k in pairs(old.params) do same = same and params[k] ~= nil end
  end
  if same then return end -- an unchanged recipe's up writes nothing
  if not next(params) and not old then return end
  fs.mkdirs(M.run_dir(model.project))
  store.write(params_file(model.project), { recipe = model.path, params = params })
end

load_once = function(arg, o, params)
  local real, shown = M.find(arg)
  local dir = real:match("^(.*)/[^/]*$")
  local shown_dir = shown:match("^(.*)/[^/]*$") or "."
  -- tests shrink the budgets: seconds of loading, MiB of Lua memory
  local budget = o.budget or tonumber(os.getenv("MOONBASE_RECIPE_BUDGET") or "")
  local memory = tonumber(os.getenv("MOONBASE_RECIPE_MEMORY") or "")
  if memory then sandbox.memory_limit = memory * 1024 end
  local model, msg = lang.load({ path = real, shown = shown, dir = dir, shown_dir = shown_dir,
    params = params, capabilities = M.capabilities(), budget = budget,
    project_default = stem_project(real) })
  if not model then errors.usage(msg) end
  if #model.errors > 0 then
    table.sort(model.errors, function(a, b)
      local fa, la = a.where:match("^(.-):?(%d*)$")
      local fb, lb = b.where:match("^(.-):?(%d*)$")
      if fa ~= fb then return fa < fb end
      return (tonumber(la) or 0) < (tonumber(lb) or 0)
    end)
    local lines, seen = {}, {}
    for _, e in ipairs(model.errors) do
      local line = e.where .. ": " .. e.message
      if not seen[line] then seen[line] = true; lines[#lines + 1] = line end
    end
    errors.usage(table.concat(lines, "\n"))
  end
  follow_renames(model)
  return model
end

---------------------------------------------------------------- state
---Where a project's run files live: the lock, per-instance logs and results.
function M.run_dir(project)
  return paths.data .. "/recipes/" .. project
end

-- what recipe.json must hold (checked when read)
M.APPLIED = { recipe = "string?", provisioned = "boolean?", provisioned_at = "number?",
  provisioned_with = "string?", created_at = "number?",
  desired = { optional = true, map = "string" } }

---What the recipe recorded for an instance (recipe.json), or nil; raises
---when the file is damaged (what is wrong, and that removing it makes `up`
---set the instance up again).
function M.applied(full)
  local path = instances.dir(full) .. "/" .. M.STATE_FILE
  local t, msg, code = store.read_checked(path, M.APPLIED, nil, "the recipe record of " .. full)
  if t == nil and code == "damaged" then
    errors.raise(msg:gsub("%(fix or remove it%)$", "(fix or remove it: then up sets the " ..
      "instance up again)"), "damaged")
  end
  return t
end

function M.save_applied(full, t)
  store.write(instances.dir(full) .. "/" .. M.STATE_FILE, t)
end

---The labels a recipe instance gets.
function M.labels(model, inst)
  local l = {}
  for k, v in pairs(inst.labels or {}) do l[k] = v end
  l[M.LABEL_PROJECT] = model.project
  l[M.LABEL_RECIPE] = model.path
  l[M.LABEL_INSTANCE] = inst.name
  return l
end

local function canon(v)
  if lang.is_lazy(v) then return lang.template(v) end
  if type(v) ~= "table" then return v end
  local keys = {}
  for k in pairs(v) do
    if k ~= "where" and k ~= "real" and k ~= "directory" then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do
    local x = canon(v[k])
    if type(x) == "string" then x = string.format("%q", x) end
    parts[#parts + 1] = tostring(k) .. "=" .. tostring(x)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

---What recipe.json keeps of a declaration, to compare with the next run.
function M.desired(inst)
  local mounts = {}
  for _, m in ipairs(inst.mounts) do
    mounts[#mounts + 1] = { source = m.real, target = m.dst, readonly = m.readonly, type = m.type }
  end
  return {
    image = inst.image or "default",
    cloud_init = inst.cloud_init and lang.template(inst.cloud_init) or "",
    networks = canon(inst.networks), mounts = canon(mounts), forwards = canon(inst.forwards),
    provision = canon(inst.provision), bridged = inst.bridged and "true" or nil,
    host = inst.host,
  }
end

---The forwards a declaration asks for, as instance records keep them.
---@return moonbase.Forward[]
function M.declared_forwards(inst)
  local out = {}
  for _, f in ipairs(inst.forwards) do
    out[#out + 1] = { address = "127.0.0.1", host_port = f.host, guest_port = f.guest,
      proto = f.proto or "tcp" }
  end
  table.sort(out, function(a, b)
    if a.host_port ~= b.host_port then return a.host_port < b.host_port end
    return a.proto < b.proto
  end)
  return out
end

---The mounts a declaration asks for, as instance records keep them (type:
---the declared one, else the driver's default).
function M.declared_mounts(inst)
  local default = drivers.current():has("native_mounts") and "native" or "classic"
  local out = {}
  for _, m in ipairs(inst.mounts) do
    out[#out + 1] = { source = m.real, target = m.dst, readonly = m.readonly == true,
      type = m.type or default }
  end
  return out
end

local function forward_text(f)
  return string.format("%s:%d → %d/%s", f.address or "127.0.0.1", f.host_port, f.guest_port,
    f.proto or "tcp")
end

local function mount_text(m)
  return string.format("%s → %s%s", m.source, m.target, m.readonly and " (read-only)" or "")
end

-- what to add and remove to go from have to want; same(a, b) says a is b
local function diff(have, want, same)
  local add, remove = {}, {}
  for _, w in ipairs(want) do
    local found = false
    for _, h in ipairs(have) do if same(h, w) then found = true end end
    if not found then add[#add + 1] = w end
  end
  for _, h in ipairs(have) do
    local found = false
    for _, w in ipairs(want) do if same(h, w) then found = true end end
    if not found then remove[#remove + 1] = h end
  end
  return add, remove
end

local function same_forward(a, b)
  return (a.address or "127.0.0.1") == (b.address or "127.0.0.1") and
    a.host_port == b.host_port and a.guest_port == b.guest_port and
    (a.proto or "tcp") == (b.proto or "tcp")
end

local function same_mount(a, b)
  return a.source == b.source and a.target == b.target and
    (a.readonly == true) == (b.readonly == true) and (a.type or "native") == (b.type or "native")
end

-- a change of forwards or mounts: applied to the instance as it runs
-- (forward/mount/umount), not by replacing it; a native mount added to a
-- running instance needs a restart, which `moonbase mount --restart` does
local function live_change(key, have, want, same, text)
  local add, remove = diff(have, want, same)
  if #add == 0 and #remove == 0 then return nil end
  local parts, restart = {}, false
  for _, x in ipairs(add) do
    parts[#parts + 1] = "add " .. text(x)
    if key == "mounts" and x.type == "native" then restart = true end
  end
  for _, x in ipairs(remove) do parts[#parts + 1] = "remove " .. text(x) end
  return { key = key, add = add, remove = remove, restart = restart or nil,
    text = key .. ": " .. table.concat(parts, ", ") ..
      (restart and " (a native mount: restarts it)" or " (live)") }
end

---------------------------------------------------------------- plan

local function show(key, v)
  if key == "memory" or key == "disk" then return units.format_size(v) end
  return tostring(v)
end

---The records of a project's instances (deleted ones included), by name.
function M.project_records(project)
  local out = {}
  for _, rec in ipairs(instances.records()) do
    if rec.labels and rec.labels[M.LABEL_PROJECT] == project then out[rec.name] = rec end
  end
  return out
end

---The plan for one declared instance.
---@return table item {name, instance, action, changes, notes, state, stop, start, ...}
function M.plan_instance(model, inst, rec)
  local item = { name = inst.name, instance = inst.full, changes = {}, notes = {}, decl = inst,
    deps = inst.deps }
  if rec == nil then rec = instances.find(inst.full) end
  if not rec then
    item.action = "create"
    return item
  end
  item.rec = rec
  local labels = rec.labels or {}
  if labels[M.LABEL_PROJECT] ~= model.project then
    item.action = "conflict"
    item.notes[1] = string.format("instance \"%s\" exists but was not made by this recipe " ..
      "(delete it, or set another project name: project \"name\")", inst.full)
    return item
  end
  if labels[M.LABEL_RECIPE] ~= model.path then
    item.action = "conflict"
    item.notes[1] = string.format("instance \"%s\" belongs to the recipe %s (same project " ..
      "name \"%s\": set another one with project \"name\")", inst.full,
      tostring(labels[M.LABEL_RECIPE]), model.project)
    return item
  end
  local st = lifecycle.state(rec)
  item.state = st
  local applied = M.applied(inst.full) or {}
  local want = M.desired(inst)
  local replace = {}
  local have = applied.desired or {}
  -- forwards and mounts change on the instance as it is; the rest needs a new one
  if have.forwards ~= nil and have.forwards ~= want.forwards then
    local ch = live_change("forwards", applied.forward_list or rec.forwards or {},
      M.declared_forwards(inst), same_forward, forward_text)
    if ch then item.changes[#item.changes + 1] = ch end
  end
  if have.mounts ~= nil and have.mounts ~= want.mounts then
    local ch = live_change("mounts", applied.mount_list or rec.mounts or {},
      M.declared_mounts(inst), same_mount, mount_text)
    if ch then item.changes[#item.changes + 1] = ch end
  end
  for _, k in ipairs({ "image", "cloud_init", "networks", "bridged", "host" }) do
    local was, now = have[k], want[k]
    if (k == "bridged" or k == "host") and applied.desired then
      was, now = was or "", now or "" -- recorded only when true
    end
    if was ~= nil and was ~= now then
      if k == "image" then
        replace[#replace + 1] = string.format("image %s → %s", have.image, want.image)
      else
        replace[#replace + 1] = k .. " changed"
      end
    end
  end
  local defaults = instances.defaults
  for _, k in ipairs({ "cpus", "memory", "disk" }) do
    local target = inst[k] or defaults[k]
    if rec[k] ~= target then
      if k == "disk" and target < rec[k] then
        replace[#replace + 1] = string.format("disk %s → %s (disks only grow)", show(k, rec[k]),
          show(k, target))
      else
        item.changes[#item.changes + 1] = { key = k, from = rec[k], to = target,
          text = string.format("%s %s → %s", k, show(k, rec[k]), show(k, target)) }
        item.stop = true
      end
    end
  end
  if #replace > 0 then
    item.action = "replace"
    item.replace = replace
    return item
  end
  if st == "deleted" then
    item.recover = true
    item.changes[#item.changes + 1] = { key = "state", from = "deleted", to = "running",
      text = "recover (deleted → running)" }
    st = "stopped"
  end
  if item.stop and (st == "running" or st == "suspended") then
    item.restart = true
  elseif st ~= "running" then
    item.start = true
    if not item.recover then
      item.changes[#item.changes + 1] = { key = "state", from = st, to = "running",
        text = string.format("start (%s → running)", st) }
    end
  end
  if item.restart then
    item.changes[#item.changes + 1] = { key = "state", from = st, to = "running",
      text = "restart to apply" }
  end
  if not applied.provisioned and #inst.provision > 0 then
    item.provision = true
    item.changes[#item.changes + 1] = { key = "provision", text = "provision (" ..
      (applied.desired and "did not finish" or "never ran") .. ")" }
  elseif applied.provisioned_with and applied.provisioned_with ~= want.provision then
    item.notes[#item.notes + 1] = string.format("provisioning changed since it ran (run it " ..
      "again: %s)", lang.command_line(model, "provision", inst.name))
  end
  if not applied.desired and not item.provision then
    -- made by a run that stopped between launch and recording it
    item.changes[#item.changes + 1] = { key = "setup", text = "finish setting it up" }
  end
  item.action = #item.changes > 0 and "change" or "keep"
  return item
end

---The whole plan: instances in dependency order, then what is no longer
---declared (delete), and the recipe's networks.
---@return {project: string, recipe: string, items: table[], networks: table[], counts: table}
function M.plan(model)
  local records, all = {}, {}
  for _, rec in ipairs(instances.records()) do
    all[rec.name] = rec
    if rec.labels and rec.labels[M.LABEL_PROJECT] == model.project then records[rec.name] = rec end
  end
  local items = {}
  for _, inst in ipairs(check.order(model)) do
    items[#items + 1] = M.plan_instance(model, inst, all[inst.full] or false)
  end
  local orphans = {}
  for full, rec in pairs(records) do
    local short = rec.labels[M.LABEL_INSTANCE]
    if not (short and model.by_name[short] and model.by_name[short].full == full) and
        rec.labels[M.LABEL_RECIPE] == model.path then
      orphans[#orphans + 1] = { name = short or full, instance = full, action = "delete",
        rec = rec, changes = {}, notes = { "no longer declared" }, deps = {} }
    end
  end
  table.sort(orphans, function(a, b) return a.instance < b.instance end)
  for _, o in ipairs(orphans) do items[#items + 1] = o end
  local nets = {}
  if #model.networks > 0 then
    for _, n in ipairs(model.networks) do
      local rec = network.get(n.full)
      local item = { name = n.name, network = n.full, subnet = n.subnet, decl = n }
      if not rec then item.action = "create"
      elseif n.subnet and rec.subnet ~= n.subnet then
        item.action = "conflict"
        item.note = string.format("network %s has subnet %s, the recipe asks for %s (moonbase " ..
          "down --purge first)", n.full, rec.subnet, n.subnet)
      else item.action = "keep" end
      nets[#nets + 1] = item
    end
  end
  -- where each instance is reached and what it shares (plan's second table)
  local net_full = {}
  for _, n in ipairs(nets) do net_full[n.name] = n.network end
  for _, it in ipairs(items) do
    local d = it.decl
    local r = { networks = {}, addresses = {}, mounts = {}, forwards = {} }
    for _, n in ipairs(d and d.networks or {}) do
      r.networks[#r.networks + 1] = { network = net_full[n.name] or n.name, ip = n.ip }
      if n.ip then r.addresses[#r.addresses + 1] = n.ip end
    end
    if d and d.bridged then r.networks[#r.networks + 1] = { network = "bridged" } end
    if it.rec and it.state == "running" then r.addresses = lifecycle.ipv4(it.rec, "running") end
    if d then r.mounts, r.forwards = M.declared_mounts(d), M.declared_forwards(d) end
    it.reach = r
  end
  local counts = { create = 0, change = 0, replace = 0, keep = 0, delete = 0, conflict = 0 }
  for _, it in ipairs(items) do counts[it.action] = counts[it.action] + 1 end
  local params = {}
  for _, p in ipairs(model.params) do
    params[#params + 1] = { name = p.name, value = p.value, default = p.default,
      source = p.source or (p.raw ~= nil and "given" or "default") }
  end
  return { project = model.project, recipe = model.shown, items = items, networks = nets,
    counts = counts, params = params }
end

---One line per action count: "2 to create, 1 to keep".
function M.summary(plan)
  local parts = {}
  for _, a in ipairs({ "create", "change", "replace", "keep", "delete", "conflict" }) do
    local n = plan.counts[a]
    if n > 0 then
      parts[#parts + 1] = a == "conflict" and (n .. " in conflict") or
        string.format("%d to %s", n, a)
    end
  end
  return #parts > 0 and table.concat(parts, ", ") or "nothing declared"
end

---"webs=3 (given), db_cpus=2 (from the last up)": the parameters that are not
---at their defaults, and where their values come from; nil when none is.
---@return string?
function M.params_text(plan)
  local parts = {}
  for _, p in ipairs(plan.params or {}) do
    if p.source ~= "default" then
      parts[#parts + 1] = string.format("%s=%s (%s)", p.name, tostring(p.value),
        p.source == "last up" and "from the last up" or p.source)
    end
  end
  return #parts > 0 and table.concat(parts, ", ") or nil
end

---Whether applying the plan would change nothing.
function M.unchanged(plan)
  for _, it in ipairs(plan.items) do
    if it.action ~= "keep" then return false end
  end
  for _, n in ipairs(plan.networks) do
    if n.action ~= "keep" then return false end
  end
  return true
end

---The details column of a plan item.
function M.details(item)
  local parts = {}
  if item.action == "create" then
    local d = item.decl
    parts[#parts + 1] = string.format("%s, %d cpu%s, %s memory, %s disk", d.image or "default",
      d.cpus or instances.defaults.cpus, (d.cpus or 1) > 1 and "s" or "",
      show("memory", d.memory or instances.defaults.memory),
      show("disk", d.disk or instances.defaults.disk))
    if #d.deps > 0 then parts[#parts + 1] = "after " .. table.concat(d.deps, ", ") end
  elseif item.action == "replace" then
    parts[#parts + 1] = table.concat(item.replace, ", ") .. " (deletes and recreates it: " ..
      "up --replace)"
  else
    for _, c in ipairs(item.changes) do parts[#parts + 1] = c.text end
  end
  for _, n in ipairs(item.notes) do parts[#parts + 1] = n end
  return table.concat(parts, "; ")
end

---------------------------------------------------------------- outputs
---Evaluates the recipe's outputs against the running instances.
---@return {name: string, value?: any, error?: string, where: string}[]
function M.outputs(model)
  local out = {}
  local ctx = steps.context(model)
  for _, o in ipairs(model.outputs) do
    local ok, v = pcall(sandbox.run, "output \"" .. o.name .. "\"", sandbox.output_budget(),
      function()
        local value = o.value
        if type(value) == "function" then value = value(ctx) end
        return steps.resolve_deep(model, value)
      end)
    if ok then
      out[#out + 1] = { name = o.name, value = v, where = o.where }
    else
      local msg = errors.is(v) and v.message or tostring(v)
      out[#out + 1] = { name = o.name, error = msg, where = o.where }
    end
  end
  return out
end

---------------------------------------------------------------- status
---Rows for `moonbase status`: each declared instance and each left-over one.
function M.status(model)
  local plan = M.plan(model)
  local rows = {}
  for _, it in ipairs(plan.items) do
    local row = { name = it.name, instance = it.instance, action = it.action }
    if it.rec then
      local st = lifecycle.state(it.rec)
      row.state = st
      row.ipv4 = st == "running" and lifecycle.ipv4(it.rec, st) or {}
      local applied = M.applied(it.instance) or {}
      row.provisioned = applied.provisioned_at and os.date("!%Y-%m-%dT%H:%M:%SZ",
        math.floor(applied.provisioned_at)) or nil
    else
      row.state = "absent"
      row.ipv4 = {}
    end
    row.plan = it.action == "keep" and "up to date" or (it.action .. ": " .. M.details(it))
    rows[#rows + 1] = row
  end
  return rows, plan
end

---The number of CPUs this process may use.
function M.cpus()
  local n = 0
  local online = fs.read("/sys/devices/system/cpu/online") or ""
  for range in online:gmatch("[^,%s]+") do
    local a, b = range:match("^(%d+)%-(%d+)$")
    if a then n = n + tonumber(b) - tonumber(a) + 1 else n = n + 1 end
  end
  return n > 0 and n or 1
end

---The default --parallel: guests boot on CPUs while launches mostly wait, so
---twice the CPUs, at least 2, at most 16.
function M.default_parallel()
  return math.max(2, math.min(16, 2 * M.cpus()))
end

---------------------------------------------------------------- for the commands
M.param_option = { "param", "p", repeated = true, metavar = "NAME=VALUE",
  help = "set a parameter the recipe declares with param()" }

---Loads the recipe a command names in opts[1] with opts.param (and, for the
---parameters not given, those of the project's last `up`).
---@param o? {remembered?: boolean}  remembered = false: the defaults instead
---@return moonbase.RecipeModel
function M.from_options(opts, o)
  return M.load(opts[1], { params = M.parse_params(opts.param),
    remembered = not (o and o.remembered == false) })
end

---The plan's instances as rows of M.columns.plan (plain data of the plan: it
---runs where the plan is shown, which may be a daemon's client).
function M.plan_rows(plan)
  local rows = {}
  for _, it in ipairs(plan.items) do
    local changes = {}
    for _, c in ipairs(it.changes) do
      changes[#changes + 1] = { key = c.key, from = c.from, to = c.to, text = c.text,
        add = c.add, remove = c.remove }
    end
    local d, reach = it.decl, it.reach or {}
    rows[#rows + 1] = { action = it.action, name = it.name, instance = it.instance,
      details = M.details(it), changes = changes, replace = it.replace or {},
      notes = it.notes, depends_on = d and d.deps or {}, networks = reach.networks or {},
      addresses = reach.addresses or {}, mounts = reach.mounts or {},
      forwards = reach.forwards or {} }
  end
  return rows
end

---------------------------------------------------------------- the listings
local function any_error(rows)
  for _, r in ipairs(rows) do if r.error ~= nil then return true end end
  return false
end

---The fields of each listing the recipe commands print (moonbase.format
---columns): the same names in every format.
M.columns = {
  outputs = {
    { key = "name", title = "Name" },
    { key = "value", title = "Value", note = "a string, number, boolean, list or map; " ..
      "the table and CSV: nested values as one line of JSON" },
    { key = "error", title = "Error", when = any_error, when_text = "when one failed" },
  },
  status = {
    { key = "name", title = "Name" }, { key = "instance", title = "Instance" },
    { key = "state", title = "State" }, { key = "ipv4", title = "IPv4", kind = "list" },
    { key = "provisioned", title = "Provisioned", kind = "time" },
    { key = "plan", title = "Plan" },
  },
  plan = {
    { key = "action", title = "Action" }, { key = "name", title = "Name" },
    { key = "instance", title = "Instance" }, { key = "details", title = "Details" },
    { key = "changes", title = "Changes", detail = true, kind = "list",
      note = "of {key, from, to, text}" },
    { key = "replace", title = "Replace", detail = true, kind = "list" },
    { key = "notes", title = "Notes", detail = true, kind = "list" },
    { key = "depends_on", title = "Depends on", detail = true, kind = "list" },
    { key = "networks", title = "Networks", detail = true, kind = "list",
      note = "of {network, ip}, the recipe's networks it joins" },
    { key = "addresses", title = "Addresses", detail = true, kind = "list",
      note = "its IPv4 addresses when it runs, else the ones the recipe gives it" },
    { key = "mounts", title = "Mounts", detail = true, kind = "list",
      note = "of {source, target, readonly, type}" },
    { key = "forwards", title = "Forwards", detail = true, kind = "list",
      note = "of {address, host_port, guest_port, proto}" },
  },
  -- the table's second part: where each instance is reached and what it shares
  plan_reach = {
    { key = "name", title = "Name" },
    { key = "networks", title = "Networks", kind = "list", text = function(list)
      local t = {}
      for _, n in ipairs(list) do
        t[#t + 1] = n.network .. (n.ip and (" (" .. n.ip .. ")") or "")
      end
      return #t > 0 and table.concat(t, ", ") or nil
    end },
    { key = "addresses", title = "Addresses", kind = "list" },
    { key = "mounts", title = "Mounts", kind = "list", text = function(list)
      local t = {}
      for _, m in ipairs(list) do t[#t + 1] = mount_text(m) end
      return #t > 0 and table.concat(t, ", ") or nil
    end },
    { key = "forwards", title = "Forwards", kind = "list", text = function(list)
      local t = {}
      for _, f in ipairs(list) do t[#t + 1] = forward_text(f) end
      return #t > 0 and table.concat(t, ", ") or nil
    end },
  },
  up = {
    { key = "name", title = "Name" }, { key = "instance", title = "Instance" },
    { key = "action", title = "Action" }, { key = "status", title = "Status" },
    { key = "message", title = "Message" },
    { key = "started", title = "Started", kind = "time" },
    { key = "finished", title = "Finished", kind = "time" },
    { key = "launch_started", title = "Launch started", kind = "time" },
    { key = "launch_finished", title = "Launch finished", kind = "time" },
    { key = "ready_secs", title = "Ready after", note = "seconds" },
    { key = "provisioned", title = "Provisioned", note = "true when this run provisioned it" },
  },
}

return M
