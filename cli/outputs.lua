-- moonbase outputs [RECIPE [NAME]] [--param NAME=VALUE]... [--format FORMAT]
local recipe = require("moonbase.recipe")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

return {
  summary = "Show a recipe's outputs",
  usage = "moonbase outputs [RECIPE [NAME]] [--param NAME=VALUE]... [--format FORMAT]",
  description = "Evaluates the recipe's output() declarations against its running " ..
    "instances. With NAME, prints that output's value alone (tables as JSON), for scripts.",
  options = { recipe.param_option, format.option },
  max_args = 2,
  run = function(opts)
    local model = recipe.load(opts[1], { params = recipe.parse_params(opts.param) })
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
    if opts.format == "json" or opts.format == "yaml" then
      local map = {}
      for _, o in ipairs(list) do
        if not o.error then map[o.name] = o.value end
      end
      format.print({}, opts.format, { value = map })
    else
      local rows = {}
      for _, o in ipairs(list) do
        local v = o.value
        if type(v) == "table" then v = format.json(v):gsub("%s*\n%s*", " ") end
        rows[#rows + 1] = { name = o.name, value = o.error and ("(failed: " .. o.error .. ")")
          or tostring(v) }
      end
      format.print(rows, opts.format, { columns = { { key = "name", title = "Name" },
        { key = "value", title = "Value" } }, empty = "The recipe declares no outputs." })
    end
    return failed > 0 and 2 or 0
  end,
}
