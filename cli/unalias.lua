-- moonbase unalias NAME... | --all
local aliases = require("moonbase.aliases")
local errors = require("moonbase.errors")

return {
  summary = "Remove aliases",
  complete = { "alias", rest = true },
  usage = "moonbase unalias NAME... | unalias --all",
  options = { { "all", type = "flag", help = "every alias" } },
  run = function(opts)
    if opts.all then
      if #opts > 0 then errors.usage("give alias names or --all, not both") end
      local names = {}
      for n in pairs(aliases.all()) do names[#names + 1] = n end
      table.sort(names)
      if #names > 0 then aliases.delete(names) end
      return 0
    end
    if #opts == 0 then errors.usage("unalias needs an alias name (or --all)") end
    aliases.delete({ table.unpack(opts, 1, #opts) })
    return 0
  end,
}
