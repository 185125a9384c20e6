-- Helpers for the recipe specs: a fresh MOONBASE_HOME on the test driver and a
-- folder to write recipe files into (the current directory of every run, so
-- messages show paths like "app.lua:3").
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")

local M = {}

---A home plus a recipe folder. r:write(name, text), r:run(args, opts),
---r:ok(args, opts), r:json(args), r:cleanup().
function M.new(o)
  local h = helpers.home(o)
  local r = { h = h, home = h.dir, dir = helpers.tmpdir("recipe") }
  function r:write(name, text)
    local p = self.dir .. "/" .. name
    fs.mkdirs(p:match("^(.*)/"))
    assert(fs.write(p, text))
    return p
  end
  function r:run(args, opts)
    opts = opts or {}
    opts.cwd = opts.cwd or self.dir
    return h:run(args, opts)
  end
  function r:ok(args, opts)
    local code, out, err = self:run(args, opts)
    assert(code == 0, string.format("moonbase %s exited %d: %s%s", table.concat(args, " "),
      code, err, out))
    return out, err
  end
  function r:json(args, opts)
    local a = {}
    for _, x in ipairs(args) do a[#a + 1] = x end
    a[#a + 1] = "--format"
    a[#a + 1] = "json"
    return json.decode((self:ok(a, opts)))
  end
  ---States of instances by name (from `list`).
  function r:states()
    local out = {}
    for _, i in ipairs(self:json({ "list" })) do out[i.name] = i.state end
    return out
  end
  ---The plan as {instance = action}.
  function r:actions(file, extra)
    local args = { "plan", file }
    for _, x in ipairs(extra or {}) do args[#args + 1] = x end
    local plan = self:json(args)
    local out = {}
    for _, i in ipairs(plan.instances) do out[i.instance] = i.action end
    return out, plan
  end
  function r:cleanup()
    h:cleanup()
    fs.rmtree(self.dir)
  end
  return r
end

---The test driver's instance directory.
function M.instance_dir(r, name)
  return r.home .. "/data/instances/test/" .. name
end

---Where a file of the test driver's guest is on the host: its root is
---<instance dir>/rootfs, and a relative path is in root's home (where
---commands run).
function M.guest_path(r, name, path)
  if path:sub(1, 1) ~= "/" then path = "/root/" .. path end
  return M.instance_dir(r, name) .. "/rootfs" .. path
end

return M
