-- Recipe values: lazy values (ref("db").ipv4 and what is joined to it with
-- ..), refs, the opaque steps and probes that sh, copy, write and probe.*
-- make, and the questions recipe_lang and recipe_check ask about any value
-- (what kind it is, whether it is text, a plain table or a plain list).
-- layer: services
local M = {}

local parts_of = setmetatable({}, { __mode = "k" })
local ref_of = setmetatable({}, { __mode = "k" })

local LAZY = { __metatable = false }
local function lazy(parts) local v = setmetatable({}, LAZY); parts_of[v] = parts; return v end

---@return boolean
function M.is_lazy(v) return parts_of[v] ~= nil end

---The pieces of a lazy value: strings and {ref=, field=, where=}.
function M.parts(v)
  if parts_of[v] then return parts_of[v] end
  return { tostring(v) }
end

local function pieces(v)
  if parts_of[v] then return parts_of[v] end
  local t = type(v)
  if t == "string" or t == "number" then return { tostring(v) } end
  error(string.format("attempt to concatenate a %s value with a ref", t), 3)
end

LAZY.__concat = function(a, b)
  local out = {}
  for _, p in ipairs(pieces(a)) do out[#out + 1] = p end
  for _, p in ipairs(pieces(b)) do out[#out + 1] = p end
  return lazy(out)
end
---A new lazy value made of parts (strings and {ref=, field=, where=}).
M.lazy = lazy
---Weak tables: the parts of each lazy value, the declaration of each ref.
M.parts_of, M.ref_of = parts_of, ref_of
---The metatable of lazy values (recipe_lang adds __tostring, __index, __len).
M.LAZY = LAZY

---The text of a value with refs written as ${name.field}: how plans compare
---and show values that contain refs.
function M.template(v)
  if parts_of[v] then
    local out = {}
    for _, p in ipairs(parts_of[v]) do
      out[#out + 1] = type(p) == "table" and ("${" .. p.ref .. "." .. p.field ..
        (p.arg and ("(" .. p.arg .. ")") or "") .. "}") or p
    end
    return table.concat(out)
  end
  return v
end

---Every ref a value (a string, lazy value, or table of them) uses.
function M.refs_in(v, out)
  out = out or {}
  if parts_of[v] then
    for _, p in ipairs(parts_of[v]) do
      if type(p) == "table" then out[#out + 1] = p end
    end
  elseif type(v) == "table" then
    for _, x in pairs(v) do M.refs_in(x, out) end
  end
  return out
end

---------------------------------------------------------------- steps and probes
-- What sh, copy, write and probe.* return: opaque values whose data only
-- moonbase sees. A recipe cannot build one by hand (a table with a "kind"
-- is not a step) nor change one after it was checked.
local step_of = setmetatable({}, { __mode = "k" })
local probe_of = setmetatable({}, { __mode = "k" })

local function opaque(registry, data, what)
  local function refuse() error(string.format("a %s made by %s cannot be read or changed (it " ..
    "is used as it was made)", what, data.kind), 2) end
  local v = setmetatable({}, { __index = refuse, __newindex = refuse, __len = refuse,
    __pairs = refuse,
    __tostring = function() return string.format("%s %s (%s)", data.kind, what, data.where) end,
    __metatable = false })
  registry[v] = data
  return v
end

---Whether v is a table of the recipe's own (not a ref, ref value, step or probe).
function M.is_plain(v)
  return type(v) == "table" and not (parts_of[v] or ref_of[v] or step_of[v] or probe_of[v])
end
local is_plain = M.is_plain

---The data of a step made by sh, copy or write, or nil.
function M.step_data(v) return step_of[v] end
---The data of a probe made by probe.tcp/exec/file, or nil.
function M.probe_data(v) return probe_of[v] end

---An opaque step (sh, copy, write) or probe (probe.*) made of data.
function M.step(data) return opaque(step_of, data, "step") end
function M.probe(data) return opaque(probe_of, data, "probe") end

---What a value is, for messages: "ref value" for lazy ones.
function M.kind(v)
  if parts_of[v] then return "ref value" end
  if step_of[v] then return "step" end
  if probe_of[v] then return "probe" end
  if ref_of[v] then return "ref" end
  return type(v)
end

---@return boolean
function M.is_ref(v) return ref_of[v] ~= nil end

---A string or a lazy value.
function M.is_text(v) return type(v) == "string" or parts_of[v] ~= nil end

---v if it is a plain list (keys 1..n), else nil.
function M.list_of(v)
  if not is_plain(v) then return nil end
  local n = 0
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 then return nil end
    n = n + 1
  end
  if n ~= #v then return nil end
  return v
end

return M
