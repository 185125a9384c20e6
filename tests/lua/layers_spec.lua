-- The shape of lua/moonbase and cli/ (docs/architecture-notes.md, "Layers"):
-- every module says its layer in a `-- layer: NAME` line of its header, and
-- the require graph, lazy requires inside functions included, has no cycle
-- and no edge to a higher layer. Library code never loads cli.*; cli/ loads
-- only public modules and the engine's.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")

local ENGINE = "moonbase.engine." -- C modules (package.preload)

-- lowest first; a module may require modules of its own layer or below
local ORDER = { "engine", "records", "services", "orchestration", "facade", "cli", "main" }
local RANK = {}
for i, l in ipairs(ORDER) do RANK[l] = i end

local function walk(dir, rel, out)
  for _, n in ipairs(fs.list(dir) or {}) do
    local p, r = dir .. "/" .. n, rel and (rel .. "/" .. n) or n
    if fs.exists(p) == "directory" then
      walk(p, r, out)
    elseif n:match("%.lua$") and not n:match("%.d%.lua$") then -- *.d.lua: editor types only
      out[#out + 1] = r
    end
  end
  return out
end

-- Lua source without comments and with string contents kept only where a
-- require names them: good enough for this tree's plain require calls.
local function strip_comments(text)
  text = text:gsub("%-%-%[(=*)%[.-%]%1%]", "")
  return (text:gsub("%-%-[^\n]*", ""))
end

local function requires(text)
  local out = {}
  local code = strip_comments(text)
  for name in code:gmatch("require%s*%(?%s*[\"']([%w_%.%-]+)[\"']") do
    if name:sub(-1) ~= "." then out[#out + 1] = name end
  end
  for name in code:gmatch("pcall%(%s*require%s*,%s*[\"']([%w_%.%-]+)[\"']") do
    if name:sub(-1) ~= "." then out[#out + 1] = name end
  end
  -- require("cli." .. name): an edge to every command
  for prefix in code:gmatch("require%s*%(%s*[\"']([%w_%.]+%.)[\"']%s*%.%.") do
    out[#out + 1] = prefix .. "*"
  end
  for prefix in code:gmatch("pcall%(%s*require%s*,%s*[\"']([%w_%.]+%.)[\"']%s*%.%.") do
    out[#out + 1] = prefix .. "*"
  end
  return out
end

local function load_graph()
  local mods = {} -- name -> {layer=, file=, requires=, public=, text=}
  local function add(file, name, layer)
    local text = assert(fs.read(helpers.src .. "/" .. file))
    local m = { file = file, requires = requires(text), text = text, layer = layer }
    if not layer then
      local header = text:match("^(.-)\n[^%-\n]") or text
      m.layer = header:match("%-%- layer: (%a+)")
    end
    mods[name] = m
  end
  for _, rel in ipairs(walk(helpers.src .. "/lua/moonbase", nil, {})) do
    local name = "moonbase." .. rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    add("lua/moonbase/" .. rel, name)
    mods[name].public = not name:find("^moonbase%._core%.")
  end
  for _, rel in ipairs(walk(helpers.src .. "/cli", nil, {})) do
    add("cli/" .. rel, "cli." .. rel:gsub("%.lua$", ""), "cli")
  end
  return mods
end

local function layer_of(mods, name)
  if name:sub(1, #ENGINE) == ENGINE then return "engine" end
  if name == "cli.*" then return "cli" end
  return mods[name] and mods[name].layer
end

describe("the require graph of lua/ and cli/", function()
  local mods = load_graph()

  it("finds the modules", function()
    local n = 0
    for _ in pairs(mods) do n = n + 1 end
    assert.truthy(n > 60, "only " .. n .. " modules found")
    assert.truthy(mods["moonbase.instance"] and mods["cli.list"])
  end)

  it("places every module in a layer", function()
    local bad = {}
    for name, m in pairs(mods) do
      if not RANK[m.layer or ""] or m.layer == "engine" then
        bad[#bad + 1] = string.format("%s: no `-- layer: %s` line in its header", m.file,
          table.concat(ORDER, "|", 2, #ORDER - 2))
      elseif m.public and m.layer ~= "records" and m.layer ~= "facade" then
        bad[#bad + 1] = string.format("%s: a public module is a facade (or a leaf of the " ..
          "records layer), not %s: move the code to moonbase._core", m.file, m.layer)
      elseif not m.public and name:find("^moonbase%.") and m.layer == "facade" then
        bad[#bad + 1] = m.file .. ": a private module cannot be a facade"
      end
    end
    table.sort(bad)
    assert.same({}, bad)
  end)

  it("requires only modules that exist", function()
    local bad = {}
    for name, m in pairs(mods) do
      for _, r in ipairs(m.requires) do
        if not (mods[r] or r:sub(1, #ENGINE) == ENGINE or r == "cli.*") then
          bad[#bad + 1] = name .. " -> " .. r
        end
      end
    end
    table.sort(bad)
    assert.same({}, bad)
  end)

  it("has no edge to a higher layer", function()
    local bad = {}
    for name, m in pairs(mods) do
      for _, r in ipairs(m.requires) do
        local lr = layer_of(mods, r)
        if RANK[m.layer or ""] and RANK[lr or ""] and RANK[lr] > RANK[m.layer] then
          bad[#bad + 1] = string.format("%s (%s) -> %s (%s)", name, m.layer, r, lr)
        end
      end
    end
    table.sort(bad)
    assert.same({}, bad)
  end)

  it("keeps cli.* out of library code and _core out of cli/", function()
    local bad = {}
    for name, m in pairs(mods) do
      for _, r in ipairs(m.requires) do
        if m.layer ~= "cli" and m.layer ~= "main" and r:find("^cli%.") then
          bad[#bad + 1] = name .. " -> " .. r
        elseif m.layer == "cli" and r:find("^moonbase%._core%.") then
          bad[#bad + 1] = name .. " -> " .. r .. " (cli/ uses public modules only)"
        end
      end
    end
    table.sort(bad)
    assert.same({}, bad)
  end)

  it("has no cycle, lazy requires included", function()
    local graph = dofile(helpers.src .. "/tests/lib/graph.lua")
    local names = {}
    for name in pairs(mods) do names[#names + 1] = name end
    table.sort(names)
    local cycles = {}
    for _, scc in ipairs(graph.cycles(names, function(v) return mods[v].requires end)) do
      cycles[#cycles + 1] = table.concat(scc, " <-> ")
    end
    table.sort(cycles)
    assert.same({}, cycles)
  end)

  it("loads no sibling from a metatable", function()
    local bad = {}
    for _, m in pairs(mods) do
      local code = strip_comments(m.text)
      if code:find("__index%s*=%s*function[^\n]*require") then bad[#bad + 1] = m.file end
    end
    table.sort(bad)
    assert.same({}, bad)
  end)
end)

describe("the layer check itself", function()
  it("sees lazy, pcall'd and computed requires", function()
    local r = requires([[
local a = require("moonbase.a")
-- require("moonbase.commented")
local function f() return require "moonbase.b" end
local ok, c = pcall(require, "moonbase.c")
local d = require("cli." .. name)
local ok, e = pcall(require, "cli." .. other)
]])
    assert.same({ "moonbase.a", "moonbase.b", "moonbase.c", "cli.*", "cli.*" }, r)
  end)
end)
