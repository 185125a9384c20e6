-- moonbase outputs [RECIPE [NAME]] [--param NAME=VALUE]... [--format FORMAT]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

return {
  summary = "Show a recipe's outputs",
  complete = { "recipe" },
  usage = "moonbase outputs [RECIPE [NAME]] [--param NAME=VALUE]... [--format FORMAT]",
  description = "Evaluates the recipe's output() declarations against its running " ..
    "instances. With NAME, prints that output's value alone (tables as JSON), for scripts. " ..
    "An output that fails is shown with its error (and on stderr), and the exit status is 2.",
  columns = recipe.columns.outputs,
  options = { recipe.param_option, format.option },
  max_args = 2,
  run = function(opts)
    local model = recipe.from_options(opts)
    local list = recipe.outputs(model)
    local failed = 0
    for _, o in ipairs(list) do
      if o.error then
        failed = failed + 1
        io.stderr:write(string.format("outputs: %s (%s): %s\n", o.name, o.where, o.error))
      end
    end
    if opts[2] then
      for _, o in ipairs(list) do
        if o.name == opts[2] then
          if o.error then return 2 end
          if type(o.value) == "table" then io.stdout:write(format.json(o.value))
          else print(tostring(o.value)) end
          return 0
        end
      end
      errors.usage(string.format("outputs: the recipe declares no output \"%s\"", opts[2]))
    end
    format.print(list, opts.format, { columns = recipe.columns.outputs,
      empty = "The recipe declares no outputs." })
    return failed > 0 and 2 or 0
  end,
}
