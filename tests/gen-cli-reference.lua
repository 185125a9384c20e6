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
