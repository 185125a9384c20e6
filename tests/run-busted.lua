-- Runs busted inside the moonbase binary (`moonbase --lua tests/run-busted.lua
-- [busted options] DIR`), so specs can require moonbase's Lua and C modules.
-- tests/lua/ is on the path so specs can `require "helpers"`.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/lua/?.lua;" .. package.path
require("busted.runner")({ standalone = false })
