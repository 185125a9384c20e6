-- moonbase.format: each format against a golden file (MB_UPDATE_GOLDEN=1
-- rewrites them; review the diff before committing).
local format = require("moonbase.format")
local fs = require("moonbase.engine.fs")
local helpers = require("helpers")

local golden_dir = helpers.src .. "/tests/golden/format/"

local rows = {
  { name = "web-1", state = "running", ipv4 = format.array({ "10.77.0.10", "192.0.2.7" }),
    image = "local:tiny", memory = 1073741824 },
  { name = "db", state = "stopped", ipv4 = format.array({}), image = "ubuntu:24.04",
    memory = 2147483648 },
  { name = "quote\"comma,", state = "suspended", ipv4 = format.array({ "10.77.0.11" }),
    image = "file:///srv/my image.qcow2", memory = 536870912, note = "yes" },
}
local columns = { { key = "name", title = "Name" }, { key = "state", title = "State" },
  { key = "ipv4", title = "IPv4" }, { key = "image", title = "Image" },
  { key = "memory", title = "Memory" } }

local function golden(name, got)
  local path = golden_dir .. name
  if os.getenv("MB_UPDATE_GOLDEN") then
    assert(fs.mkdirs(golden_dir))
    assert(fs.write(path, got))
  end
  local want = assert(fs.read(path))
  assert.equal(want, got)
end

describe("format", function()
  for _, f in ipairs({ "table", "json", "yaml", "csv" }) do
    it("renders a listing as " .. f, function()
      golden("list." .. f, format.render(rows, f, { columns = columns, color = false }))
    end)
  end

  it("renders the table with colour only when asked", function()
    local plain = format.render(rows, "table", { columns = columns, color = false })
    local colored = format.render(rows, "table", { columns = columns, color = true })
    assert.is_nil(plain:find("\27", 1, true))
    assert.truthy(colored:find("\27[1mName", 1, true))
    assert.truthy(colored:find("\27[32mrunning\27[0m", 1, true))
    assert.equal(plain, (colored:gsub("\27%[[%d;]*m", "")))
  end)

  it("aligns columns by display width", function()
    local out = format.render({ { a = "ü", b = "x" }, { a = "abc", b = "y" } }, "table",
      { columns = { { key = "a" }, { key = "b" } }, color = false })
    assert.equal("a    b\nü    x\nabc  y\n", out)
  end)

  it("prints the empty message for an empty table, and [] for empty JSON", function()
    assert.equal("No instances found.\n", format.render({}, "table",
      { columns = columns, empty = "No instances found." }))
    assert.equal("[]\n", format.render({}, "json", { columns = columns }))
    assert.equal("name,state,ipv4,image,memory\n", format.render({}, "csv", { columns = columns }))
  end)

  it("renders nested values in JSON and YAML the same way", function()
    local v = { b = { 1, 2, { x = true } }, a = "on", c = { }, d = "line\nbreak" }
    golden("nested.json", format.json(v))
    golden("nested.yaml", format.yaml(v))
  end)

  it("produces YAML that libyaml parses back to the same data", function()
    local yaml = require("moonbase.engine.yaml")
    local back = yaml.parse(format.render(rows, "yaml", { columns = columns }))
    assert.equal("quote\"comma,", back[3].name)
    assert.equal("file:///srv/my image.qcow2", back[3].image)
    assert.same({ "10.77.0.10", "192.0.2.7" }, back[1].ipv4)
    assert.equal(536870912, back[3].memory)
    assert.equal("yes", back[3].note) -- a string, not a boolean
  end)

  it("honours NO_COLOR", function()
    local util = require("moonbase.engine.util")
    util.setenv("NO_COLOR", "1")
    assert.is_false(format.use_color(1))
    util.setenv("NO_COLOR", nil)
  end)
end)
