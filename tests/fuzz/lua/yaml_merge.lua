-- Fuzzes the cloud-init merge: any user-data must give merged user-data
-- that parses as YAML again (the C parser, engine/yaml) or a usage error.
package.path = os.getenv("MB_FUZZ_DIR_LUA") .. "/?.lua;" .. package.path
local common = require("common")
local seed = require("moonbase._core.seed")
local yaml = require("moonbase.engine.yaml")

return function(text)
  local out
  local bug = common.bug(function()
    out = seed.user_data(text, { user = "moonbase", authorized_key = "ssh-ed25519 AAAA key",
      host_private = "-----BEGIN KEY-----\nx\n-----END KEY-----\n",
      host_public = "ssh-ed25519 AAAA host" })
  end)
  if bug then return bug end
  if out then
    local doc, msg = yaml.parse(out)
    if not doc then return "the merged user-data does not parse: " .. tostring(msg) end
    if type(doc) ~= "table" or type(doc.users) ~= "table" then
      return "the merged user-data lost its users"
    end
  end
end
