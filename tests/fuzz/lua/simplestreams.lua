-- Fuzzes the simplestreams readers: any index.json or products document
-- gives a result or nil, message, never a Lua error.
package.path = os.getenv("MB_FUZZ_DIR_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local ss = require("moonbase._core.simplestreams")

return function(text)
  local bug = common.bug(ss.parse_index, text, "index.json")
  if bug then return bug end
  for _, all in ipairs({ false, true }) do
    bug = common.bug(function()
      local images, msg = ss.parse_products(text, "products.json", "amd64", { all = all })
      if images then
        for _, im in ipairs(images) do ss.lookup(images, im.aliases and im.aliases[1] or "x") end
      elseif type(msg) ~= "string" then
        error("parse_products gave neither images nor a message")
      end
    end)
    if bug then return bug end
  end
end
