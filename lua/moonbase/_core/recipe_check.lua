-- Checking recipes: each instance's keys and values as it is declared, then
-- the whole recipe (parameters, refs, depends_on, cycles, networks, ports,
-- what this build can do). Mistakes are collected with the file:line they come
-- from, never raised one by one, so a recipe's errors are all reported at once.
-- layer: services
local util = require("moonbase.engine.util")
local fs = require("moonbase.engine.fs")
local yaml = require("moonbase.engine.yaml")
local sandbox = require("moonbase._core.recipe_sandbox")
local values = require("moonbase._core.recipe_values")
local hosts = require("moonbase._core.hosts")

local M = {}

M.INSTANCE_KEYS = { "image", "cpus", "memory", "disk", "cloud_init", "networks", "bridged",
  "mounts", "forwards", "depends_on", "provision", "ready", "timeout", "labels", "host" }

---Bytes from a size string ("2G"), or nil, message.
function M.size(v)
  if type(v) ~= "string" then return nil, "use a size with a unit, like \"2G\" or \"512M\"" end
  local n, msg = util.parse_size(v)
  if not n then return nil, (msg:gsub("^invalid size", "not a size")) end
  return n
end

---Seconds from a duration ("90s", "5m") or a positive number, or nil.
function M.duration(v)
  if type(v) == "number" and v > 0 then return v end
  if type(v) == "string" then
    local n = util.parse_duration(v)
    if n and n > 0 then return n end
  end
  return nil
end

---The file:line where `key =` appears in the declaration that starts at `at`
---(a heuristic over the recipe's text: Lua does not say where a table's keys
---are), else `at`.
---@param texts table<string, string>  recipe file texts by shown path
function M.locate(texts, at, key)
  local file, line = at:match("^(.*):(%d+)$")
  local text = file and texts[file]
  if not text then return at end
  line = tonumber(line)
  key = key:gsub("%p", "%%%0")
  local i = 0
  for l in (text .. "\n"):gmatch("(.-)\n") do
    i = i + 1
    if i > line + 200 then break end
    if i >= line then
      if i > line and (l:match("^%s*instance%s*[%(\"'%[]") or l:match("^%s*network%s*[%(\"'%[]"))
      then break end
      if l:match("^%s*" .. key .. "%s*=") or l:match("[{,;%s]" .. key .. "%s*=") or
          l:match("%[%s*[\"']" .. key .. "[\"']%s*%]%s*=") then
        return file .. ":" .. i
      end
    end
  end
  return at
end

---Checks one instance's settings; returns the declaration (with what is
---valid), recording each mistake through ctx.fail.
---@param ctx {fail: fun(at: string, msg: string), locate: fun(at: string, key: string): string, dir: string, shown_dir: string}
function M.instance(ctx, name, spec, at)
  local inst = { name = name, where = at, deps = {}, depends_on = {}, provision = {},
    networks = {}, mounts = {}, forwards = {}, labels = {}, key_where = {} }
  local function kfail(key, msg) ctx.fail(ctx.locate(at, key), string.format("instance \"%s\": %s",
    name, msg)) end
  for k in pairs(spec) do
    local known = false
    for _, key in ipairs(M.INSTANCE_KEYS) do if key == k then known = true end end
    if not known then
      local near = type(k) == "string" and sandbox.closest(k, M.INSTANCE_KEYS)
      if type(k) == "string" then
        kfail(k, string.format("unknown key \"%s\" (%s)", k, near and
          ("did you mean \"" .. near .. "\"?") or ("keys: " .. table.concat(M.INSTANCE_KEYS,
          ", "))))
      else
        ctx.fail(at, string.format("instance \"%s\": positional value %s: every setting is " ..
          "key = value (keys: %s)", name, tostring(k), table.concat(M.INSTANCE_KEYS, ", ")))
      end
    else
      inst.key_where[k] = ctx.locate(at, k)
    end
  end
  local v = spec.image
  if v ~= nil then
    if type(v) ~= "string" or v == "" then kfail("image", "image must be a string like " ..
      "\"local:tiny\" or \"debian:12\", got a " .. values.kind(v))
    else inst.image = v end
  end
  v = spec.cpus
  if v ~= nil then
    if math.type(v) ~= "integer" or v < 1 or v > 256 then
      kfail("cpus", "cpus must be a whole number from 1 to 256, got " .. tostring(v))
    else inst.cpus = v end
  end
  for _, k in ipairs({ "memory", "disk" }) do
    v = spec[k]
    if v ~= nil then
      local n, msg = M.size(v)
      local min = k == "memory" and 128 * 1024 ^ 2 or 512 * 1024 ^ 2
      if not n then kfail(k, string.format("%s: %s", k, msg))
      elseif n < min then
        kfail(k, string.format("%s must be at least %s, got %s", k,
          k == "memory" and "128M" or "512M", tostring(v)))
      else inst[k] = math.tointeger(n) end
    end
  end
  v = spec.cloud_init
  if v ~= nil then
    if not values.is_text(v) then
      kfail("cloud_init", "cloud_init must be a string (file \"user-data.yaml\", or text), " ..
        "got a " .. values.kind(v))
    else
      inst.cloud_init = v
      if type(v) == "string" and not v:match("^#!") then
        local doc, msg = yaml.parse(v)
        if doc == nil and msg then
          kfail("cloud_init", "cloud_init is not valid YAML: " .. msg)
        elseif doc ~= nil and (type(doc) ~= "table" or doc[1] ~= nil) then
          kfail("cloud_init", "cloud_init must be a YAML mapping (#cloud-config) or a script")
        end
      end
    end
  end
  v = spec.timeout
  if v ~= nil then
    local d = M.duration(v)
    if not d then kfail("timeout", "timeout must be a duration like \"5m\" or seconds")
    else inst.timeout = d end
  end
  v = spec.labels
  if v ~= nil then
    if not values.is_plain(v) then kfail("labels", "labels must be a table of " ..
      "name = \"value\"")
    else
      for lk, lv in pairs(v) do
        if type(lk) ~= "string" or not lk:match("^[%w][%w._/-]*$") or lk:match("^moonbase%.")
          or type(lv) ~= "string" then
          kfail("labels", string.format("label %s = %s: names are words (not starting with " ..
            "\"moonbase.\"), values strings", tostring(lk), tostring(lv)))
        else inst.labels[lk] = lv end
      end
    end
  end
  v = spec.depends_on
  if v ~= nil then
    if type(v) == "string" then v = { v } end
    local l = values.list_of(v)
    if not l then kfail("depends_on", "depends_on must be a list of instance names, like " ..
      "{ \"db\" }")
    else
      for _, d in ipairs(l) do
        if type(d) ~= "string" then
          kfail("depends_on", "depends_on: " .. tostring(d) .. " is not an instance name")
        else inst.depends_on[#inst.depends_on + 1] = d end
      end
    end
  end
  v = spec.provision
  if v ~= nil then
    if values.step_data(v) then v = { v } end
    local l = values.list_of(v)
    if not l then kfail("provision", "provision must be a list of steps: { sh [[...]], " ..
      "copy { src, dst } }")
    else
      for i, s in ipairs(l) do
        -- only what sh, copy and write made: a table shaped like a step is not one
        local step = values.step_data(s)
        if type(s) == "string" or values.is_lazy(s) then
          kfail("provision", string.format("provision step %d is a bare string: wrap it, " ..
            "sh [[...]]", i))
        elseif not step then
          kfail("provision", string.format("provision step %d is a %s, not a step (steps " ..
            "are made by sh, copy and write)", i, values.kind(s)))
        else inst.provision[#inst.provision + 1] = step end
      end
    end
  end
  v = spec.ready
  if v ~= nil then
    local probe = values.probe_data(v)
    if not probe then
      kfail("ready", "ready must be a probe: probe.tcp(5432), probe.exec \"cmd\" or " ..
        "probe.file \"/path\", got a " .. values.kind(v))
    else inst.ready = probe end
  end
  v = spec.networks
  if v ~= nil then
    local l = values.list_of(v)
    if not l then kfail("networks", "networks must be a list: { \"backend\", { \"front\", " ..
      "ip = \"10.77.0.10\" } }")
    else
      for _, n in ipairs(l) do
        local e
        if type(n) == "string" then e = { name = n }
        elseif values.is_plain(n) and type(n[1] or n.name) == "string" then
          e = { name = n[1] or n.name, ip = n.ip }
          for nk in pairs(n) do
            if nk ~= 1 and nk ~= "name" and nk ~= "ip" then
              kfail("networks", "networks: unknown key \"" .. tostring(nk) .. "\" (keys: " ..
                "name, ip)")
            end
          end
          if e.ip ~= nil and (type(e.ip) ~= "string" or not e.ip:match("^%d+%.%d+%.%d+%.%d+$"))
          then
            kfail("networks", "networks: ip must be an IPv4 address like \"10.77.0.10\"")
          end
        end
        if e then inst.networks[#inst.networks + 1] = e
        else kfail("networks", "networks: " .. values.kind(n) .. " is not a network name") end
      end
    end
  end
  v = spec.bridged
  if v ~= nil then
    if type(v) ~= "boolean" then
      kfail("bridged", "bridged must be true or false (true: a NIC on the host bridge in " ..
        "local.bridged-network, like launch --bridged)")
    else inst.bridged = v or nil end
  end
  v = spec.host
  if v ~= nil then
    if type(v) ~= "string" or (v ~= "local"
        and not hosts.is_remote(v)) then
      kfail("host", "host must be \"local\" or a remote host's URI such as " ..
        "\"qemu+ssh://user@host/system\" (libvirt) or \"lxd+https://host:8443\" (LXD), got " ..
        (type(v) == "string" and string.format("%q", v) or "a " .. values.kind(v)))
    else inst.host = v ~= "local" and v or nil end
  end
  v = spec.mounts
  if v ~= nil then
    local l = values.list_of(v)
    if not l then kfail("mounts", "mounts must be a list: { { \"./site\", \"/srv/site\" } }")
    else
      for _, m in ipairs(l) do
        local src, dst = values.is_plain(m) and (m.src or m[1]), values.is_plain(m) and
          (m.dst or m[2])
        if type(src) ~= "string" or type(dst) ~= "string" then
          kfail("mounts", "mounts: each mount is { \"host path\", \"/guest/path\" }")
        else
          local e = { src = src, dst = dst, readonly = m.readonly, type = m.type }
          for mk in pairs(m) do
            if mk ~= 1 and mk ~= 2 and mk ~= "src" and mk ~= "dst" and mk ~= "readonly" and
                mk ~= "type" then
              kfail("mounts", "mounts: unknown key \"" .. tostring(mk) .. "\" (keys: src, " ..
                "dst, readonly, type)")
            end
          end
          local p = src:sub(1, 1) == "/" and src or (ctx.dir .. "/" .. src)
          local real = fs.realpath(p)
          if not real then
            kfail("mounts", string.format("mount source \"%s\" does not exist (relative " ..
              "paths start at the recipe's folder, %s)", src, ctx.dir))
          elseif fs.exists(real) ~= "directory" then
            kfail("mounts", string.format("mount source \"%s\" is not a directory", src))
          end
          e.real = real
          if dst:sub(1, 1) ~= "/" then
            kfail("mounts", string.format("mount target \"%s\" must be an absolute path", dst))
          end
          if e.readonly ~= nil and type(e.readonly) ~= "boolean" then
            kfail("mounts", "mounts: readonly must be true or false")
          end
          if e.type ~= nil and e.type ~= "native" and e.type ~= "classic" then
            kfail("mounts", "mounts: type must be \"native\" or \"classic\"")
          end
          for _, other in ipairs(inst.mounts) do
            if other.dst == dst then
              kfail("mounts", string.format("two mounts on \"%s\"", dst))
            end
          end
          inst.mounts[#inst.mounts + 1] = e
        end
      end
    end
  end
  v = spec.forwards
  if v ~= nil then
    if not values.is_plain(v) then
      kfail("forwards", "forwards must be a table: { [8080] = 80 } or { \"8080:80/tcp\" }")
    else
      local function add(host, guest, proto)
        local hp = math.tointeger(tonumber(host))
        local gp = math.tointeger(tonumber(guest))
        if not hp or not gp or hp < 1 or hp > 65535 or gp < 1 or gp > 65535 then
          kfail("forwards", string.format("forwards: %s -> %s: ports are whole numbers from " ..
            "1 to 65535", tostring(host), tostring(guest)))
        elseif proto ~= "tcp" and proto ~= "udp" then
          kfail("forwards", "forwards: the protocol is tcp or udp, got " .. tostring(proto))
        else
          inst.forwards[#inst.forwards + 1] = { host = hp, guest = gp, proto = proto,
            where = ctx.locate(at, "forwards") }
        end
      end
      for fk, fv in pairs(v) do
        if math.type(fk) == "integer" and type(fv) == "string" then
          local h, g, p = fv:match("^(%d+):(%d+)/?(%a*)$")
          if not h then
            kfail("forwards", string.format("forwards: \"%s\" is not HOST:GUEST[/tcp|/udp]", fv))
          else add(h, g, p ~= "" and p or "tcp") end
        elseif math.type(fk) == "integer" then
          add(fk, fv, "tcp")
        elseif type(fk) == "string" then
          local h, p = fk:match("^(%d+)/(%a+)$")
          if h then add(h, fv, p)
          else kfail("forwards", string.format("forwards: key \"%s\" is not a port", fk)) end
        else
          kfail("forwards", "forwards: keys are host ports")
        end
      end
      table.sort(inst.forwards, function(a, b) return a.host < b.host end)
    end
  end
  -- refs in what runs at launch or in steps make implicit dependencies
  inst.refs = values.refs_in({ inst.cloud_init, inst.provision, inst.ready })
  return inst
end

function M.recipe(model, given, caps)
  local function fail(at, msg) model.errors[#model.errors + 1] = { where = at, message = msg } end
  for k in pairs(given) do
    if not model.param_by_name[k] then
      local names = {}
      for _, p in ipairs(model.params) do names[#names + 1] = p.name end
      fail(model.shown, string.format("--param %s: the recipe declares no parameter \"%s\" (%s)",
        k, k, #names > 0 and ("it declares: " .. table.concat(names, ", ")) or
        "it declares none"))
    end
  end
  for _, r in ipairs(model.refs) do
    if not model.by_name[r.name] then
      local names = {}
      for _, i in ipairs(model.instances) do names[#names + 1] = i.name end
      local near = sandbox.closest(r.name, names)
      fail(r.where, string.format("ref(\"%s\"): no instance \"%s\" in this recipe%s", r.name,
        r.name, near and (" (did you mean \"" .. near .. "\"?)") or ""))
    end
  end
  local names = {}
  for _, i in ipairs(model.instances) do names[#names + 1] = i.name end
  local used_ports = {}
  for _, inst in ipairs(model.instances) do
    local seen = {}
    for _, d in ipairs(inst.depends_on) do
      if not model.by_name[d] then
        local near = sandbox.closest(d, names)
        fail(inst.key_where.depends_on or inst.where, string.format("instance \"%s\": " ..
          "depends_on names no instance \"%s\"%s", inst.name, d,
          near and (" (did you mean \"" .. near .. "\"?)") or " (declare it, or remove it)"))
      elseif d == inst.name then
        fail(inst.key_where.depends_on or inst.where, string.format("instance \"%s\" depends " ..
          "on itself", inst.name))
      elseif not seen[d] then
        seen[d] = true
        inst.deps[#inst.deps + 1] = d
      end
    end
    for _, r in ipairs(inst.refs) do
      if model.by_name[r.ref] and r.ref ~= inst.name and not seen[r.ref] then
        seen[r.ref] = true
        inst.deps[#inst.deps + 1] = r.ref
      end
    end
    for _, r in ipairs(values.refs_in(inst.cloud_init)) do
      if r.ref == inst.name then
        fail(r.where, string.format("instance \"%s\": its cloud_init uses its own %s, which is " ..
          "known only after launch (use a provision step)", inst.name, r.field))
      end
    end
    for _, n in ipairs(inst.networks) do
      if not model.network_by_name[n.name] then
        fail(inst.key_where.networks or inst.where, string.format("instance \"%s\": no " ..
          "network \"%s\" in this recipe (declare it: network \"%s\" { })", inst.name, n.name,
          n.name))
      end
    end
    for _, f in ipairs(inst.forwards) do
      local key = f.host .. "/" .. f.proto
      if used_ports[key] then
        fail(f.where, string.format("instance \"%s\": host port %s is already forwarded to " ..
          "\"%s\"", inst.name, key, used_ports[key]))
      end
      used_ports[key] = inst.name
    end
    local function unavailable(key, what, issue)
      fail(inst.key_where[key] or inst.where, string.format("instance \"%s\": %s are not " ..
        "available yet in this build (%s; declare them only when has(\"%s\") is true)",
        inst.name, what, issue, key))
    end
    if #inst.networks > 0 and not caps.networks then
      unavailable("networks", "networks", "named networks come with the networking work")
    end
    if #inst.mounts > 0 and not caps.mounts then
      unavailable("mounts", "mounts", "recipe mounts come with the mounts work")
    end
    if #inst.forwards > 0 and not caps.forwards then
      unavailable("forwards", "forwards", "port forwards come with the networking work")
    end
  end
  for _, n in ipairs(model.networks) do
    if not caps.networks then
      fail(n.where, string.format("network \"%s\": networks are not available yet in this " ..
        "build (declare them only when has(\"networks\") is true)", n.name))
    end
  end
  -- cycles (depth-first, reported once at the first instance of the cycle)
  local color, stack = {}, {}
  local function visit(name)
    color[name] = "grey"
    stack[#stack + 1] = name
    for _, d in ipairs(model.by_name[name].deps) do
      if color[d] == "grey" then
        local cycle, on = {}, false
        for _, s in ipairs(stack) do
          if s == d then on = true end
          if on then cycle[#cycle + 1] = s end
        end
        cycle[#cycle + 1] = d
        local first = model.by_name[d]
        fail(first.key_where.depends_on or first.where, string.format("dependency cycle: %s " ..
          "(break it: an instance cannot wait for itself)", table.concat(cycle, " -> ")))
        return true
      elseif not color[d] and model.by_name[d] then
        if visit(d) then return true end
      end
    end
    table.remove(stack)
    color[name] = "black"
    return false
  end
  for _, inst in ipairs(model.instances) do
    if not color[inst.name] then
      stack = {}
      if visit(inst.name) then break end
    end
  end
end

---Instances in an order where every instance comes after its dependencies.
function M.order(model)
  local out, done = {}, {}
  local function add(inst)
    if done[inst.name] then return end
    done[inst.name] = true
    for _, d in ipairs(inst.deps) do add(model.by_name[d]) end
    out[#out + 1] = inst
  end
  for _, inst in ipairs(model.instances) do add(inst) end
  return out
end

return M
