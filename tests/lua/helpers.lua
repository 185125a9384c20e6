-- Shared helpers for the CLI specs: run the real moonbase binary with
-- MOONBASE_HOME in a fresh temp dir.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")

local M = {}

M.bin = os.getenv("MOONBASE_BIN") or "build/moonbase"
M.src = os.getenv("MOONBASE_SRC") or "."

function M.tmpdir(tag)
  local _, out = process.run({ "mktemp", "-d", "/tmp/mb-" .. (tag or "spec") .. "-XXXXXX" })
  return (out:gsub("%s+$", ""))
end

---A fresh MOONBASE_HOME; returns an object with :run(...) and :cleanup().
function M.home(o)
  o = o or {}
  local home = M.tmpdir("home")
  local h = { dir = home, env = { MOONBASE_HOME = home, NO_COLOR = "1" } }
  for k, v in pairs(o.env or {}) do h.env[k] = v end
  ---Runs moonbase with args; returns code, stdout, stderr.
  function h:run(args, opts)
    opts = opts or {}
    local argv = { M.bin }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local env = {}
    for k, v in pairs(self.env) do env[k] = v end
    for k, v in pairs(opts.env or {}) do env[k] = v end
    return process.run(argv, { env = env, input = opts.input, cwd = opts.cwd })
  end
  ---Runs and asserts success; returns stdout.
  function h:ok(args, opts)
    local code, out, err = self:run(args, opts)
    assert(code == 0, string.format("moonbase %s exited %d: %s%s", table.concat(args, " "), code,
      err, out))
    return out
  end
  function h:cleanup() fs.rmtree(home) end
  if o.driver ~= false then h:ok({ "set", "local.driver=" .. (o.driver or "test") }) end
  return h
end

---Lists the entries of a directory tree (relative paths), sorted.
function M.tree(dir)
  local out = {}
  local function walk(d, rel)
    for _, n in ipairs(fs.list(d) or {}) do
      local p, r = d .. "/" .. n, rel and (rel .. "/" .. n) or n
      out[#out + 1] = r
      if fs.exists(p) == "directory" then walk(p, r) end
    end
  end
  walk(dir)
  table.sort(out)
  return out
end

---Snapshot of a tree: paths and file contents, for "nothing changed" checks.
function M.snapshot(dir)
  local snap = {}
  for _, r in ipairs(M.tree(dir)) do
    local p = dir .. "/" .. r
    local st = fs.stat(p, true)
    if st.type ~= "file" then
      snap[r] = "<" .. st.type .. ">"
    elseif st.size > 1024 * 1024 then -- sparse disks: size and mtime stand for content
      snap[r] = string.format("<%d bytes, mtime %.6f>", st.size, st.mtime)
    else
      snap[r] = fs.read(p) or ""
    end
  end
  return snap
end

function M.lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

return M
