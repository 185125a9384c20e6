-- moonbase.args: options, typed values, and their errors.
local args = require("moonbase.args")

describe("args.parse", function()
  local spec = {
    { "name", "n" },
    { "cpus", "c", type = "int", min = 1 },
    { "memory", "m", type = "size", default = "1G" },
    { "force", "f", type = "flag" },
    { "recursive", "r", type = "flag" },
    { "env", "e", repeated = true },
    { "format", type = "enum", values = { "table", "json" }, default = "table" },
    { "older-than", type = "duration" },
  }

  it("reads long options, --opt=value, short options and positionals", function()
    local o = assert(args.parse({ "img", "--name", "a", "--cpus=2", "-m", "512M", "x" }, spec))
    assert.same({ "img", "x" }, { o[1], o[2] })
    assert.equal("a", o.name)
    assert.equal(2, o.cpus)
    assert.equal(512 * 1024 * 1024, o.memory)
  end)

  it("applies defaults and parses them with the option's type", function()
    local o = assert(args.parse({}, spec))
    assert.equal(1024 ^ 3, o.memory)
    assert.equal("table", o.format)
    assert.same({}, o.env)
    assert.is_nil(o.force)
  end)

  it("bundles short flags and attaches short values", function()
    local o = assert(args.parse({ "-rf", "-nweb", "-c4" }, spec))
    assert.is_true(o.recursive)
    assert.is_true(o.force)
    assert.equal("web", o.name)
    assert.equal(4, o.cpus)
  end)

  it("collects repeated options in order", function()
    local o = assert(args.parse({ "-e", "A=1", "--env=B=2", "--env", "C=3" }, spec))
    assert.same({ "A=1", "B=2", "C=3" }, o.env)
  end)

  it("stops at --", function()
    local o = assert(args.parse({ "vm", "--", "ls", "-la", "--name" }, spec))
    assert.same({ "vm", "ls", "-la", "--name" }, { o[1], o[2], o[3], o[4] })
    assert.is_nil(o.name)
  end)

  it("maps dashes to underscores and parses durations", function()
    local o = assert(args.parse({ "--older-than", "14d" }, spec))
    assert.equal(14 * 86400, o.older_than)
  end)

  it("accepts --no-FLAG", function()
    local o = assert(args.parse({ "--no-force" }, spec))
    assert.is_false(o.force)
  end)

  it("keeps negative numbers as positionals", function()
    local o = assert(args.parse({ "-5" }, spec))
    assert.equal("-5", o[1])
  end)

  local bad = {
    { { "--bogus" }, "unknown option --bogus" },
    { { "-z" }, "unknown option -z" },
    { { "--name" }, "--name needs a value" },
    { { "-n" }, "-n needs a value" },
    { { "--force=yes" }, "--force takes no value" },
    { { "--cpus", "two" }, "--cpus: expected a whole number, got \"two\"" },
    { { "--cpus", "0" }, "--cpus: must be at least 1" },
    { { "--memory", "12Q" }, "--memory: invalid size \"12Q\": unknown unit \"Q\"" },
    { { "-m", "lots" }, "-m: invalid size \"lots\"" },
    { { "--format", "xml" }, "--format: \"xml\" is not one of: table, json" },
    { { "--older-than", "5y" }, "--older-than: invalid duration \"5y\"" },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. table.concat(case[1], " "), function()
      local o, msg = args.parse(case[1], spec)
      assert.is_nil(o)
      assert.truthy(msg:find(case[2], 1, true), msg)
      assert.is_nil(msg:find("\n"))
    end)
  end
end)

describe("args.help", function()
  it("lists options with metavars, defaults and repeatability", function()
    local h = args.help({
      { "memory", "m", type = "size", default = "1G", help = "memory" },
      { "env", repeated = true, metavar = "K=V", help = "variable" },
      { "secret", hidden = true },
    })
    assert.truthy(h:find("-m, --memory SIZE  memory (default: 1G)", 1, true), h)
    assert.truthy(h:find("--env K=V", 1, true))
    assert.truthy(h:find("(repeatable)", 1, true))
    assert.is_nil(h:find("secret"))
  end)
end)

describe("size parsing from C", function()
  local util = require("moonbase.engine.util")
  it("reads binary units", function()
    assert.equal(512 * 1024 ^ 2, util.parse_size("512M"))
    assert.equal(5 * 1024 ^ 3, util.parse_size("5G"))
    assert.equal(1.5 * 1024 ^ 3, util.parse_size("1.5GiB"))
  end)
  it("returns nil, message, code for bad input", function()
    local v, msg, code = util.parse_size("5 apples")
    assert.is_nil(v)
    assert.truthy(msg:find("invalid size"))
    assert.equal("usage", code)
  end)
end)
