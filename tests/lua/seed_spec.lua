-- The user-data moonbase sends: a user's #! script is carried in the merged
-- cloud-config as it is when YAML can carry it, base64-encoded when not
-- (not UTF-8, or a control character YAML forbids); the result always parses.
local seed = require("moonbase._core.seed")
local yaml = require("moonbase.engine.yaml")

local opts = { user = "moonbase", authorized_key = "ssh-ed25519 AAAA key",
  host_private = "-----BEGIN KEY-----\nx\n-----END KEY-----\n", host_public = "ssh-ed25519 AAAA host" }

local function script_file(user_data)
  local doc = assert(yaml.parse(seed.user_data(user_data, opts)))
  assert.is_table(doc.users)
  for _, f in ipairs(doc.write_files or {}) do
    if f.path == "/var/lib/moonbase/user-script" then return f end
  end
  error("no user script in the merged user-data")
end

describe("user-data with a #! script", function()
  it("carries a printable script as it is", function()
    local f = script_file("#!/bin/sh\necho 'tab\there' é\n")
    assert.equal("#!/bin/sh\necho 'tab\there' é\n", f.content)
    assert.is_nil(f.encoding)
  end)

  for what, script in pairs({
    ["not UTF-8"] = "#!/bin/sh\necho \xff\xfe\n",
    ["a C0 control character (found by fuzzing)"] = "#!in\1\1/sh\necho scrkpt\n",
    ["DEL"] = "#!/bin/sh\necho \127\n",
    ["a C1 control character"] = "#!/bin/sh\necho \u{9b}\n",
  }) do
    it("base64-encodes a script with " .. what .. ", and the user-data parses", function()
      local f = script_file(script)
      assert.equal("b64", f.encoding)
      assert.matches("^[A-Za-z0-9+/=]+$", f.content)
    end)
  end
end)
