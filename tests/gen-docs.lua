-- Rewrites the generated sections of the docs in place, from the code:
--   build/moonbase --lua tests/gen-docs.lua [--check]
-- A section is the text between "<!-- generated: NAME -->" and
-- "<!-- end: NAME -->". With --check, writes nothing and exits 1 when a
-- section is out of date (tests/lua/docs_spec.lua runs it).
local fs = require("moonbase.engine.fs")
local usage = require("moonbase.usage")

local src = (arg[0]:match("^(.*)/tests/[^/]*$") or ".")
local sections = {
  ["docs/getting-started.md"] = {
    settings = usage.settings_markdown,
    environment = usage.environment_markdown,
  },
}

local check = arg[1] == "--check"
local stale = {}
for file, gens in pairs(sections) do
  local path = src .. "/" .. file
  local text = assert(fs.read(path))
  local new = text
  for name, gen in pairs(gens) do
    local open, close = "<!-- generated: " .. name .. " -->\n", "<!-- end: " .. name .. " -->"
    local a = new:find(open, 1, true)
    local b = a and new:find(close, a, true)
    assert(a and b, file .. " has no section " .. name)
    new = new:sub(1, a + #open - 1) .. gen() .. new:sub(b)
  end
  if new ~= text then
    stale[#stale + 1] = file
    if not check then assert(fs.write(path, new)) end
  end
end
if check and #stale > 0 then
  io.stderr:write("out of date: ", table.concat(stale, ", "),
    " (run: build/moonbase --lua tests/gen-docs.lua)\n")
  return 1
end
return 0
