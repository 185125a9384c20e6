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
  { key = "memory", title = "Memory" }, { key = "note", title = "Note" } }

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
    assert.equal("name,state,ipv4,image,memory,note\n",
      format.render({}, "csv", { columns = columns }))
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

  it("shows the same fields in every format, full values but in the table", function()
    local cols = { { key = "id", title = "ID", kind = "id" },
      { key = "size", title = "Size", kind = "bytes" },
      { key = "up", title = "Uptime", kind = "seconds" },
      { key = "seen", title = "Seen", kind = "age" },
      { key = "at", title = "At", kind = "time" },
      { key = "tags", title = "Tags", kind = "list" },
      { key = "extra", title = "Extra", detail = true } }
    local id = string.rep("ab", 32)
    local now = require("moonbase.engine.util").time()
    local data = { { id = id, size = 1536 * 1024, up = 3725, seen = math.floor(now),
      at = 86400.25, tags = {}, extra = { a = 1, b = { "x", "y" } } }, { id = "short" } }
    assert.equal("ID            Size  Uptime    Seen      At                        Tags\n" ..
      "abababababab  1.5M  1h 2m 5s  just now  1970-01-02T00:00:00.250Z  --\n" ..
      "short         --    --        --        --                        --\n",
      format.render(data, "table", { columns = cols, color = false }))
    assert.equal("id,size,up,seen,at,tags,extra\n" .. id .. ",1572864,3725," ..
      format.time(math.floor(now)) .. ",1970-01-02T00:00:00.250Z,," ..
      '"{""a"": 1, ""b"": [""x"", ""y""]}"\nshort,,,,,,\n',
      format.render(data, "csv", { columns = cols }))
    local text = format.render(data, "json", { columns = cols })
    assert.truthy(text:find('"tags": []', 1, true), text)
    local back = require("moonbase.engine.json").decode(text)
    assert.equal(id, back[1].id)
    assert.equal("1970-01-02T00:00:00.250Z", back[1].at)
    assert.equal(format.time(math.floor(now)), back[1].seen)
    assert.same({ "x", "y" }, back[1].extra.b)
    for _, c in ipairs(cols) do
      assert.is_not_nil(back[2][c.key], c.key .. " missing in row 2") -- null, not absent
    end
  end)

  it("prints an empty list as [] in YAML too, never \" []\"", function()
    assert.equal("[]\n", format.render({}, "yaml", { columns = columns }))
    assert.equal("{}\n", format.yaml({}))
  end)

  it("turns epoch times into ISO 8601 UTC and back", function()
    assert.equal("2024-02-29T12:34:56Z", format.time(1709210096))
    assert.equal("2024-02-29T12:34:56.500Z", format.time(1709210096.5))
    assert.equal(1709210096, format.epoch("2024-02-29T12:34:56Z"))
    assert.equal(1709210096.5, format.epoch("2024-02-29T12:34:56.500Z"))
    assert.equal("just now", format.ago(1000, 1030))
    assert.equal("2m ago", format.ago(1000, 1150))
    assert.equal("1d 2h ago", format.ago(0, 86400 + 7200 + 1234))
  end)

  it("honours NO_COLOR", function()
    local util = require("moonbase.engine.util")
    util.setenv("NO_COLOR", "1")
    assert.is_false(format.use_color(1))
    util.setenv("NO_COLOR", nil)
  end)
end)
