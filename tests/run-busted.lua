-- Runs busted inside the moonbase binary (`moonbase --lua tests/run-busted.lua
-- [busted options] DIR`), so specs can require moonbase's Lua and C modules.
-- tests/lua/ is on the path so specs can `require "helpers"`; every run times
-- its spec files and prints the slowest at the end (tests/busted-timing.lua).
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. package.path
local has_helper = false
for _, a in ipairs(arg) do
    if a:match("^%-%-helper") then has_helper = true end
end
if not has_helper then table.insert(arg, 1, "--helper=" .. here .. "/busted-timing.lua") end
require("busted.runner")({ standalone = false })
