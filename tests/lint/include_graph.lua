-- The include graph of engine/ and drivers/ has no cycle.
--
--   lua5.4 tests/lint/include_graph.lua ROOT
--
-- A unit is a .c file together with the header of the same name in the same
-- folder (engine/ssh/ssh.c + ssh.h); a header with no such .c file is a unit
-- of its own. A file that includes a header depends on:
--   - the unit that defines each function of the header the file uses, so a
--     private header shared by several .c files (as sftp_priv.h was) cannot hide
--     two of them calling each other;
--   - the header's own unit, unless the file implements the header (defines
--     a function it declares: a facade such as ssh.h is included by every
--     file of its subsystem for its own prototypes).
-- Every `#include "..."` must name a file from engine/ ("core/error.h") or
-- from the root ("drivers/qemu/qmp.h"), never one relative to the including
-- file's folder. Exits 1 with the cycles found (and the includes and
-- functions that make each edge), 0 when there are none.

local root = assert(arg[1], "usage: include_graph.lua ROOT")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- Every .c and .h under engine/ and drivers/, as paths relative to root.
local files = {}
for _, top in ipairs({ "engine", "drivers" }) do
  local p = io.popen("cd '" .. root .. "' && find " .. top ..
    " -type f \\( -name '*.c' -o -name '*.h' \\) 2>/dev/null | LC_ALL=C sort")
  for line in p:lines() do files[#files + 1] = line end
  p:close()
end
if #files == 0 then
  io.stderr:write("include_graph: no C files under " .. root .. "/engine or /drivers\n")
  os.exit(2)
end

-- Comments, string and character literals and preprocessor lines removed:
-- what is left is declarations and code.
local function strip(src)
  src = src:gsub("\\\n", " ")
  local out, i, n = {}, 1, #src
  while i <= n do
    local c, two = src:sub(i, i), src:sub(i, i + 1)
    if two == "/*" then
      local e = src:find("*/", i + 2, true) or n - 1
      out[#out + 1] = " "
      i = e + 2
    elseif two == "//" then
      i = (src:find("\n", i, true) or n + 1)
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and src:sub(j, j) ~= c do
        j = j + (src:sub(j, j) == "\\" and 2 or 1)
      end
      out[#out + 1] = c .. c
      i = j + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  local lines = {}
  for line in (table.concat(out) .. "\n"):gmatch("(.-)\n") do
    lines[#lines + 1] = line:match("^%s*#") and "" or line
  end
  return table.concat(lines, "\n")
end

local not_names = { ["__attribute__"] = true, ["if"] = true, ["while"] = true,
  ["for"] = true, ["switch"] = true, ["return"] = true, ["sizeof"] = true }

-- The function a top-level declaration or definition head names, if any.
local function function_name(head)
  if head:match("^%s*typedef%f[%W]") or head:find("=", 1, true) then return nil end
  for name, rest in head:gmatch("([%a_][%w_]*)%s*(%b())") do
    if not not_names[name] then
      local before = head:sub(1, (head:find(name .. "%s*%(")) - 1)
      if before:match("%(%s*%*?%s*$") then return nil end -- (*pointer)(...)
      return name, before:match("%f[%w_]static%f[%W]") ~= nil
    end
  end
  return nil
end

-- Functions declared (prototypes) and defined (with a body, not static).
local function scan(code)
  local declared, defined = {}, {}
  local depth, head = 0, {}
  for c in code:gmatch(".") do
    if c == "{" then
      if depth == 0 then
        local name, static = function_name(table.concat(head))
        if name and not static then defined[name] = true end
      end
      depth = depth + 1
      head = {}
    elseif c == "}" then
      depth = depth - 1
      head = {}
    elseif c == ";" then
      if depth == 0 then
        local name, static = function_name(table.concat(head))
        if name and not static then declared[name] = true end
      end
      head = {}
    elseif depth == 0 then
      head[#head + 1] = c
    end
  end
  return declared, defined
end

local info = {} -- path -> { includes, declared, defined, idents }
local definer = {} -- function -> unit that defines it
local problems = {}

local function unit_of(path)
  local stem = path:match("^(.*)%.[ch]$")
  if path:match("%.h$") and not exists(root .. "/" .. stem .. ".c") then
    return path -- a header of its own
  end
  return stem
end

for _, path in ipairs(files) do
  local src = read(root .. "/" .. path)
  local code = strip(src)
  local declared, defined = scan(code)
  local idents = {}
  for id in code:gmatch("[%a_][%w_]*") do idents[id] = true end
  local includes = {}
  for inc in src:gmatch('\n%s*#%s*include%s*"([^"]+)"') do includes[#includes + 1] = inc end
  if src:match('^%s*#%s*include%s*"([^"]+)"') then
    table.insert(includes, 1, src:match('^%s*#%s*include%s*"([^"]+)"'))
  end
  info[path] = { includes = includes, declared = declared, defined = defined, idents = idents }
  for name in pairs(defined) do
    if path:match("%.c$") then definer[name] = unit_of(path) end
  end
end

local function resolve(inc)
  for _, candidate in ipairs({ "engine/" .. inc, inc }) do
    if info[candidate] then return candidate end
  end
  return nil
end

-- edges[a][b] = { "a.c includes b.h (uses f, g)", ... }
local edges = {}
local function edge(a, b, why)
  if a == b then return end
  edges[a] = edges[a] or {}
  edges[a][b] = edges[a][b] or {}
  table.insert(edges[a][b], why)
end

for _, path in ipairs(files) do
  local f, u = info[path], unit_of(path)
  for _, inc in ipairs(f.includes) do
    local h = resolve(inc)
    local data = not h and not inc:match("%.[ch]$") and
      (exists(root .. "/" .. inc) or exists(root .. "/engine/" .. inc))
    if data then
      -- a list included for its lines (an X-macro file: drivers/drivers.def),
      -- no unit of code: no edge
    elseif not h then
      problems[#problems + 1] = string.format(
        '%s: #include "%s" names no file from engine/ or the root ' ..
        '(write it as "<subsystem>/%s" or "drivers/<driver>/%s")', path, inc, inc, inc)
    else
      local hi, implements, uses = info[h], false, {}
      for name in pairs(hi.declared) do
        if f.defined[name] then implements = true end
        local d = definer[name]
        if d and d ~= u and f.idents[name] then
          uses[d] = uses[d] or {}
          table.insert(uses[d], name)
        end
      end
      for d, names in pairs(uses) do
        table.sort(names)
        edge(u, d, string.format("%s includes %s (uses %s)", path, h,
          table.concat(names, ", ")))
      end
      if not implements then edge(u, unit_of(h), path .. " includes " .. h) end
    end
  end
end

-- Cycles: the strongly connected components of more than one unit.
local function sorted_keys(t)
 local k = {}
 for key in pairs(t or {}) do k[#k + 1] = key end
 table.sort(k)
 return k
end
local units = {}
for _, path in ipairs(files) do units[unit_of(path)] = true end
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local sccs = dofile(here .. "/../lib/graph.lua").cycles(sorted_keys(units), function(v)
 return sorted_keys(edges[v])
end)

for _, p in ipairs(problems) do io.stderr:write(p, "\n") end
for _, scc in ipairs(sccs) do
  io.stderr:write("include cycle between ", table.concat(scc, ", "), ":\n")
  local member = {}
  for _, u in ipairs(scc) do member[u] = true end
  for _, a in ipairs(scc) do
    for _, b in ipairs(sorted_keys(edges[a])) do
      if member[b] then
        for _, why in ipairs(edges[a][b]) do io.stderr:write("    ", why, "\n") end
      end
    end
  end
end
if #problems > 0 or #sccs > 0 then os.exit(1) end
local n = 0
for _ in pairs(units) do n = n + 1 end
print(string.format("include_graph: %d units in engine/ and drivers/, no cycle", n))
