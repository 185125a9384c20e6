-- The NAME... | --all convention of the lifecycle commands: runs an action on
-- each named instance, reports each failure on its own line, and returns the
-- exit status of the worst one.
-- layer: facade
local instance = require("moonbase.instance")
local errors = require("moonbase.errors")

local M = {}

M.all_option = { "all", type = "flag", help = "every instance" }

---@param verb string   command name for messages
---@param opts table    parsed options (positionals = names, opts.all)
---@param fn fun(name: string)
---@param o? {default?: string, filter?: fun(rec): boolean}
function M.each(verb, opts, fn, o)
  o = o or {}
  local names = {}
  if opts.all then
    if #opts > 0 then errors.usage("give instance names or --all, not both") end
    for _, r in ipairs(instance.records()) do
      if not o.filter or o.filter(r) then names[#names + 1] = r.name end
    end
  else
    for i = 1, #opts do names[#names + 1] = opts[i] end
    if #names == 0 and o.default then names[1] = o.default end
  end
  if #names == 0 and not opts.all then
    errors.usage(string.format("%s needs an instance name (or --all)", verb))
  end
  local worst = 0
  for _, n in ipairs(names) do
    local ok, err = pcall(fn, n)
    if not ok then
      if not errors.is(err) then error(err, 0) end
      if #names == 1 then error(err, 0) end
      io.stderr:write(verb, ": ", (err.message:gsub("^" .. verb .. ": ", "")), "\n")
      worst = math.max(worst, errors.exit_code(err.code))
    end
  end
  return worst
end

return M
