-- Every recipe example in docs/recipes.md, as written, on the test driver:
-- each ```lua block carries a marker before it that says what it is,
--   <!-- example: NAME.lua -->             a whole recipe file: planned
--   <!-- example: NAME.lua, up -->         ... and brought up, then unchanged
--   <!-- example: NAME.lua, continued -->  added to the end of NAME.lua
--   <!-- example: keys of an instance -->  keys, planned inside instance {...}
--   <!-- example: FILE -->                 (another block) a file recipes read
-- and a block without a marker fails the spec, so a new example is tested too.
local helpers = require("helpers")
local common = require("recipes.common")
local fs = require("moonbase.engine.fs")

local function examples()
  local text = assert(fs.read(helpers.src .. "/docs/recipes.md"))
  local out, unmarked = {}, {}
  local pos = 1
  while true do
    local a, b, lang = text:find("\n```(%a+)\n", pos)
    if not a then break end
    local close = assert(text:find("\n```\n", b, true), "an unclosed block")
    local body = text:sub(b + 1, close)
    local before = text:sub(1, a)
    local marker = before:match("<!%-%- example: ([^\n]-) %-%->\n$")
    local line = select(2, text:sub(1, a):gsub("\n", "")) + 2
    if marker then
      local name, rest = marker:match("^([^,]+)(.*)$")
      out[#out + 1] = { name = name, lang = lang, body = body, line = line,
        continued = rest:find("continued", 1, true) ~= nil,
        up = rest:find("up", 1, true) ~= nil }
    elseif lang == "lua" then
      unmarked[#unmarked + 1] = line
    end
    pos = close + 4
  end
  return out, unmarked
end

describe("the examples of docs/recipes.md #recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  it("marks every Lua example with what it is", function()
    local list, unmarked = examples()
    assert.same({}, unmarked, "docs/recipes.md lines of ```lua blocks without an example marker")
    assert.truthy(#list >= 8, #list)
  end)

  it("plans every example as written, and brings up those marked up", function()
    local list = examples()
    assert(fs.mkdirs(r.dir .. "/site")) -- the folder step 6 shares
    -- the other files first (httpd.yaml): recipes read them when they load
    for _, e in ipairs(list) do
      if e.lang ~= "lua" then r:write(e.name, e.body) end
    end
    local files, planned, upped = {}, 0, 0
    for _, e in ipairs(list) do
      if e.lang == "lua" then
        local file, body = e.name, e.body
        if e.name == "keys of an instance" then
          file, body = "keys.lua", 'instance "snippet" {\n' .. e.body .. "}\n"
        elseif e.continued then
          body = assert(files[file], "line " .. e.line .. ": continues " .. file ..
            ", which no example before it starts") .. body
        end
        files[file] = body
        r:write(file, body)
        local code, out, err = r:run({ "plan", file })
        assert(code == 0, string.format("docs/recipes.md line %d (%s): plan exited %d: %s%s",
          e.line, file, code, err, out))
        planned = planned + 1
        if e.up then
          code, out, err = r:run({ "up", file, "-q" })
          assert(code == 0, string.format("docs/recipes.md line %d (%s): up exited %d: %s%s",
            e.line, file, code, err, out))
          local actions = r:actions(file)
          for inst, action in pairs(actions) do
            assert.equal("keep", action, "line " .. e.line .. ": " .. inst)
          end
          upped = upped + 1
        end
      end
    end
    assert.truthy(planned >= 8, planned)
    assert.truthy(upped >= 1, upped)
  end)
end)
