-- Fuzzes recipe loading: any file given to `moonbase plan` must load into a
-- model or be refused with one message (nil, message), under a short time
-- budget, never with a Lua error that escapes the sandbox.
package.path = os.getenv("MB_FUZZ_DIR_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local lang = require("moonbase._core.recipe_lang")
-- a smaller memory budget than a user's: the fuzzer's own memory is bounded
require("moonbase._core.recipe_sandbox").memory_limit = 64 * 1024

local dir = "/tmp/mb-fuzz-recipe-" .. util.getpid()
fs.mkdirs(dir)
assert(fs.write(dir .. "/conf.txt", "a file of the recipe's folder\n"))
local caps = { networks = true, mounts = true, forwards = true }

return function(text)
  assert(fs.write(dir .. "/app.lua", text))
  local model, msg
  local bug = common.bug(function()
    model, msg = lang.load({ path = dir .. "/app.lua", shown = "app.lua", dir = dir,
      shown_dir = ".", capabilities = caps, budget = 0.2, project_default = "app",
      params = { webs = "2" } })
  end)
  if bug then return bug end
  if not model and type(msg) ~= "string" then
    return "a refused recipe gave no message but a " .. type(msg)
  end
end
