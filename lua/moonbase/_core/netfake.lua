-- A stand-in for moonbase.engine.net that keeps the "host" in a table: links,
-- addresses, routes, the NAT table and dnsmasq as data, no kernel and no
-- processes. What the test driver is to hypervisors, this is to host
-- networking: specs inject it (network._host = netfake.new{...}), and
-- MOONBASE_NET_FAKE=<file.json> makes the CLI use one stored in that file, so
-- CLI specs never touch the real host's network even when they run as root.
-- layer: services
local M = {}

local function copy(t)
  if type(t) ~= "table" then return t end
  local o = {}
  for k, v in pairs(t) do o[k] = copy(v) end
  return o
end

local function find(list, name)
  for i, l in ipairs(list) do
    if l.name == name then return l, i end
  end
end

---A fake host. state: {privileged?, reason?, links?, addresses?, routes?}
---@param state? table
---@param save? fun(state: table)  called after every change
function M.new(state, save)
  local s = copy(state or {})
  s.links = s.links or { { name = "lo", kind = nil, up = true, loopback = true, index = 1 } }
  s.addresses = s.addresses or { { dev = "lo", address = "127.0.0.1", prefix = 8 } }
  s.routes = s.routes or {}
  s.dnsmasq = s.dnsmasq or {}
  s.log = s.log or {}
  if s.privileged == nil then s.privileged = true end
  local h = { state = s, ALIAS_PREFIX = "moonbase:", NFT_TABLE = "moonbase" }
  local function changed(op)
    s.log[#s.log + 1] = op
    if save then save(s) end
  end
  local function missing(name)
    return nil, string.format("net: there is no network interface \"%s\"", name), "notfound"
  end
  local function add_link(name, kind, alias)
    if find(s.links, name) then
      return nil, "net: cannot create " .. name .. ": File exists", "exists"
    end
    local idx = 1
    for _, l in ipairs(s.links) do idx = math.max(idx, l.index or 1) end
    s.links[#s.links + 1] = { name = name, kind = kind, alias = alias, up = false,
      index = idx + 1, mtu = 1500 }
    changed(kind .. "_create " .. name)
    return true
  end

  function h.privileged()
    if s.privileged then return true end
    return false, s.reason or "creating bridges and taps needs root or CAP_NET_ADMIN"
  end
  function h.links() return copy(s.links) end
  function h.addresses() return copy(s.addresses) end
  function h.routes()
    local out = copy(s.routes)
    -- the kernel adds a connected route for every address
    local ipv4 = require("moonbase._core.ipv4")
    for _, a in ipairs(s.addresses) do
      if a.dev ~= "lo" then
        local c = ipv4.cidr(assert(ipv4.parse(a.address)), a.prefix)
        out[#out + 1] = { dst = ipv4.format(c.network), prefix = a.prefix, dev = a.dev,
          table = 254 }
      end
    end
    return out
  end
  function h.bridge_create(name, o) return add_link(name, "bridge", o and o.alias) end
  function h.tap_create(name, o) return add_link(name, "tun", o and o.alias) end
  function h.link_delete(name)
    local _, i = find(s.links, name)
    if not i then return true end
    table.remove(s.links, i)
    for k = #s.addresses, 1, -1 do
      if s.addresses[k].dev == name then table.remove(s.addresses, k) end
    end
    for _, l in ipairs(s.links) do
      if l.master == name then l.master = nil end
    end
    changed("link_delete " .. name)
    return true
  end
  function h.link_set(name, o)
    local l = find(s.links, name)
    if not l then return missing(name) end
    if o.master ~= nil then
      if o.master and not find(s.links, o.master) then return missing(o.master) end
      l.master = o.master or nil
    end
    if o.alias then l.alias = o.alias end
    if o.up ~= nil then l.up = o.up end
    changed("link_set " .. name)
    return true
  end
  function h.address_add(dev, addr, prefix)
    if not find(s.links, dev) then return missing(dev) end
    for _, a in ipairs(s.addresses) do
      if a.dev == dev and a.address == addr then a.prefix = prefix; return true end
    end
    s.addresses[#s.addresses + 1] = { dev = dev, address = addr, prefix = prefix }
    changed("address_add " .. dev .. " " .. addr .. "/" .. prefix)
    return true
  end
  -- a hint to the kernel's neighbour cache: nothing a simulated host keeps
  function h.neigh_hint(dev)
    if not find(s.links, dev) then return missing(dev) end
    return true
  end
  function h.address_delete(dev, addr, prefix)
    for i, a in ipairs(s.addresses) do
      if a.dev == dev and a.address == addr then
        table.remove(s.addresses, i)
        changed("address_delete " .. dev .. " " .. addr .. "/" .. prefix)
        break
      end
    end
    return true
  end
  function h.ip_forward(on)
    local before = s.ip_forward or false
    if on ~= nil then s.ip_forward = on and true or false; changed("ip_forward") end
    return before
  end
  function h.nat_ruleset(nets) return require("moonbase.engine.net").nat_ruleset(nets) end
  function h.nat_apply(nets)
    s.nat = #nets > 0 and copy(nets) or nil
    changed("nat_apply " .. #nets)
    return true
  end
  function h.nat_exists() return s.nat ~= nil end
  function h.dnsmasq_conf(o) return require("moonbase.engine.net").dnsmasq_conf(o) end
  function h.dnsmasq_start(o)
    local d = s.dnsmasq[o.dir] or {}
    if not d.pid then
      d.pid = 40000 + #s.log
      d.bridge, d.address = o.bridge, o.address
      changed("dnsmasq_start " .. o.bridge)
    end
    s.dnsmasq[o.dir] = d
    if save then save(s) end
    return d.pid
  end
  function h.dnsmasq_pid(dir) return s.dnsmasq[dir] and s.dnsmasq[dir].pid or nil end
  function h.dnsmasq_stop(dir)
    if s.dnsmasq[dir] and s.dnsmasq[dir].pid then
      s.dnsmasq[dir].pid = nil
      changed("dnsmasq_stop")
    end
    return true
  end
  function h.dnsmasq_hosts(dir, domain, hosts)
    s.dnsmasq[dir] = s.dnsmasq[dir] or {}
    s.dnsmasq[dir].hosts = copy(hosts)
    s.dnsmasq[dir].domain = domain
    changed("dnsmasq_hosts " .. #hosts)
    return true
  end
  function h.dnsmasq_all()
    local out = {}
    for _, d in pairs(s.dnsmasq) do
      if d.pid then out[#out + 1] = d.pid end
    end
    table.sort(out)
    return out
  end
  function h.dnsmasq_kill(pid)
    for _, d in pairs(s.dnsmasq) do
      if d.pid == pid then d.pid = nil end
    end
    changed("dnsmasq_kill " .. pid)
    return true
  end
  function h.uid() return 1000, 1000 end
  return h
end

---A fake host kept in a JSON file (defaults while it is missing), which
---several processes may use at once: each call reads the file; one that
---changes it does so under a lock (flock on `<path>.lock`).
---@param path string
function M.open(path)
  local fs = require("moonbase.engine.fs")
  local json = require("moonbase.engine.json")
  local function integers(v)
    if type(v) == "table" then
      for k, x in pairs(v) do v[k] = integers(x) end
    elseif math.type(v) == "float" and v == math.floor(v) then
      return math.tointeger(v)
    end
    return v
  end
  local function load()
    local text = fs.read(path)
    local state = text and text ~= "" and json.decode(text) or {}
    return integers(state)
  end
  -- cjson reads [] as {}; only lists are stored, so that is harmless
  -- written to a temporary file and renamed into place (no fsync: it changes
  -- several times per call), so a command killed halfway leaves the old
  -- state or the new one, never half a file (tests/lua/chaos_spec.lua); the
  -- temporary file's name is one store.sweep removes when its writer is gone
  local dir = path:match("^(.*)/[^/]*$") or "."
  local base = path:match("([^/]*)$")
  local function save(s)
    local tmp = string.format("%s/%s%s.tmp.%d.0", dir, base:match("^%.") and "" or ".", base,
      require("moonbase.engine.util").getpid())
    local f = assert(io.open(tmp, "w"))
    f:write(json.encode(s))
    f:close()
    assert(os.rename(tmp, path))
  end
  -- A call that changes nothing reads the file (replaced whole, so never
  -- half-written) and creates nothing: a refused command leaves no file. One
  -- that changes the host runs again under the lock, on what is there then.
  local proxy = {}
  for k, v in pairs(M.new({})) do
    if type(v) == "function" then
      proxy[k] = function(...)
        local changes = false
        local r = table.pack(M.new(load(), function() changes = true end)[k](...))
        if not changes then return table.unpack(r, 1, r.n) end
        assert(fs.mkdirs(dir))
        local lock <close> = assert(fs.lock(path .. ".lock"))
        return M.new(load(), save)[k](...)
      end
    elseif k ~= "state" then
      proxy[k] = v
    end
  end
  return proxy
end

return M
