-- The sandbox recipes run in (after Redis' script_lua.c and Knot Resolver):
-- an environment of allow-listed globals where reading an unknown global is
-- an error with file:line; io.open only reads files inside the recipe's
-- folder; require loads modules from that folder or a few side-effect-free
-- public moonbase modules; load takes text only and defaults to the sandbox.
-- Recipe code runs under a time and memory budget enforced by a count hook on
-- every thread it runs on (coroutines included), which pcall cannot swallow.
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")

local M = {}

-- public moonbase modules a recipe may require (pure: no host side effects)
M.public_modules = { ["moonbase.units"] = true, ["moonbase.format"] = true }

M.default_budget = 5          -- seconds of loading
M.memory_limit = 512 * 1024   -- KiB of Lua heap while recipe code runs
local HOOK_COUNT = 1000

local SAFE_GLOBALS = { "assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget",
  "rawlen", "rawset", "select", "tonumber", "tostring", "type", "_VERSION" }
local SAFE_OS = { "clock", "date", "difftime", "getenv", "time" }

local function copy(t, except)
  local out = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then out[k] = v end
  end
  return out
end

local function closest(name, candidates)
  local best, bestd
  for _, c in ipairs(candidates) do
    local a, b = name, c
    local prev = {}
    for j = 0, #b do prev[j] = j end
    for i = 1, #a do
      local cur = { [0] = i }
      for j = 1, #b do
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1,
          prev[j - 1] + (a:sub(i, i) == b:sub(j, j) and 0 or 1))
      end
      prev = cur
    end
    if not bestd or prev[#b] < bestd then best, bestd = c, prev[#b] end
  end
  local limit = #name <= 3 and 1 or math.max(2, #name // 3)
  if bestd and bestd <= limit then return best end
end
M.closest = closest

---------------------------------------------------------------- the budget
local budget = { active = false }

local function budget_error()
  return setmetatable({ budget = true, message = budget.message }, {
    __tostring = function(e) return e.message end })
end

local function hook()
  if not budget.active then return end
  if budget.expired then error(budget_error(), 0) end
  local over
  if util.now() > budget.deadline then
    over = string.format("%s took longer than %s s (an endless loop?)", budget.what,
      budget.seconds)
  elseif collectgarbage("count") > M.memory_limit then
    over = string.format("%s uses more than %d MiB of memory", budget.what,
      M.memory_limit // 1024)
  end
  if over then
    local info = debug.getinfo(2, "Sl")
    local at = (info and info.currentline and info.currentline > 0 and info.source:sub(1, 1) == "@")
      and (info.source:sub(2) .. ":" .. info.currentline .. ": ") or ""
    budget.expired = true
    budget.message = at .. over
    error(budget_error(), 0)
  end
end

local function is_budget_error(e)
  return type(e) == "table" and rawget(e, "budget") == true
end

---Runs fn(...) as recipe code: under the time/memory budget, with
---string.dump hidden (strings reach the real string table through their
---metatable). Nested calls share the outer budget.
---@param what string  e.g. "loading recipes/web.lua"
---@param seconds number
function M.run(what, seconds, fn, ...)
  if budget.active then return fn(...) end
  local saved_hook = { debug.gethook() }
  local saved_dump = string.dump
  budget.active, budget.expired, budget.message = true, false, nil
  budget.what, budget.seconds, budget.deadline = what, seconds, util.now() + seconds
  string.dump = nil -- luacheck: ignore
  debug.sethook(hook, "", HOOK_COUNT)
  local res = table.pack(pcall(fn, ...))
  debug.sethook(table.unpack(saved_hook))
  string.dump = saved_dump -- luacheck: ignore
  budget.active = false
  if not res[1] then
    if budget.expired then error(budget.message, 0) end
    error(res[2], 0)
  end
  return table.unpack(res, 2, res.n)
end

-- pcall/xpcall/coroutine.resume that cannot swallow the budget's error
local function guard(ok, ...)
  if not ok and (budget.expired or is_budget_error((...))) then error(budget_error(), 0) end
  return ok, ...
end

local function sandbox_coroutine()
  local co = copy(coroutine)
  co.create = function(f)
    local c = coroutine.create(f)
    if budget.active then debug.sethook(c, hook, "", HOOK_COUNT) end
    return c
  end
  co.resume = function(c, ...) return guard(coroutine.resume(c, ...)) end
  co.wrap = function(f)
    local c = co.create(f)
    return function(...)
      local res = table.pack(coroutine.resume(c, ...))
      if not res[1] then
        if budget.expired or is_budget_error(res[2]) then error(budget_error(), 0) end
        error(res[2], 0)
      end
      return table.unpack(res, 2, res.n)
    end
  end
  return co
end

---------------------------------------------------------------- paths
local function inside(root, path)
  return path == root or path:sub(1, #root + 1) == root .. "/"
end

---Resolves a path a recipe names, relative to its folder, and checks it stays
---inside (after symlinks). Returns the real path, or nil, message.
function M.resolve(box, name, what)
  if type(name) ~= "string" or name == "" then
    return nil, string.format("%s needs a file name", what)
  end
  local p = name:sub(1, 1) == "/" and name or (box.real_dir .. "/" .. name)
  local real = fs.realpath(p)
  if not real then
    return nil, string.format("%s: \"%s\" does not exist in %s", what, name, box.real_dir)
  end
  if not inside(box.real_dir, real) then
    return nil, string.format("%s: \"%s\" is outside the recipe's folder %s (recipes may " ..
      "only read their own files)", what, name, box.real_dir)
  end
  return real
end

---------------------------------------------------------------- the environment
---The file:line of the innermost recipe code on the stack ("?" if none).
function M.where(box, level)
  for l = (level or 2) + 1, 40 do
    local info = debug.getinfo(l, "Sl")
    if not info then break end
    if box.sources[info.source] and info.currentline and info.currentline > 0 then
      return info.source:sub(2) .. ":" .. info.currentline, info.source:sub(2), info.currentline
    end
  end
  return "?"
end

---Loads a recipe file (or a module of its folder) as a function in box.env.
function M.loadfile(box, real, shown)
  local text, msg = fs.read(real)
  if not text then return nil, msg end
  local source = "@" .. shown
  box.sources[source] = true
  box.texts[shown] = text
  local chunk, err = load(text, source, "t", box.env)
  if not chunk then return nil, err end
  return chunk
end

---A new sandbox for the recipe at path (shown in messages as `shown`).
---@param o {dir: string, shown_dir: string, builtins: table<string, any>, print?: function}
function M.new(o)
  local box = { dir = o.shown_dir, real_dir = assert(fs.realpath(o.dir)), sources = {},
    texts = {}, loaded = {} }
  local env = {}
  for _, n in ipairs(SAFE_GLOBALS) do env[n] = _G[n] end
  env.string = copy(string, { dump = true })
  env.table = copy(table)
  env.math = copy(math)
  env.utf8 = copy(utf8)
  env.coroutine = sandbox_coroutine()
  env.os = {}
  for _, n in ipairs(SAFE_OS) do env.os[n] = os[n] end
  env.pcall = function(f, ...) return guard(pcall(f, ...)) end
  env.xpcall = function(f, h, ...) return guard(xpcall(f, h, ...)) end
  env.print = o.print or function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(M.where(box, 1), ": ", table.concat(parts, "\t", 1, parts.n), "\n")
  end
  env.getmetatable = function(v)
    if type(v) ~= "table" then return nil end
    return getmetatable(v)
  end
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("setmetatable: __gc metamethods are not allowed in recipes", 2)
    end
    return setmetatable(t, mt)
  end
  env.load = function(chunk, name, mode, e)
    if mode ~= nil and mode ~= "t" then
      error("load: recipes may only load text chunks (mode \"t\"), not bytecode", 2)
    end
    if type(chunk) == "string" and chunk:sub(1, 1) == "\27" then
      error("load: recipes may only load text chunks, not bytecode", 2)
    end
    return load(chunk, name, "t", e == nil and env or e)
  end
  local function open(name, mode)
    mode = mode or "r"
    if mode ~= "r" and mode ~= "rb" then
      error(string.format("io.open: recipes may only read files (mode \"r\"), not \"%s\"",
        tostring(mode)), 2)
    end
    local real, msg = M.resolve(box, name, "io.open")
    if not real then return nil, msg end
    return io.open(real, mode)
  end
  env.io = {
    open = open,
    lines = function(name, ...)
      local f, msg = open(name, "r")
      if not f then error(msg, 2) end
      return f:lines(...)
    end,
  }
  env.require = function(name)
    if type(name) ~= "string" then error("require: needs a module name", 2) end
    if box.loaded[name] ~= nil then return box.loaded[name] end
    if M.public_modules[name] then
      box.loaded[name] = copy(require(name))
      return box.loaded[name]
    end
    if not name:match("^[%w_][%w_%-]*[%.%w_%-]*$") or name:find("..", 1, true) then
      error(string.format("require: \"%s\" is not a module of the recipe's folder", name), 2)
    end
    local rel = name:gsub("%.", "/")
    local tried = {}
    for _, cand in ipairs({ rel .. ".lua", rel .. "/init.lua" }) do
      local real = M.resolve(box, cand, "require")
      if real then
        local shown = box.dir == "." and cand or (box.dir .. "/" .. cand)
        local chunk, msg = M.loadfile(box, real, shown)
        if not chunk then error(msg, 0) end
        local v = chunk(name)
        if v == nil then v = true end
        box.loaded[name] = v
        return v
      end
      tried[#tried + 1] = cand
    end
    local public = {}
    for k in pairs(M.public_modules) do public[#public + 1] = k end
    table.sort(public)
    error(string.format("require: no module \"%s\" in the recipe's folder (tried %s; recipes " ..
      "may require their own modules and %s)", name, table.concat(tried, ", "),
      table.concat(public, ", ")), 2)
  end
  M.lock_library(env.os, "os", "allowed: os." .. table.concat(SAFE_OS, ", os."))
  M.lock_library(env.io, "io", "allowed: io.open and io.lines, read-only, in the recipe's folder")
  M.lock_library(env.string, "string", "string.dump is left out")
  local builtin_names = {}
  for k, v in pairs(o.builtins) do env[k] = v; builtin_names[k] = true end
  -- the recipe's globals live in a table of their own; built-ins are looked
  -- up behind it and cannot be reassigned (captured closures such as load's
  -- default environment see the final `env`)
  local base = env
  local known = {}
  for k in pairs(base) do known[#known + 1] = k end
  table.sort(known)
  local forbidden = { debug = true, package = true, dofile = true, loadfile = true,
    collectgarbage = true }
  env = setmetatable({}, {
    __index = function(_, k)
      local v = base[k]
      if v ~= nil then return v end
      local hint
      if forbidden[k] then
        hint = string.format("%s is not available in recipes", k)
      else
        local near = type(k) == "string" and closest(k, known)
        hint = near and string.format("did you mean \"%s\"?", near) or
          "recipes see only their own globals and the recipe functions; see docs/recipes.md"
      end
      error(string.format("unknown global \"%s\" (%s)", tostring(k), hint), 2)
    end,
    __newindex = function(t, k, v)
      if base[k] ~= nil then
        error(string.format("cannot assign to \"%s\": it is a %s (use a local with another " ..
          "name)", tostring(k), builtin_names[k] and "recipe function" or "built-in"), 2)
      end
      rawset(t, k, v)
    end,
    __metatable = false,
  })
  base._G = env
  box.env = env
  return box
end

---Unknown fields of the restricted os/io tables raise too, with a hint.
function M.lock_library(t, name, allowed_hint)
  return setmetatable(t, {
    __index = function(_, k)
      error(string.format("%s.%s is not available in recipes (%s)", name, tostring(k),
        allowed_hint), 2)
    end,
    __metatable = false,
  })
end

return M
