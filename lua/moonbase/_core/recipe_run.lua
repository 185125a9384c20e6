-- Applying recipes: `up`, `down` and `provision`. Each instance's work runs
-- in its own child process (`moonbase up RECIPE --worker NAME`, or
-- `moonbase stop/delete NAME` for down), so independent instances proceed in
-- parallel, each holding its own instance lock, while this process only
-- schedules them (moonbase._core.recipe_schedule) and ends with a summary.
-- M.worker is what such a child does for its instance.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local process = require("moonbase.engine.process")
local errors = require("moonbase.errors")
local format = require("moonbase.format")
local units = require("moonbase.units")
local store = require("moonbase._core.store")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local launch = require("moonbase._core.launch")
local network = require("moonbase._core.network")
local recipe = require("moonbase._core.recipe_plan")
local check = require("moonbase._core.recipe_check")
local lang = require("moonbase._core.recipe_lang")
local steps = require("moonbase._core.recipe_steps")
local schedule = require("moonbase._core.recipe_schedule")

local M = {}

-- the instance operations up, down and provision use
local instance = {
  features = instances.features, defaults = instances.defaults, get = instances.get,
  find = instances.find, state = lifecycle.state, start = lifecycle.start,
  stop = lifecycle.stop, delete = lifecycle.delete, recover = lifecycle.recover,
  set_property = lifecycle.set_property, launch = launch.run,
}

local function self_exe()
  return fs.readlink("/proc/self/exe")
end

---Takes the project's lock, so two up/down/provision runs never interleave.
function M.lock(model, verb)
  local dir = recipe.run_dir(model.project)
  errors.check(verb, fs.mkdirs(dir .. "/logs"))
  local lock, msg = fs.lock(dir .. "/lock", { wait = false })
  if not lock then
    errors.raise(string.format("%s: another up, down or provision of project \"%s\" is " ..
      "running (wait for it to finish; %s)", verb, model.project, tostring(msg)), "state")
  end
  return lock
end

local param_args = lang.param_args

local function worker_argv(model, name, run_dir, extra)
  local argv = { self_exe(), "up", model.shown, "--worker", name, "--run-dir", run_dir }
  for _, a in ipairs(param_args(model)) do argv[#argv + 1] = a end
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  return argv
end

local function fmt_secs(s) return string.format("%.1fs", s) end

---------------------------------------------------------------- outputs
local function print_outputs(model, out, o)
  if #model.outputs == 0 or (o.quiet and not o.structured) then return true end
  local list = recipe.outputs(model)
  if o.quiet then return true, list end
  out:write("Outputs:\n")
  local ok = true
  for _, r in ipairs(list) do
    if r.error then
      ok = false
      out:write(string.format("  %s: (failed: %s)\n", r.name, r.error))
    else
      local v = r.value
      if type(v) == "table" then
        v = format.json(v):gsub("\n$", ""):gsub("\n", "\n  ")
      end
      out:write(string.format("  %s = %s\n", r.name, tostring(v)))
    end
  end
  return ok, list
end

---------------------------------------------------------------- up
-- --format json|yaml: {project, recipe, instances, outputs} on stdout, the
-- rows of recipe.columns.up and .outputs; csv: the instances' rows
local function print_summary(summary, o)
  if not o.format or o.format == "table" then return end
  local format = require("moonbase.format")
  local order = {}
  for _, c in ipairs(recipe.columns.outputs) do order[#order + 1] = c.key end
  format.print(summary.instances, o.format, { columns = recipe.columns.up, order = order,
    wrap = function(rows)
      local outs = format.array({})
      for i, r in ipairs(summary.outputs or {}) do
        outs[i] = format.project(r, recipe.columns.outputs)
      end
      return { project = summary.project, recipe = summary.recipe, instances = rows,
        outputs = outs }
    end })
end

---Raises when up must not start: conflicts, or replacements without --replace.
local function refusals(model, plan, o)
  local conflicts, replaces = {}, {}
  for _, it in ipairs(plan.items) do
    if it.action == "conflict" then conflicts[#conflicts + 1] = it.notes[1] end
    if it.action == "replace" then
      replaces[#replaces + 1] = string.format("%s (%s)", it.instance,
        table.concat(it.replace, ", "))
    end
  end
  for _, n in ipairs(plan.networks) do
    if n.action == "conflict" then conflicts[#conflicts + 1] = n.note end
  end
  if #conflicts > 0 then
    errors.raise("up: nothing was changed:\n" .. table.concat(conflicts, "\n"), "state")
  end
  if #replaces > 0 and not o.replace then
    errors.raise(string.format("up: nothing was changed: %s must be replaced, which deletes " ..
      "and recreates %s (run: %s, or undo the change)",
      table.concat(replaces, ", "), #replaces > 1 and "them" or "it",
      lang.command_line(model, "up", "--replace")), "state")
  end
end

---Brings the recipe's instances to what it declares.
---@param o {parallel?: integer, replace?: boolean, quiet?: boolean, format?: string,
---  structured?: boolean}
---@return integer exit status
function M.up(model, o)
  local out = o.structured and io.stderr or io.stdout
  -- refusals and "nothing to change" need no lock and write nothing
  local plan = recipe.plan(model)
  refusals(model, plan, o)
  local t0 = util.now()
  local summary = { project = model.project, recipe = model.shown, instances = {} }
  if recipe.unchanged(plan) then
    recipe.remember_params(model) -- status, outputs, down... use them from now on
    if not o.quiet then
      out:write(string.format("%s (project %s): nothing to change, %d instance%s up to date.\n",
        model.shown, model.project, #plan.items, #plan.items == 1 and "" or "s"))
    end
    local ok, outputs = print_outputs(model, out, o)
    summary.outputs = outputs
    print_summary(summary, o)
    return ok and 0 or 2
  end
  local lock <close> = M.lock(model, "up")
  plan = recipe.plan(model)
  refusals(model, plan, o)
  recipe.remember_params(model) -- status, outputs, down... use them from now on
  if not o.quiet then
    out:write(string.format("%s (project %s): %s\n", model.shown, model.project,
      recipe.summary(plan)))
  end
  -- networks first: instances attach to them
  for _, n in ipairs(plan.networks) do
    if n.action == "create" then
      network.create(n.network, { subnet = n.subnet })
      if not o.quiet then out:write(string.format("network %s created\n", n.network)) end
    end
  end
  local run_dir = recipe.run_dir(model.project) .. "/run"
  local logs = recipe.run_dir(model.project) .. "/logs"
  errors.check("up", fs.mkdirs(run_dir))
  -- what is no longer declared goes first (it frees names, memory and ports)
  local nodes = {}
  local label_of = {}
  for _, it in ipairs(plan.items) do label_of[it.instance] = it.name end
  for _, it in ipairs(plan.items) do
    if it.action == "delete" then
      nodes[#nodes + 1] = { key = it.instance, label = it.name, deps = {},
        argv = { self_exe(), "delete", "--purge", it.instance }, log = logs .. "/" .. it.name ..
        ".log", action = "delete" }
    end
  end
  local results = {}
  if #nodes > 0 then
    if not o.quiet then
      for _, n in ipairs(nodes) do out:write(string.format("%s | deleting (no longer " ..
        "declared)\n", n.label)) end
    end
    results = schedule.run(nodes, { parallel = o.parallel, quiet = o.quiet, out = out })
  end
  local work = {}
  local width = 0
  for _, it in ipairs(plan.items) do width = math.max(width, #it.name) end
  for _, it in ipairs(plan.items) do
    if it.action ~= "delete" then
      local key = it.instance
      if it.action == "keep" then
        results[key] = { status = "ok", action = "keep" }
      else
        fs.remove(run_dir .. "/" .. it.name .. ".json")
        local deps = {}
        for _, d in ipairs(it.deps) do deps[#deps + 1] = model.by_name[d].full end
        work[#work + 1] = { key = key, label = it.name, deps = deps, action = it.action,
          argv = worker_argv(model, it.name, run_dir, o.replace and { "--replace" } or nil),
          log = logs .. "/" .. it.name .. ".log", result = run_dir .. "/" .. it.name .. ".json" }
      end
    end
  end
  -- the scheduler sees kept instances as done
  local done = {}
  for k, r in pairs(results) do done[k] = r end
  local wres = schedule.run(work, { parallel = o.parallel, quiet = o.quiet, out = out,
    width = width,
    label_of = function(k) return label_of[k] or k end, preset = done,
    on_wait = function(n, waits)
      if not o.quiet then
        out:write(string.format("%-" .. width .. "s | waiting for %s\n", n.label,
          table.concat(waits, ", ")))
      end
    end })
  for k, r in pairs(wres) do results[k] = r end
  -- summary
  local failed = 0
  if not o.quiet then out:write(string.format("Summary (%s):\n", fmt_secs(util.now() - t0))) end
  for _, it in ipairs(plan.items) do
    local r = results[it.instance] or { status = "skipped", message = "not run" }
    local line
    if r.status == "ok" then
      if it.action == "keep" then line = "up to date"
      elseif it.action == "delete" then line = "deleted"
      else
        local parts = { r.did or it.action }
        if r.ready_secs then parts[#parts + 1] = "ready" end
        if r.provisioned then parts[#parts + 1] = "provisioned" end
        line = table.concat(parts, ", ")
        if r.started and r.finished then line = line .. " in " .. fmt_secs(r.finished -
          r.started) end
      end
    else
      failed = failed + 1
      line = (r.status == "skipped" and "skipped: " or "FAILED: ") .. tostring(r.message)
      if r.status == "failed" then
        line = line .. " (log: " .. logs .. "/" .. it.name .. ".log)"
      end
    end
    if not o.quiet or r.status ~= "ok" then
      (o.quiet and io.stderr or out):write(string.format("  %-" .. width .. "s  %s\n", it.name,
        line))
    end
    -- the times as text here: a clock reading whose fraction JSON's 14 digits
    -- drop would reach a daemon's client as whole seconds
    summary.instances[#summary.instances + 1] = { name = it.name, instance = it.instance,
      action = it.action, status = r.status, message = r.message,
      started = format.time(r.started), finished = format.time(r.finished),
      launch_started = format.time(r.launch_started),
      launch_finished = format.time(r.launch_finished), ready_secs = r.ready_secs,
      provisioned = r.provisioned }
  end
  local rc = 0
  if failed > 0 then
    rc = 2
    if not o.quiet then
      out:write(string.format("%d of %d instance%s did not come up; outputs skipped.\n", failed,
        #plan.items, #plan.items == 1 and "" or "s"))
    end
  else
    local ok, outputs = print_outputs(model, out, o)
    summary.outputs = outputs
    if not ok then rc = 2 end
  end
  print_summary(summary, o)
  return rc
end

---------------------------------------------------------------- the worker
local function say(fmt, ...)
  io.stdout:write("==> ", string.format(fmt, ...), "\n")
  io.stdout:flush()
end

local function launch_options(model, inst)
  local o = { name = inst.full, image = inst.image, cpus = inst.cpus, memory = inst.memory,
    disk = inst.disk, labels = recipe.labels(model, inst), timeout = inst.timeout, quiet = true }
  if inst.cloud_init then
    o.cloud_init = steps.resolve(model, inst.cloud_init)
    o.cloud_init_source = "the recipe's cloud_init (" .. (inst.key_where.cloud_init or
      inst.where) .. ")"
  end
  local f = instance.features
  if f.networks and #inst.networks > 0 then
    o.networks = {}
    for _, n in ipairs(inst.networks) do
      o.networks[#o.networks + 1] = { network = model.network_by_name[n.name].full, ip = n.ip }
    end
  end
  if f.networks and inst.bridged then o.bridged = true end
  o.host = inst.host -- another libvirt host (instance.placement)
  if f.mounts and #inst.mounts > 0 then
    o.mounts = {}
    for _, m in ipairs(inst.mounts) do
      o.mounts[#o.mounts + 1] = { source = m.real, target = m.dst, readonly = m.readonly,
        type = m.type }
    end
  end
  if f.forwards and #inst.forwards > 0 then
    o.forwards = {}
    for _, fw in ipairs(inst.forwards) do
      o.forwards[#o.forwards + 1] = { host_port = fw.host, guest_port = fw.guest,
        proto = fw.proto }
    end
  end
  return o
end

local function describe_launch(inst)
  local d = instance.defaults
  return string.format("%s, %d cpu%s, %s memory, %s disk", inst.image or "default image",
    inst.cpus or d.cpus, (inst.cpus or d.cpus) > 1 and "s" or "",
    units.format_size(inst.memory or d.memory), units.format_size(inst.disk or d.disk))
end

local function provision(model, inst, rec, result)
  local n = #inst.provision
  if n == 0 then return end
  local t = util.now()
  for i, step in ipairs(inst.provision) do
    say("provisioning %d/%d: %s (%s)", i, n, steps.describe(step), step.where)
    steps.run_step(model, rec, step)
  end
  result.provisioned = true
  say("provisioned in %s", fmt_secs(util.now() - t))
end

-- runs `moonbase ARGS...` (a command another user could type), raising with
-- its own message when it fails
local function moonbase(args)
  local argv = { self_exe() }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local code, out, err = process.run(argv)
  if code ~= 0 then
    errors.raise(((err ~= "" and err or out):gsub("\n$", "")), code == 1 and "usage" or "failed")
  end
end

-- the changes of forwards and mounts, made on the instance as it is (plan's
-- live changes): removed first, so a port or target can move
local function apply_live(inst, item)
  local did = false
  for _, ch in ipairs(item.changes) do
    if ch.key == "forwards" then
      for _, f in ipairs(ch.remove) do
        say("removing the forward %s:%d → %d/%s", f.address, f.host_port, f.guest_port, f.proto)
        moonbase({ "forward", inst.full, "--remove", f.host_port .. "/" .. f.proto,
          "--address", f.address })
      end
      for _, f in ipairs(ch.add) do
        say("adding the forward %s:%d → %d/%s", f.address, f.host_port, f.guest_port, f.proto)
        moonbase({ "forward", inst.full, f.host_port .. ":" .. f.guest_port .. "/" .. f.proto,
          "--address", f.address })
      end
      did = true
    elseif ch.key == "mounts" then
      for _, m in ipairs(ch.remove) do
        say("unmounting %s", m.target)
        moonbase({ "umount", inst.full .. ":" .. m.target })
      end
      for _, m in ipairs(ch.add) do
        say("mounting %s → %s (%s)", m.source, m.target, m.type)
        local args = { "mount", "--quiet", "--type", m.type, m.source,
          inst.full .. ":" .. m.target }
        if m.readonly then table.insert(args, 2, "--readonly") end
        if m.type == "native" then table.insert(args, 2, "--restart") end
        moonbase(args)
      end
      did = true
    end
  end
  return did
end

---One instance's part of `up` (or, with o.provision_only, of `provision`),
---run in a child process. Writes its result to <run dir>/<name>.json.
function M.worker(model, name, o)
  local inst = model.by_name[name]
  if not inst then errors.usage("up --worker: no instance \"" .. tostring(name) .. "\"") end
  local result = { name = name, started = util.time() }
  local function save()
    if o.run_dir then store.write(o.run_dir .. "/" .. name .. ".json", result) end
  end
  local ok, err = pcall(function()
    local inst_mod = instance
    local item = recipe.plan_instance(model, inst)
    local applied = recipe.applied(inst.full) or {}
    local rec
    local function record(extra)
      local a = recipe.applied(inst.full) or {}
      a.desired = recipe.desired(inst)
      a.recipe = model.path
      -- what the next plan compares forwards and mounts with, item by item
      a.forward_list, a.mount_list = recipe.declared_forwards(inst), recipe.declared_mounts(inst)
      for k, v in pairs(extra or {}) do a[k] = v end
      recipe.save_applied(inst.full, a)
    end
    if o.provision_only then
      rec = inst_mod.get(inst.full)
      if inst_mod.state(rec) ~= "running" then
        errors.raise(string.format("instance \"%s\" is %s (run: %s)", inst.full,
          inst_mod.state(rec), lang.command_line(model, "up")), "state")
      end
      result.did = "provisioned"
      provision(model, inst, rec, result)
      record({ provisioned = true, provisioned_at = util.time(),
        provisioned_with = recipe.desired(inst).provision })
      return
    end
    if item.action == "conflict" then errors.raise(item.notes[1], "state") end
    if item.action == "replace" then
      if not o.replace then
        errors.raise("must be replaced (" .. table.concat(item.replace, ", ") .. "): run with " ..
          "--replace", "state")
      end
      say("replacing: %s", table.concat(item.replace, ", "))
      inst_mod.delete(inst.full, { purge = true })
      item = { action = "create" }
      applied = {}
    end
    result.launch_started = util.time()
    if item.action == "create" then
      say("creating %s (%s)", inst.full, describe_launch(inst))
      local t = util.now()
      rec = inst_mod.launch(launch_options(model, inst))
      record({ provisioned = false, created_at = util.time() })
      applied = recipe.applied(inst.full) or {}
      say("running after %s", fmt_secs(util.now() - t))
      result.did = "created"
    else
      rec = item.rec
      local t = util.now()
      local resources = {}
      for _, ch in ipairs(item.changes) do
        if ch.key == "cpus" or ch.key == "memory" or ch.key == "disk" then
          resources[#resources + 1] = ch
        end
      end
      if item.recover then
        say("recovering the deleted instance")
        inst_mod.recover(inst.full)
      end
      if item.restart then
        local texts = {}
        for _, ch in ipairs(resources) do texts[#texts + 1] = ch.text end
        say("stopping to apply: %s", table.concat(texts, ", "))
        -- a suspended guest cannot shut down by itself: it is powered off
        inst_mod.stop(inst.full, { timeout = 60, force = item.state == "suspended" })
      end
      for _, ch in ipairs(resources) do
        say("setting %s", ch.text)
        inst_mod.set_property(inst.full, ch.key, tostring(ch.to))
      end
      if item.restart or item.start or item.recover then
        say("starting")
        inst_mod.start(inst.full, { quiet = true, timeout = inst.timeout })
        say("running after %s", fmt_secs(util.now() - t))
      end
      local live = apply_live(inst, item)
      rec = inst_mod.get(inst.full)
      result.did = (#resources > 0 or live) and "changed" or item.recover and "recovered" or
        item.start and "started" or "checked"
    end
    result.launch_finished = util.time()
    save()
    -- provisioning first, then the ready probe: a probe can wait for what the
    -- steps set up (shop.lua's postgresql), and dependents start only after both
    if not applied.provisioned and #inst.provision > 0 then
      provision(model, inst, rec, result)
      record({ provisioned = true, provisioned_at = util.time(),
        provisioned_with = recipe.desired(inst).provision })
    else
      record({ provisioned = applied.provisioned or #inst.provision == 0 or nil })
    end
    if inst.ready then
      say("waiting for %s (%s)", inst.ready.text, inst.ready.where)
      result.ready_secs = steps.wait_ready(model, rec, inst.ready)
      say("ready after %s", fmt_secs(result.ready_secs))
    end
  end)
  result.finished = util.time()
  result.ok = ok
  if not ok then
    result.message = errors.is(err) and err.message or tostring(err)
  end
  save()
  if not ok then error(err, 0) end
  return 0
end

---------------------------------------------------------------- provision
---Runs provisioning again on running instances (all, or the named ones), in
---dependency order, independent ones in parallel.
function M.provision(model, names, o)
  local out = io.stdout
  local chosen = {}
  for _, n in ipairs(names) do
    if not model.by_name[n] then
      local all = {}
      for _, i in ipairs(model.instances) do all[#all + 1] = i.name end
      errors.usage(string.format("provision: the recipe declares no instance \"%s\" (it " ..
        "declares: %s)", n, table.concat(all, ", ")))
    end
    chosen[n] = true
  end
  -- every instance checked before the lock and the run files exist
  for _, inst in ipairs(check.order(model)) do
    if (#names == 0 or chosen[inst.name]) then
      local rec = instance.find(inst.full)
      if not rec or instance.state(rec) ~= "running" then
        errors.raise(string.format("provision: instance \"%s\" is %s (run: %s)",
          inst.full, rec and instance.state(rec) or "not created",
          lang.command_line(model, "up")), "state")
      end
    end
  end
  local lock <close> = M.lock(model, "provision")
  local run_dir = recipe.run_dir(model.project) .. "/run"
  local logs = recipe.run_dir(model.project) .. "/logs"
  errors.check("provision", fs.mkdirs(run_dir))
  local work = {}
  local width = 0
  for _, inst in ipairs(model.instances) do
    if #names == 0 or chosen[inst.name] then width = math.max(width, #inst.name) end
  end
  for _, inst in ipairs(check.order(model)) do
    if (#names == 0 or chosen[inst.name]) then
      local deps = {}
      for _, d in ipairs(inst.deps) do
        if #names == 0 or chosen[d] then deps[#deps + 1] = model.by_name[d].full end
      end
      if #inst.provision > 0 then
        work[#work + 1] = { key = inst.full, label = inst.name, deps = deps,
          argv = worker_argv(model, inst.name, run_dir, { "--provision-only" }),
          log = logs .. "/" .. inst.name .. ".log", result = run_dir .. "/" .. inst.name .. ".json" }
      elseif not o.quiet then
        out:write(string.format("%-" .. width .. "s | no provisioning steps\n", inst.name))
      end
    end
  end
  local results = schedule.run(work, { parallel = o.parallel, quiet = o.quiet, out = out,
    width = width })
  local failed = 0
  for _, w in ipairs(work) do
    local r = results[w.key]
    if r.status ~= "ok" then
      failed = failed + 1
      io.stderr:write(string.format("provision: %s: %s\n", w.label, tostring(r.message)))
    end
  end
  return failed > 0 and 2 or 0
end

---------------------------------------------------------------- down
---Stops (or with purge deletes) the recipe's instances, dependents first,
---independent ones in parallel; with purge also what it no longer declares
---and its networks.
function M.down(model, o)
  local lock <close> = M.lock(model, "down")
  local out = io.stdout
  local plan = recipe.plan(model)
  local nodes = {}
  local logs = recipe.run_dir(model.project) .. "/logs"
  -- reverse dependencies: an instance goes down after those that depend on it
  local dependents = {}
  for _, inst in ipairs(model.instances) do
    for _, d in ipairs(inst.deps) do
      dependents[d] = dependents[d] or {}
      table.insert(dependents[d], model.by_name[inst.name].full)
    end
  end
  local present = {}
  for _, it in ipairs(plan.items) do
    if it.rec and it.action ~= "conflict" then present[it.instance] = it end
  end
  for _, it in ipairs(plan.items) do
    if present[it.instance] then
      local st = instance.state(it.rec)
      local argv
      if o.purge then
        argv = { self_exe(), "delete", "--purge", it.instance }
      elseif st == "running" or st == "suspended" then
        argv = { self_exe(), "stop", it.instance, "--timeout", tostring(o.timeout or 60) }
        if st == "suspended" then argv[#argv + 1] = "--force" end
      end
      local deps = {}
      for _, full in ipairs(dependents[it.name] or {}) do
        if present[full] then deps[#deps + 1] = full end
      end
      if argv then
        nodes[#nodes + 1] = { key = it.instance, label = it.name, deps = deps, argv = argv,
          log = logs .. "/" .. it.name .. ".down.log" }
      end
    end
  end
  -- a node whose dependents need not go down does not wait for them
  local keys = {}
  for _, n in ipairs(nodes) do keys[n.key] = true end
  for _, n in ipairs(nodes) do
    local d = {}
    for _, k in ipairs(n.deps) do if keys[k] then d[#d + 1] = k end end
    n.deps = d
  end
  local width = 0
  for _, n in ipairs(nodes) do width = math.max(width, #n.label) end
  local function say(n, text)
    if not o.quiet then
      out:write(string.format("%-" .. width .. "s | %s\n", n.label, text))
      out:flush()
    end
  end
  local t0 = util.now()
  local failed = 0
  local label_of = {}
  for _, n in ipairs(nodes) do label_of[n.key] = n.label end
  local results = schedule.run(nodes, { parallel = o.parallel, quiet = true, out = out,
    skip_message = "left as it was: it goes down after %s, which %s",
    label_of = function(k) return label_of[k] or k end,
    on_wait = function(n, waits) say(n, "waiting for " .. table.concat(waits, ", ")) end,
    on_start = function(n) say(n, o.purge and "deleting" or "stopping") end,
    on_finish = function(n, r)
      if r.status == "ok" then
        say(n, string.format("%s in %s", o.purge and "deleted" or "stopped",
          fmt_secs(r.finished - r.started)))
      else
        failed = failed + 1
        io.stderr:write(string.format("down: %s: %s\n", n.label, tostring(r.message)))
      end
    end })
  for _, n in ipairs(nodes) do
    if results[n.key].status == "skipped" then
      failed = failed + 1
      io.stderr:write(string.format("down: %s: %s\n", n.label, results[n.key].message))
    end
  end
  if o.purge and failed == 0 then
    if #model.networks > 0 and recipe.capabilities().networks then
      for _, n in ipairs(model.networks) do
        if network.get(n.full) then
          network.delete(n.full)
          if not o.quiet then out:write(string.format("network %s deleted\n", n.full)) end
        end
      end
    end
    -- nothing of the project is left, its lock file included (a run that
    -- waited for this lock finds the file gone and makes a new one)
    lock:close()
    fs.rmtree(recipe.run_dir(model.project))
  end
  if not o.quiet then
    if #nodes == 0 then
      out:write(string.format("%s (project %s): nothing to %s.\n", model.shown, model.project,
        o.purge and "delete" or "stop"))
    else
      out:write(string.format("Done in %s.\n", fmt_secs(util.now() - t0)))
    end
  end
  return failed > 0 and 2 or 0
end

return M
