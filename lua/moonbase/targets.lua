-- The NAME... | --all convention of the lifecycle commands: every name is
-- checked first (a valid name, an instance that exists, a state the verb can
-- work from), and nothing is done unless all pass; then the verb runs on
-- each, and an instance already in the wanted state is a notice, not a
-- failure (Multipass's behaviour). --all takes every instance the verb
-- applies to; damaged records are reported and left alone.
-- layer: facade
local instance = require("moonbase.instance")
local names = require("moonbase._core.names")
local errors = require("moonbase.errors")

local M = {}

M.all_option = { "all", type = "flag", help = "every instance" }

local function strip(verb, msg)
  return (msg:gsub("^" .. verb:gsub("%-", "%%-") .. ": ", ""))
end

-- Raises the errors of the check, one line each, as one error whose code is
-- the worst (usage beats the rest: it says the command line is wrong).
local function refuse(verb, failures)
  if #failures == 1 then error(failures[1], 0) end
  local lines, code = {}, nil
  for _, e in ipairs(failures) do
    lines[#lines + 1] = (#lines > 0 and (verb .. ": ") or "") .. strip(verb, e.message)
    if code ~= "usage" then code = e.code end
  end
  errors.raise(table.concat(lines, "\n") .. "\n" .. verb .. ": nothing was changed", code)
end

---@param verb string   command name for messages (start stop suspend restart delete recover)
---@param opts table    parsed options (positionals = names, opts.all, opts.force, opts.purge)
---@param fn fun(name: string): any, string?  acts on one instance; a second result is a notice
---@param o? {primary?: boolean|"launch", filter?: fun(rec): boolean, check?: fun(name: string): string?}
---  primary: without names or --all, the primary instance (Multipass), which
---  must exist; "launch": it may not exist yet (fn launches it: start)
---  check: checks a name that is not an instance's (a snapshot's), returning
---  what instance.check would, or nil to check it as an instance
function M.each(verb, opts, fn, o)
  o = o or {}
  local list, all = {}, opts.all
  local how = { force = opts.force, purge = opts.purge }
  if all then
    if #opts > 0 then errors.usage("give instance names or --all, not both") end
    local recs, bad = instance.records()
    for _, r in ipairs(recs) do
      if not o.filter or o.filter(r) then list[#list + 1] = r.name end
    end
    for _, b in ipairs(bad or {}) do
      if verb == "delete" and opts.purge then list[#list + 1] = b.name
      else io.stderr:write(verb, ": warning: skipped: ", b.message, "\n") end
    end
    table.sort(list)
  else
    local seen = {}
    for i = 1, #opts do
      if not seen[opts[i]] then list[#list + 1] = opts[i]; seen[opts[i]] = true end
    end
    if #list == 0 and o.primary then
      list[1] = instance.primary_or_usage(verb, o.primary ~= "launch")
    end
  end
  if #list == 0 and not all then
    errors.usage(string.format("%s needs an instance name (or --all)", verb))
  end
  -- every name first: nothing is done unless all can be
  local failures, plan = {}, {}
  for _, n in ipairs(list) do
    local ok, what, notice = pcall(function()
      if o.check then
        local w, nt = o.check(n)
        if w then return w, nt end
      end
      names.instance(n, verb)
      if o.primary == "launch" and #opts == 0 and not instance.find(n) then return "act" end
      return instance.check(verb, n, how)
    end)
    if not ok then
      if not errors.is(what) then error(what, 0) end
      -- --all leaves out what the verb does not apply to (suspend skips stopped ones)
      if not (all and what.code == "state") then failures[#failures + 1] = what end
    else
      plan[#plan + 1] = { name = n, what = what, notice = notice }
    end
  end
  if #failures > 0 then refuse(verb, failures) end
  local worst = 0
  for _, p in ipairs(plan) do
    local notice = p.notice
    if p.what == "act" then
      local ok, r1, r2 = pcall(fn, p.name)
      if not ok then
        if not errors.is(r1) then error(r1, 0) end
        if #plan == 1 then error(r1, 0) end
        io.stderr:write(verb, ": ", strip(verb, r1.message), "\n")
        worst = math.max(worst, errors.exit_code(r1.code))
      elseif type(r2) == "string" then
        notice = r2 -- it got there meanwhile
      end
    end
    if notice and not all then io.stderr:write(verb, ": ", notice, "\n") end
  end
  return worst
end

return M
