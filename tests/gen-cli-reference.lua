-- Writes docs/cli.md from the commands' own usage text (moonbase.usage, the
-- same text as --help and the man pages):
--   build/moonbase --lua tests/gen-cli-reference.lua > docs/cli.md
-- tests/lua/docs_spec.lua fails when docs/cli.md is out of date.
local commands = require("moonbase.commands")
local usage = require("moonbase.usage")

local list = {}
for _, name in ipairs(commands.bundled()) do
  local cmd = require("cli." .. name)
  if not cmd.hidden then list[#list + 1] = { name = name, cmd = cmd } end
end
io.write(usage.markdown(list))
