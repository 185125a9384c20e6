-- Writes docs/cli.md from the commands' own usage text:
--   build/moonbase --lua tests/gen-cli-reference.lua > docs/cli.md
-- tests/lua/docs_spec.lua fails when docs/cli.md is out of date.
local commands = require("moonbase.commands")

local out = {
  "# moonbase command reference",
  "",
  "Generated from each command's own `--help` by `tests/gen-cli-reference.lua`; " ..
    "do not edit by hand.",
  "",
  "Exit status: 0 ok, 1 usage error, 2 the operation failed, 5 timeout; `exec` " ..
    "returns the remote command's status.",
  "",
  "Every listing takes `--format table|json|yaml|csv` and shows the same fields in each, " ..
    "under the names listed with the command. JSON, YAML and CSV carry full values: sizes " ..
    "in bytes, durations in seconds, times in ISO 8601 UTC, full ids; a missing value is " ..
    "`null` (an empty CSV field). Only the table abbreviates, as each field says, and " ..
    "leaves out the fields marked *not in the table*.",
  "",
}
for _, name in ipairs(commands.bundled()) do
  local cmd = require("cli." .. name)
  if not cmd.hidden then
    out[#out + 1] = "## " .. name
    out[#out + 1] = ""
    out[#out + 1] = cmd.summary or ""
    out[#out + 1] = ""
    out[#out + 1] = "```"
    out[#out + 1] = (commands.command_help(name, cmd):gsub("\n$", ""))
    out[#out + 1] = "```"
    out[#out + 1] = ""

  end
end
io.write(table.concat(out, "\n"))
