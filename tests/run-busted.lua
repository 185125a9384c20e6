-- Runs busted inside the moonbase binary (`moonbase --lua tests/run-busted.lua
-- [busted options] DIR`), so specs can require moonbase's Lua and C modules.
require("busted.runner")({ standalone = false })
