-- The recipe language: the functions a recipe calls (param, project,
-- instance, network, output, ref, sh, copy, write, file, probe, has), run in
-- the sandbox (moonbase._core.recipe_sandbox). Declarations are collected
-- into a model and checked (moonbase._core.recipe_check) before anything is
-- launched; every mistake is recorded with the file:line it comes from and a
-- hint, and all of them are reported together.
--
-- Values that exist only after launch (ref("db").ipv4) are *lazy*: opaque
-- objects that concatenate with strings into other lazy values and are
-- resolved by moonbase._core.recipe_steps when the step that uses them runs.
-- layer: services
local util = require("moonbase.engine.util")
local values = require("moonbase._core.recipe_values")
local sandbox = require("moonbase._core.recipe_sandbox")
local check = require("moonbase._core.recipe_check")

local M = {}

M.NETWORK_KEYS = { "subnet" }
M.REF_FIELDS = { "name", "ipv4", "ssh", "exec" }

---------------------------------------------------------------- values
-- lazy values, refs, opaque steps and probes: moonbase._core.recipe_values
local parts_of, ref_of, lazy, LAZY = values.parts_of, values.ref_of, values.lazy, values.LAZY
for _, f in ipairs({ "is_lazy", "parts", "template", "refs_in", "is_plain", "step_data",
  "probe_data", "kind", "is_ref", "is_text", "list_of" }) do
  M[f] = values[f]
end
local kind, is_text, is_plain = M.kind, M.is_text, M.is_plain

local own_source = debug.getinfo(1, "S").source

-- the error level of the first caller outside this file (recipe code)
local function outside()
  for l = 2, 30 do
    local info = debug.getinfo(l, "S")
    if not info then break end
    if info.what ~= "C" and info.source ~= own_source then return l - 1 end
  end
  return 1
end

local function not_yet()
  error("a ref's value (ref(\"...\").ipv4, .ssh) is known only when the step that uses it " ..
    "runs: use it in sh, copy, write, cloud_init or an output, joined with .., not in Lua " ..
    "string functions", outside())
end
LAZY.__tostring = not_yet
LAZY.__index = function() not_yet() end
LAZY.__len = not_yet

---------------------------------------------------------------- the declarations
---Runs a recipe file in a fresh sandbox and returns its model.
---@param o {path: string, shown: string, dir: string, shown_dir: string, stem: string,
---  params?: table<string, string>, capabilities: table<string, boolean>, budget?: number}
function M.load(o)
  local model = {
    path = o.path, shown = o.shown, dir = o.dir, shown_dir = o.shown_dir,
    params = {}, param_by_name = {}, instances = {}, by_name = {}, networks = {},
    network_by_name = {}, outputs = {}, output_by_name = {}, errors = {}, refs = {},
  }
  local box
  local declared_anything = false
  local given = o.params or {}
  local caps = o.capabilities

  local function where(level) return (sandbox.where(box, (level or 1) + 1)) end
  local function fail(at, msg) model.errors[#model.errors + 1] = { where = at, message = msg } end
  -- raises at the caller's line in recipe code
  local function raise(msg, level) error(msg, (level or 1) + 2) end

  local function locate(at, key) return check.locate(box.texts, at, key) end

  local function project_name()
    declared_anything = true
    return model.project
  end

  local builtins = {}

  ---------------------------------------------------------------- param
  function builtins.param(name, default, help)
    local at = where()
    if type(name) ~= "string" or not name:match("^[%a_][%w_%-]*$") then
      raise("param: the first argument is the parameter's name, like param(\"workers\", 2)")
    end
    local t = type(default)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      raise(string.format("param \"%s\": the default (the second argument) must be a number, " ..
        "string or boolean; its type types --param %s=VALUE", name, name))
    end
    if help ~= nil and type(help) ~= "string" then
      raise(string.format("param \"%s\": the third argument is a help text (a string)", name))
    end
    if model.param_by_name[name] then
      raise(string.format("param \"%s\" is declared twice (first at %s)", name,
        model.param_by_name[name].where))
    end
    local value = default
    local raw = given[name]
    if raw ~= nil then
      if t == "number" then
        local n = tonumber(raw)
        if math.type(default) == "integer" then n = math.tointeger(n) end
        if n == nil then
          raise(string.format("param \"%s\": --param %s=%s is not a %s", name, name, raw,
            math.type(default) == "integer" and "whole number" or "number"))
        end
        value = n
      elseif t == "boolean" then
        local b = ({ ["true"] = true, yes = true, ["1"] = true, on = true, ["false"] = false,
          no = false, ["0"] = false, off = false })[raw:lower()]
        if b == nil then
          raise(string.format("param \"%s\": --param %s=%s is not true or false", name, name,
            raw))
        end
        value = b
      else
        value = raw
      end
    end
    local p = { name = name, default = default, value = value, help = help, where = at,
      type = math.type(default) or t, raw = raw }
    model.params[#model.params + 1] = p
    model.param_by_name[name] = p
    return value
  end

  ---------------------------------------------------------------- project
  function builtins.project(name)
    local at = where()
    if type(name) ~= "string" then raise("project needs a name: project \"myapp\"") end
    if model.project_where then
      raise(string.format("project is set twice (first at %s)", model.project_where))
    end
    if declared_anything then
      raise("project must come before instances, networks, outputs and refs (it prefixes " ..
        "their names)")
    end
    if not name:match("^[a-z][a-z0-9-]*$") or #name > 40 then
      raise(string.format("project \"%s\": use lowercase letters, digits and dashes, starting " ..
        "with a letter, at most 40 characters", name))
    end
    model.project, model.project_where = name, at
  end

  ---------------------------------------------------------------- ref
  function builtins.ref(name)
    local at = where()
    if type(name) ~= "string" then raise("ref needs an instance name: ref(\"db\").ipv4") end
    project_name()
    model.refs[#model.refs + 1] = { name = name, where = at }
    local r = setmetatable({}, {
      __index = function(self, field)
        if field == "name" then return model.project .. "-" .. name end
        if field == "ipv4" or field == "ssh" then
          return lazy({ { ref = name, field = field, where = where() } })
        end
        if field == "exec" then
          -- ref("a").exec "cmd": the command's output in a, when the step runs
          return function(a, b)
            local cmd = a
            if a == self then cmd = b end -- ref("a"):exec("cmd") works too
            if type(cmd) ~= "string" then
              error(string.format("ref(\"%s\").exec needs a shell command (a string)", name), 2)
            end
            return lazy({ { ref = name, field = "exec", arg = cmd, where = where() } })
          end
        end
        error(string.format("ref(\"%s\"): no field \"%s\" (fields: %s)", name, tostring(field),
          table.concat(M.REF_FIELDS, ", ")), 2)
      end,
      __newindex = function() error("ref(...) is read-only", 2) end,
      __tostring = function() error(string.format("ref(\"%s\") is an instance, not a " ..
        "value: use ref(\"%s\").ipv4, .name or .ssh", name, name), 2) end,
      __concat = function() error(string.format("ref(\"%s\") is an instance, not a value: " ..
        "use ref(\"%s\").ipv4, .name or .ssh", name, name), 2) end,
      __metatable = false,
    })
    ref_of[r] = { name = name, where = at }
    return r
  end

  ---------------------------------------------------------------- steps
  local function text_arg(v, what)
    if not is_text(v) then
      raise(string.format("%s: expected a string, got a %s", what, kind(v)), 2)
    end
    return v
  end

  local function env_arg(env, what)
    if env == nil then return nil end
    if not is_plain(env) then
      raise(string.format("%s: env must be a table of NAME = value", what), 2)
    end
    local out = {}
    for k, v in pairs(env) do
      if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
        raise(string.format("%s: env name %s is not a shell variable name", what, tostring(k)), 2)
      end
      if type(v) == "number" or type(v) == "boolean" then v = tostring(v) end
      if not is_text(v) then
        raise(string.format("%s: env %s must be a string, got a %s", what, k, kind(v)), 2)
      end
      out[k] = v
    end
    return out
  end

  local function options(t, allowed, what)
    for k in pairs(t) do
      if math.type(k) ~= "integer" then
        local ok = false
        for _, a in ipairs(allowed) do if a == k then ok = true end end
        if not ok then
          local near = type(k) == "string" and sandbox.closest(k, allowed)
          raise(string.format("%s: unknown key \"%s\" (%s)", what, tostring(k),
            near and ("did you mean \"" .. near .. "\"?") or ("keys: " ..
              table.concat(allowed, ", "))), 2)
        end
      end
    end
  end

  function builtins.sh(script, opts)
    local at = where()
    local step = { kind = "sh", where = at, sudo = true }
    if is_plain(script) then
      opts = script
      script = script[1]
    end
    step.script = text_arg(script, "sh")
    if opts ~= nil then
      if not is_plain(opts) then
        raise("sh: the second argument is a table of options { env = ..., sudo = ... }")
      end
      options(opts, { "env", "sudo", "workdir" }, "sh")
      step.env = env_arg(opts.env, "sh")
      if opts.sudo ~= nil then
        if type(opts.sudo) ~= "boolean" then raise("sh: sudo must be true or false") end
        step.sudo = opts.sudo
      end
      if opts.workdir ~= nil then step.workdir = text_arg(opts.workdir, "sh: workdir") end
    end
    return values.step(step)
  end

  function builtins.copy(spec)
    local at = where()
    if not is_plain(spec) then
      raise("copy needs a table: copy { src = \"conf/\", dst = \"/etc/app/\" }")
    end
    options(spec, { "src", "dst", "mode" }, "copy")
    local src, dst = spec.src or spec[1], spec.dst or spec[2]
    if type(src) ~= "string" then raise("copy: src must be a path in the recipe's folder") end
    text_arg(dst, "copy: dst")
    if type(dst) == "string" and dst:sub(1, 1) ~= "/" then
      raise(string.format("copy: dst \"%s\" must be an absolute path in the guest", dst))
    end
    local real, st = sandbox.resolve(box, src, "copy", { file = true, directory = true })
    if not real then raise(st .. " (copy sources are files of the recipe's folder)") end
    if st.type == "directory" then
      local ok, msg = sandbox.check_tree(box, real, src)
      if not ok then raise(msg .. " (copy sources are files of the recipe's folder)") end
    end
    if spec.mode ~= nil and (type(spec.mode) ~= "string" or not spec.mode:match("^0?[0-7][0-7][0-7]$"))
    then
      raise("copy: mode must be an octal string like \"0644\"")
    end
    return values.step({ kind = "copy", where = at, src = src, real = real, dst = dst,
      mode = spec.mode, directory = st.type == "directory" })
  end

  function builtins.write(path, content, opts)
    local at = where()
    if is_plain(path) then
      opts = path
      options(path, { "path", "content", "mode" }, "write")
      path, content = path.path or path[1], path.content or path[2]
    end
    text_arg(path, "write: path")
    if type(path) == "string" and path:sub(1, 1) ~= "/" then
      raise(string.format("write: path \"%s\" must be absolute", path))
    end
    if type(content) == "number" then content = tostring(content) end
    text_arg(content, "write: content")
    local mode = is_plain(opts) and opts.mode or nil
    if mode ~= nil and (type(mode) ~= "string" or not mode:match("^0?[0-7][0-7][0-7]$")) then
      raise("write: mode must be an octal string like \"0644\"")
    end
    return values.step({ kind = "write", where = at, path = path, content = content,
      mode = mode })
  end

  function builtins.file(name)
    if type(name) ~= "string" then raise("file needs a file name: file \"cloud-init.yaml\"") end
    local real, st = sandbox.resolve(box, name, "file")
    if not real then raise(st) end
    if st.size > sandbox.max_file then
      raise(string.format("file: \"%s\" is %s, more than file() reads (%s)", name,
        require("moonbase.units").format_size(st.size),
        require("moonbase.units").format_size(sandbox.max_file)))
    end
    local f, err = io.open(real, "rb")
    if not f then raise("file: " .. tostring(err)) end
    local text = f:read(sandbox.max_file + 1) or ""
    f:close()
    if #text > sandbox.max_file then
      raise(string.format("file: \"%s\" grew past %s while it was read", name,
        require("moonbase.units").format_size(sandbox.max_file)))
    end
    return text
  end

  ---------------------------------------------------------------- probes
  local function probe_opts(p, opts, what)
    if opts == nil then return values.probe(p) end
    if not is_plain(opts) then raise(what .. ": options are a table { timeout = \"2m\" }", 2) end
    options(opts, { "timeout", "interval" }, what)
    for _, k in ipairs({ "timeout", "interval" }) do
      if opts[k] ~= nil then
        local d = check.duration(opts[k])
        if not d then
          raise(string.format("%s: %s must be a duration like \"90s\" or \"2m\"", what, k), 2)
        end
        p[k] = d
      end
    end
    return values.probe(p)
  end

  local probe = {}
  function probe.tcp(port, opts)
    local at = where()
    if math.type(port) ~= "integer" or port < 1 or port > 65535 then
      raise("probe.tcp: the port must be a whole number from 1 to 65535")
    end
    return probe_opts({ kind = "tcp", port = port, where = at,
      text = "probe.tcp(" .. port .. ")" }, opts, "probe.tcp")
  end
  function probe.exec(command, opts)
    local at = where()
    text_arg(command, "probe.exec")
    return probe_opts({ kind = "exec", command = command, where = at,
      text = "probe.exec " .. string.format("%q", M.template(command)) }, opts, "probe.exec")
  end
  function probe.file(path, opts)
    local at = where()
    if type(path) ~= "string" or path:sub(1, 1) ~= "/" then
      raise("probe.file: needs an absolute path in the guest")
    end
    return probe_opts({ kind = "file", path = path, where = at,
      text = "probe.file " .. string.format("%q", path) }, opts, "probe.file")
  end
  builtins.probe = setmetatable(probe, { __index = function(_, k)
    error(string.format("probe.%s does not exist (probes: tcp, exec, file)", tostring(k)), 2)
  end, __newindex = function() error("probe is read-only", 2) end, __metatable = false })

  function builtins.has(what)
    if type(what) ~= "string" or caps[what] == nil then
      local names = {}
      for k in pairs(caps) do names[#names + 1] = k end
      table.sort(names)
      raise(string.format("has: unknown capability %s (capabilities: %s)", tostring(what),
        table.concat(names, ", ")))
    end
    return caps[what]
  end

  ---------------------------------------------------------------- instance
  function builtins.instance(name)
    local at = where()
    if type(name) ~= "string" then
      raise("instance needs a name: instance \"web\" { image = ..., ... }")
    end
    project_name()
    return function(spec)
      if spec == nil then spec = {} end
      if not is_plain(spec) then
        raise(string.format("instance \"%s\": expected a table of settings { ... }, got a %s",
          name, kind(spec)))
      end
      if not name:match("^[a-z][a-z0-9-]*$") then
        fail(at, string.format("instance \"%s\": use lowercase letters, digits and dashes, " ..
          "starting with a letter", name))
      else
        local ok, msg = util.valid_name(model.project .. "-" .. name)
        if not ok then
          fail(at, string.format("instance \"%s\": its name with the project prefix: %s", name,
            msg))
        end
      end
      local inst = check.instance({ fail = fail, locate = locate, dir = o.dir,
        shown_dir = o.shown_dir }, name, spec, at)
      inst.full = model.project .. "-" .. name
      if model.by_name[name] then
        fail(at, string.format("instance \"%s\" is declared twice (first at %s; names must " ..
          "be unique)", name, model.by_name[name].where))
        return
      end
      model.instances[#model.instances + 1] = inst
      model.by_name[name] = inst
    end
  end

  ---------------------------------------------------------------- network
  function builtins.network(name)
    local at = where()
    if type(name) ~= "string" then raise("network needs a name: network \"backend\" { ... }") end
    project_name()
    return function(spec)
      if spec == nil then spec = {} end
      if not is_plain(spec) then
        raise(string.format("network \"%s\": expected a table { subnet = \"10.77.0.0/24\" }",
          name))
      end
      local net = { name = name, where = at, full = model.project .. "-" .. name }
      if not name:match("^[a-z][a-z0-9-]*$") or #net.full > 32 then
        fail(at, string.format("network \"%s\": use lowercase letters, digits and dashes; " ..
          "with the project prefix at most 32 characters (\"%s\")", name, net.full))
      end
      for k in pairs(spec) do
        if k ~= "subnet" then
          fail(locate(at, tostring(k)), string.format("network \"%s\": unknown key \"%s\" " ..
            "(keys: %s)", name, tostring(k), table.concat(M.NETWORK_KEYS, ", ")))
        end
      end
      if spec.subnet ~= nil then
        if type(spec.subnet) ~= "string" or not spec.subnet:match("^%d+%.%d+%.%d+%.%d+/%d+$") then
          fail(locate(at, "subnet"), string.format("network \"%s\": subnet must be a CIDR " ..
            "like \"10.77.0.0/24\"", name))
        else net.subnet = spec.subnet end
      end
      if model.network_by_name[name] then
        fail(at, string.format("network \"%s\" is declared twice (first at %s)", name,
          model.network_by_name[name].where))
        return
      end
      model.networks[#model.networks + 1] = net
      model.network_by_name[name] = net
    end
  end

  ---------------------------------------------------------------- output
  function builtins.output(name, value)
    local at = where()
    if type(name) ~= "string" or not name:match("^[%a_][%w_%-]*$") then
      raise("output needs a name: output(\"url\", function(c) return ... end)")
    end
    project_name()
    if value == nil then
      raise(string.format("output \"%s\" needs a value or a function(c)", name))
    end
    if model.output_by_name[name] then
      raise(string.format("output \"%s\" is declared twice (first at %s)", name,
        model.output_by_name[name].where))
    end
    local out = { name = name, value = value, where = at }
    model.outputs[#model.outputs + 1] = out
    model.output_by_name[name] = out
  end

  ---------------------------------------------------------------- run it
  model.project = o.project_default
  box = sandbox.new({ dir = o.dir, shown_dir = o.shown_dir, builtins = builtins })
  model.box = box
  local chunk, msg = sandbox.loadfile(box, o.path, o.shown)
  if not chunk then return nil, msg end
  local ok, err = pcall(sandbox.run, "loading " .. o.shown, o.budget or sandbox.default_budget,
    chunk)
  if not ok then
    return nil, type(err) == "string" and err or tostring(err)
  end
  check.recipe(model, given, caps)
  return model
end

---The --param options that give this model's parameters their values (those
---that differ from the default).
---@return string[]
function M.param_args(model)
  local argv = {}
  for _, p in ipairs(model.params or {}) do
    if p.value ~= p.default then
      argv[#argv + 1] = "--param"
      argv[#argv + 1] = p.name .. "=" .. tostring(p.value)
    end
  end
  return argv
end

---A command line a hint can show: `moonbase VERB RECIPE [--param N=V]... EXTRA...`
---with the parameters this run has, so following the hint means the same recipe.
---@param verb string
---@return string
function M.command_line(model, verb, ...)
  local argv = { "moonbase", verb, model.shown }
  for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
  for _, a in ipairs(M.param_args(model)) do argv[#argv + 1] = a end
  for i, a in ipairs(argv) do
    if not a:match("^[%w%%+,./:=@_-]+$") then argv[i] = "'" .. a:gsub("'", "'\\''") .. "'" end
  end
  return table.concat(argv, " ")
end

return M
