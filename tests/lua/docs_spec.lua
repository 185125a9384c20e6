-- The docs a user reads match the code.
local helpers = require("helpers")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")

describe("docs", function()
  it("docs/cli.md is generated from the commands' usage text (regenerate it if this fails)",
    function()
      local code, out, err = process.run({ helpers.bin, "--lua",
        helpers.src .. "/tests/gen-cli-reference.lua" })
      assert.equal(0, code, err)
      assert.equal(out, fs.read(helpers.src .. "/docs/cli.md"),
        "run: build/moonbase --lua tests/gen-cli-reference.lua > docs/cli.md")
    end)

  it("the README opens with the set-up-and-run and set-up-and-test commands", function()
    local readme = assert(fs.read(helpers.src .. "/README.md"))
    local blocks = {}
    for b in readme:gmatch("```sh\n(.-)```") do blocks[#blocks + 1] = b end
    assert.truthy(#blocks >= 2)
    assert.truthy(blocks[1]:find(".ci/setup", 1, true))
    assert.truthy(blocks[2]:find(".ci/setup", 1, true) and blocks[2]:find("ctest", 1, true))
    assert.truthy(fs.read(helpers.src .. "/.ci/run"):find(blocks[2]:match("bash (.-)\n"), 1,
      true))
  end)
end)
