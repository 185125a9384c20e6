-- moonbase remote list | add NAME URL | remove NAME
local remotes = require("moonbase.remotes")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

local usage = "moonbase remote list [--format FORMAT] | remote add NAME URL | remote remove NAME"

local columns = { { key = "name", title = "Name" }, { key = "url", title = "URL" },
  { key = "kind", title = "Kind" } }

local verbs = {
  list = { 0, function(opts)
    local rows = {}
    local list, warnings = remotes.list()
    for _, w in ipairs(warnings) do io.stderr:write("remote: warning: ", w, "\n") end
    for _, r in ipairs(list) do
      rows[#rows + 1] = { name = r.name, url = r.url, kind = r.builtin and "built-in" or "user" }
    end
    format.print(rows, opts.format, { columns = columns })
  end },
  add = { 2, function(opts)
    local url, warning = remotes.add(opts[2], opts[3])
    if warning then io.stderr:write("remote: warning: ", warning, "\n") end
    print(string.format('Added remote "%s": %s', opts[2], url))
  end },
  remove = { 1, function(opts)
    remotes.remove(opts[2])
    print(string.format('Removed remote "%s"', opts[2]))
  end },
}

return {
  columns = columns,
  summary = "List, add or remove image remotes",
  complete = { sub = { list = {}, add = {}, remove = { "remote" } } },
  usage = usage,
  description = "A remote is a simplestreams image host (streams/v1/index.json under its " ..
    "URL). Built in: ubuntu (releases) and ubuntu-daily. Images on a remote are named " ..
    "REMOTE:ALIAS, e.g. ubuntu:24.04. Remotes are kept in <config>/remotes.json.",
  options = { format.option },
  min_args = 1,
  max_args = 3,
  run = function(opts)
    local verb = verbs[opts[1]]
    if not verb then
      errors.usage(string.format('unknown subcommand "%s" (use list, add or remove)', opts[1]))
    end
    if #opts - 1 ~= verb[1] then
      errors.usage(string.format("remote %s takes %d argument%s: %s", opts[1], verb[1],
        verb[1] == 1 and "" or "s", usage))
    end
    verb[2](opts)
    return 0
  end,
}
