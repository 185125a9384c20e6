-- The daemon's trust: its own CA and server certificate, the client
-- certificates it trusts (added by `moonbase authenticate` with the
-- passphrase in local.passphrase or a one-time token), and revocation
-- (`moonbase trust remove`). Everything lives in <config>/daemon/, written
-- atomically under a lock; keys are 0600.
-- layer: facade
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")

local M = {}

local function tls() return require("moonbase.engine.tls") end

function M.dir() return paths.config .. "/daemon" end

local function file() return M.dir() .. "/trust.json" end

local function load()
  return errors.check("trust", store.read(file(), { clients = {}, revoked = {}, tokens = {} }))
end

local function update(fn)
  errors.check("trust", fs.mkdirs(M.dir()))
  local lock <close> = errors.check("trust", fs.lock(M.dir() .. "/trust.lock"))
  local data = load()
  data.clients, data.revoked, data.tokens = data.clients or {}, data.revoked or {},
    data.tokens or {}
  local r = table.pack(fn(data))
  store.write(file(), data, 384)
  return table.unpack(r, 1, r.n)
end

local function now_iso() return os.date("!%Y-%m-%dT%H:%M:%SZ") end

local function write_private(path, text)
  errors.check("trust", fs.write(path, text, 384))
end

---The CA and server certificate, made on first use; returns the paths
---{chain = server cert + CA, key = server key, ca = CA cert}.
function M.server_files(listen)
  local d = M.dir()
  errors.check("trust", fs.mkdirs(d))
  local t = tls()
  local ca_crt, ca_key = d .. "/ca.crt", d .. "/ca.key"
  if not fs.exists(ca_crt) or not fs.exists(ca_key) then
    local key = errors.check("trust", t.keygen())
    local host = (util.uname() or {}).nodename or "localhost"
    local crt = errors.check("trust", t.cert({ key = key, cn = "moonbase CA " .. host,
      ca = true, days = 3650 }))
    write_private(ca_key, key)
    errors.check("trust", fs.write(ca_crt, crt))
  end
  local srv_key, chain = d .. "/server.key", d .. "/server.crt"
  local sans = { "DNS:localhost", "IP:127.0.0.1", "IP:::1" }
  local host = (util.uname() or {}).nodename
  if host and host:match("^[%w%.%-]+$") then sans[#sans + 1] = "DNS:" .. host end
  for _, l in ipairs(listen or {}) do
    if l.https and l.https ~= "0.0.0.0" and l.https ~= "::" then
      sans[#sans + 1] = (l.https:match("^[%d%.]+$") or l.https:find(":")) and
        ("IP:" .. l.https) or ("DNS:" .. l.https)
    end
  end
  local san = table.concat(sans, ",")
  local stamp = d .. "/server.san"
  if not fs.exists(chain) or (fs.read(stamp) or "") ~= san then
    local key = errors.check("trust", t.keygen())
    local crt = errors.check("trust", t.cert({ key = key, cn = host or "localhost", san = san,
      issuer_cert = fs.read(ca_crt), issuer_key = fs.read(ca_key), days = 825 }))
    write_private(srv_key, key)
    errors.check("trust", fs.write(chain, crt .. fs.read(ca_crt)))
    errors.check("trust", fs.write(stamp, san))
  end
  return { chain = chain, key = srv_key, ca = ca_crt }
end

---The SHA-256 fingerprint of the daemon's CA (what clients pin).
function M.ca_fingerprint()
  return errors.check("trust", tls().fingerprint(errors.check("trust",
    fs.read(M.dir() .. "/ca.crt"))))
end

---The entry trusting fingerprint fp, or nil and, if it was revoked, when.
function M.lookup(fp)
  local data = load()
  for _, c in ipairs(data.clients or {}) do
    if c.fingerprint == fp then return c end
  end
  for _, c in ipairs(data.revoked or {}) do
    if c.fingerprint == fp then return nil, "revoked " .. tostring(c.revoked) end
  end
end

---Checks a passphrase (against local.passphrase, stored hashed) or a
---one-time token (consumed). Returns true, or nil and why.
function M.check_secret(passphrase, token)
  if type(token) == "string" and token ~= "" then
    local secret = token:match("^mbt1_(%x+)_%x+$") or token
    local digest = tls().sha256(secret)
    return update(function(data)
      for i, t in ipairs(data.tokens) do
        if t.digest == digest then
          table.remove(data.tokens, i)
          if t.expires and t.expires < os.time() then return nil, "the trust token has expired" end
          return true
        end
      end
      return nil, "the trust token is not valid (used already, or never issued)"
    end)
  end
  if type(passphrase) ~= "string" or passphrase == "" then
    return nil, "authenticate needs the daemon's passphrase or a trust token"
  end
  local stored = require("moonbase.settings").get("local.passphrase")
  if not stored or stored == "" then
    return nil, "the daemon has no passphrase set (try, on its host: moonbase set " ..
      "local.passphrase=SECRET, or moonbase trust token)"
  end
  if not tls().verify(passphrase, stored) then return nil, "wrong passphrase" end
  return true
end

---Trusts a client certificate.
function M.add(fp, cert, name)
  update(function(data)
    for _, c in ipairs(data.clients) do
      if c.fingerprint == fp then return end
    end
    for i = #data.revoked, 1, -1 do
      if data.revoked[i].fingerprint == fp then table.remove(data.revoked, i) end
    end
    data.clients[#data.clients + 1] = { fingerprint = fp, name = name or "client",
      added = now_iso(), certificate = cert }
  end)
end

---The trusted clients: { {fingerprint, name, added}, ... }.
---@return table[]
function M.list()
  local out = {}
  for _, c in ipairs(load().clients or {}) do
    out[#out + 1] = { fingerprint = c.fingerprint, name = c.name, added = c.added }
  end
  return out
end

---Revokes the client whose fingerprint starts with `which` (at least 8
---characters) or whose name is `which`; returns its entry.
function M.remove(which)
  if type(which) ~= "string" or which == "" then
    errors.usage("trust remove needs a fingerprint (at least 8 characters) or a client name")
  end
  return update(function(data)
    local found, idx = nil, nil
    for i, c in ipairs(data.clients) do
      if c.name == which or (#which >= 8 and c.fingerprint:sub(1, #which) == which:lower()) then
        if found then
          errors.usage(string.format("trust remove: \"%s\" matches several clients (give more " ..
            "of the fingerprint)", which))
        end
        found, idx = c, i
      end
    end
    if not found then
      errors.raise(string.format("trust remove: no trusted client matches \"%s\" (try: " ..
        "moonbase trust list)", which), "notfound")
    end
    table.remove(data.clients, idx)
    data.revoked[#data.revoked + 1] = { fingerprint = found.fingerprint, name = found.name,
      revoked = now_iso() }
    return { fingerprint = found.fingerprint, name = found.name }
  end)
end

---Issues a one-time trust token (valid for `ttl` seconds, a day by default):
---`moonbase authenticate TOKEN` on a client trusts it. The token carries the
---CA's fingerprint, so the client also knows it reached the right daemon.
function M.token(o)
  o = o or {}
  local secret = errors.check("trust", tls().random(24))
  local ca = fs.exists(M.dir() .. "/ca.crt") and M.ca_fingerprint() or
    M.ca_fingerprint(M.server_files())
  update(function(data)
    local keep = {}
    for _, t in ipairs(data.tokens) do
      if not t.expires or t.expires >= os.time() then keep[#keep + 1] = t end
    end
    keep[#keep + 1] = { digest = tls().sha256(secret), expires = os.time() + (o.ttl or 86400),
      name = o.name }
    data.tokens = keep
  end)
  return "mbt1_" .. secret .. "_" .. ca
end

return M
