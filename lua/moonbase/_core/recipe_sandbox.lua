-- The sandbox recipes run in (after Redis' script_lua.c and Knot Resolver):
-- an environment of allow-listed globals where reading an unknown global is
-- an error with file:line; io.open only reads files inside the recipe's
-- folder; require loads modules from that folder or a few side-effect-free
-- public moonbase modules; load takes text only and defaults to the sandbox.
-- Recipe code runs under a time and memory budget enforced by a count hook on
-- every thread it runs on (coroutines included), which pcall cannot swallow.
-- layer: services
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local errors = require("moonbase.errors")

local M = {}

-- public moonbase modules a recipe may require (pure: no host side effects)
M.public_modules = { ["moonbase.units"] = true, ["moonbase.format"] = true }

M.default_budget = 5          -- seconds of loading
M.default_output_budget = 300 -- seconds of evaluating one output (it may run commands)
M.memory_limit = 512 * 1024   -- KiB of Lua heap recipe code may add to moonbase's own
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

---Seconds an output may take (MOONBASE_RECIPE_OUTPUT_BUDGET shrinks it in tests).
function M.output_budget()
  return tonumber(os.getenv("MOONBASE_RECIPE_OUTPUT_BUDGET") or "") or M.default_output_budget
end

---------------------------------------------------------------- the budget
-- Every piece of recipe code runs inside M.run: loading the file (plan, up,
-- status, outputs, down, provision and each worker load it) and evaluating
-- outputs. Nothing a recipe made is called outside it: steps and probes are
-- opaque values of moonbase's own (recipe_lang), and what outputs return is
-- copied into plain data while the budget holds.
local budget = { active = false }

-- "@file" sources of recipe code (its files and the modules it requires)
local recipe_sources = {}

---The file:line of the innermost recipe code at or above stack level
---`level` of the caller, or nil.
local function recipe_line(level)
  for l = level + 1, level + 60 do
    local info = debug.getinfo(l, "Sl")
    if not info then break end
    if recipe_sources[info.source] and info.currentline and info.currentline > 0 then
      return info.source:sub(2) .. ":" .. info.currentline
    end
  end
end

local function budget_error()
  return setmetatable({ budget = true, message = budget.message }, {
    __tostring = function(e) return e.message end, __metatable = false })
end

local function expire(over, at)
  budget.expired = true
  budget.message = (at and (at .. ": ") or "") .. over
end

local function memory_over()
  return string.format("%s uses more than %d MiB of memory", budget.what,
    M.memory_limit // 1024)
end

local function hook()
  if not budget.active then return end
  if budget.expired then error(budget_error(), 0) end
  budget.at = recipe_line(2) or budget.at
  if util.now() > budget.deadline then
    expire(string.format("%s took longer than %s s (an endless loop?)", budget.what,
      budget.seconds), budget.at)
    error(budget_error(), 0)
  end
end

local function is_budget_error(e)
  return type(e) == "table" and rawget(e, "budget") == true
end

-- Lua's own message for an allocation that failed (the heap's ceiling)
local NOMEM = "not enough memory"

---Whether the budget is spent, marking it so when an error is the heap's
---ceiling refusing an allocation (at: where the recipe was).
local function spent(e, at)
  if budget.expired or is_budget_error(e) then return true end
  if e == NOMEM and util.heap_refused() then
    expire(memory_over(), at or budget.at)
    return true
  end
  return false
end

---A one-line message for any error value a recipe raises: strings as they
---are, moonbase's errors as they are, anything else described (its
---__tostring runs under the budget, and may fail) with the file:line.
local function describe(e, level)
  if type(e) == "string" or errors.is(e) then return e end
  local at = recipe_line(level + 1)
  local text
  local mt = type(e) == "table" and debug.getmetatable(e)
  if e == nil then
    text = "error raised with no message (error(nil); raise a string: error(\"what failed\"))"
  elseif type(e) == "number" then
    text = tostring(e)
  elseif mt and rawget(mt, "__tostring") ~= nil then
    local ok, s = pcall(tostring, e)
    if spent(s) then return budget_error() end
    if ok and type(s) == "string" then text = s:match("^[^\n]*") end
  end
  text = text or string.format("error raised with a %s value, not a message (raise a " ..
    "string: error(\"what failed\"))", type(e))
  return (at and (at .. ": ") or "") .. text
end

---Runs fn(...) as recipe code: under the time and memory budget, with
---string.dump hidden (strings reach the real string table through their
---metatable). Any error comes out as one line (a string, or moonbase's
---error object). Nested calls share the outer budget.
---@param what string  e.g. "loading recipes/web.lua"
---@param seconds number
function M.run(what, seconds, fn, ...)
  if budget.active then return fn(...) end
  local saved_hook = { debug.gethook() }
  local saved_dump = string.dump
  budget.active, budget.expired, budget.message, budget.at = true, false, nil, nil
  budget.what, budget.seconds, budget.deadline = what, seconds, util.now() + seconds
  string.dump = nil -- luacheck: ignore
  collectgarbage()
  util.heap_limit(util.heap_used() + M.memory_limit * 1024)
  debug.sethook(hook, "", HOOK_COUNT)
  local res = table.pack(xpcall(fn, function(e)
    if budget.expired or is_budget_error(e) then return e end
    return describe(e, 2)
  end, ...))
  debug.sethook(table.unpack(saved_hook))
  local over = not res[1] and spent(res[2])
  util.heap_limit(nil)
  string.dump = saved_dump -- luacheck: ignore
  budget.active = false
  if not res[1] then
    if over then error(budget.message, 0) end
    error(res[2], 0)
  end
  return table.unpack(res, 2, res.n)
end

-- pcall/xpcall/coroutine.resume that cannot swallow the budget's error (at:
-- the recipe's line that called them)
local function guard(ok, ...)
  if not ok and spent((...), recipe_line(2)) then error(budget_error(), 0) end
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
      local res = table.pack(guard(coroutine.resume(c, ...)))
      if not res[1] then error(res[2], 0) end
      return table.unpack(res, 2, res.n)
    end
  end
  return co
end

---------------------------------------------------------------- paths
local function inside(root, path)
  return path == root or path:sub(1, #root + 1) == root .. "/"
end

-- file() reads at most this much (and io.open'd files are bounded by the
-- memory budget)
M.max_file = 16 * 1024 * 1024

local KIND_NAMES = { file = "a regular file", directory = "a directory" }

---Resolves a path a recipe names, relative to its folder, and checks it stays
---inside (after symlinks) and is one of `kinds` (default: a regular file;
---FIFOs and devices, which block or never end, never are). Returns the real
---path and its stat, or nil, message.
---@param kinds? table<string, boolean>  e.g. { file = true, directory = true }
function M.resolve(box, name, what, kinds, shown)
  if type(name) ~= "string" or name == "" then
    return nil, string.format("%s needs a file name", what)
  end
  local p = name:sub(1, 1) == "/" and name or (box.real_dir .. "/" .. name)
  name = shown or name
  local real = fs.realpath(p)
  if not real then
    return nil, string.format("%s: \"%s\" does not exist in %s", what, name, box.real_dir)
  end
  if not inside(box.real_dir, real) then
    return nil, string.format("%s: \"%s\" is outside the recipe's folder %s (recipes may " ..
      "only read their own files)", what, name, box.real_dir)
  end
  kinds = kinds or { file = true }
  local st = fs.stat(real)
  if not st or not kinds[st.type] then
    local want = {}
    for _, k in ipairs({ "file", "directory" }) do
      if kinds[k] then want[#want + 1] = KIND_NAMES[k] end
    end
    return nil, string.format("%s: \"%s\" is %s, not %s", what, name,
      not st and "unreadable" or KIND_NAMES[st.type] or "a special file (FIFO, socket or device)",
      table.concat(want, " or "))
  end
  return real, st
end

---Checks every entry under a directory the recipe copies: regular files and
---directories only, and symlinks that stay inside the recipe's folder.
---Returns true, or nil, message.
function M.check_tree(box, real, shown, seen)
  seen = seen or {}
  if seen[real] then
    return nil, string.format("copy: \"%s\" leads back into itself (a symlink loop)", shown)
  end
  seen[real] = true
  local names = fs.list(real)
  if not names then return nil, string.format("copy: cannot list \"%s\"", shown) end
  for _, n in ipairs(names) do
    local rel = shown .. "/" .. n
    local r, st = M.resolve(box, real .. "/" .. n, "copy", { file = true, directory = true }, rel)
    if not r then return nil, st end
    if st.type == "directory" then
      local ok, err = M.check_tree(box, r, rel, seen)
      if not ok then return nil, err end
    end
  end
  seen[real] = nil
  return true
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
  recipe_sources[source] = true
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
  -- a message handler runs with hooks off when the error is the budget's
  -- (raised from the count hook): it is not called for that one
  env.xpcall = function(f, h, ...)
    if type(h) ~= "function" then
      error("bad argument #2 to 'xpcall' (function expected, got " .. type(h) .. ")", 2)
    end
    return guard(xpcall(f, function(e)
      if budget.expired or is_budget_error(e) then return e end
      return h(e)
    end, ...))
  end
  env.print = o.print or function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(M.where(box, 1), ": ", table.concat(parts, "\t", 1, parts.n), "\n")
  end
  -- a recipe sees only the metatables it set itself: moonbase's own (its
  -- errors', format's arrays') are not the recipe's to change
  local own_mts = setmetatable({}, { __mode = "k" })
  env.getmetatable = function(v)
    local mt = type(v) == "table" and debug.getmetatable(v)
    if not mt or not own_mts[mt] then return nil end
    return getmetatable(v)
  end
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("setmetatable: __gc metamethods are not allowed in recipes", 2)
    end
    local old = type(t) == "table" and debug.getmetatable(t)
    if old and not own_mts[old] then
      error("setmetatable: this table belongs to moonbase (recipes may set metatables of " ..
        "their own tables only)", 2)
    end
    if type(mt) == "table" then own_mts[mt] = true end
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
