-- The web dashboard's side of the daemon (docs/gui.md): the files it serves
-- (gui/, compiled into the plugin, and xterm.js from the install prefix,
-- where the set-up puts it) and the browser sessions that stand for a
-- trusted client. A browser cannot present a client certificate it did not
-- install, so it logs in with a one-time link: a trusted client (unix peer
-- or TLS certificate) asks POST /v1/sessions/link (`moonbase gui` does),
-- opens /login?token=... in the browser, and gets a session cookie bound to
-- that client's identity. Every request with the cookie is checked again:
-- the identity must still be trusted (a revoked certificate ends its
-- sessions), a state-changing method needs the session's CSRF token in
-- X-Moonbase-Csrf, and an Origin, when sent, must be the daemon's own.
-- Sessions are kept in the daemon's memory.
-- layer: facade
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local errors = require("moonbase.errors")
local trust = require("moonbase.trust")

local M = {}

---An HTTP refusal: status and a JSON error body.
function M.refuse(status, message, code)
  return { status = status, body = json.encode({ error = { message = message,
    code = code or "failed" } }) }
end
local refuse = M.refuse

---------------------------------------------------------------- listeners
-- The listeners a browser can reach ({scheme, host, port}), set by the
-- daemon when it starts: loopback http:// ones and https:// ones.
M.listeners = {}

---Whether an http:// listener may bind this address: loopback only.
function M.loopback(host)
  return host == "127.0.0.1" or host == "::1" or host == "localhost"
end

-- On a plain-HTTP loopback listener the Host header must name it: a page on
-- another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
local function host_ok(req)
  if req.peer.transport ~= "http" then return true end
  local host = req.headers and req.headers.host or ""
  local name, port = host:match("^%[(::1)%]:(%d+)$")
  if not name then name, port = host:match("^([%w%.]+):(%d+)$") end
  if not name or not M.loopback(name) then return false end
  for _, l in ipairs(M.listeners) do
    if l.scheme == "http" and tostring(l.port) == port then return true end
  end
  return false
end

---The addresses of the dashboard for a client that asked for a login link:
---loopback http:// first, then https:// (a wildcard address as loopback:
---the asking unix client is on this host).
function M.urls(path)
  local out = {}
  for _, scheme in ipairs({ "http", "https" }) do
    for _, l in ipairs(M.listeners) do
      if l.scheme == scheme then
        local host = l.host
        if host == "0.0.0.0" or host == "localhost" then host = "127.0.0.1" end
        if host == "::" then host = "::1" end
        if host:find(":", 1, true) then host = "[" .. host .. "]" end
        out[#out + 1] = string.format("%s://%s:%d%s", scheme, host, l.port, path)
      end
    end
  end
  return out
end

---------------------------------------------------------------- sessions
M.sessions = { links = {}, live = {}, link_ttl = 300, ttl = 12 * 3600 }

local function random_hex(n)
  return errors.check("daemon", require("moonbase.engine.tls").random(n))
end

function M.cookie_of(req)
  local c = req.headers and req.headers.cookie
  return c and c:match("mb_session=([%x]+)")
end

local function identity_of(peer)
  if peer.transport == "unix" then return { transport = "unix", uid = peer.uid } end
  return { transport = "tls", fingerprint = peer.fingerprint }
end

local function identity_valid(id)
  if id.transport == "unix" then return true end
  return trust.lookup(id.fingerprint) ~= nil
end

local unsafe = { POST = true, PUT = true, DELETE = true, PATCH = true }

---The session a cookie names, if it may make this request; else nil and the
---refusal (or nil, nil: no session cookie at all).
function M.session_for(req)
  local id = M.cookie_of(req)
  if not id then return nil end
  local s = M.sessions.live[id]
  if not s or s.expires < util.now() then
    M.sessions.live[id] = nil
    return nil, refuse(401, "the session has ended (log in again with a new link: moonbase " ..
      "gui)", "auth")
  end
  if not identity_valid(s.identity) then
    M.sessions.live[id] = nil
    return nil, refuse(403, "the client this session belongs to is no longer trusted", "auth")
  end
  local origin, host = req.headers.origin, req.headers.host
  if origin and host and origin ~= "https://" .. host and origin ~= "http://" .. host then
    return nil, refuse(403, "cross-origin request refused", "auth")
  end
  if unsafe[req.method] and req.headers["x-moonbase-csrf"] ~= s.csrf then
    return nil, refuse(403, "missing or wrong X-Moonbase-Csrf header", "auth")
  end
  if req.mode == "ws" and not origin then
    return nil, refuse(403, "a WebSocket from a browser session needs its Origin", "auth")
  end
  return s
end

---A one-time login link for the client of this request, which proved who
---it is itself (a unix peer or a trusted certificate, never a session).
function M.link(req)
  local token = random_hex(24)
  M.sessions.links[token] = { identity = identity_of(req.peer),
    expires = util.now() + M.sessions.link_ttl }
  local path = "/login?token=" .. token
  return { status = 200, body = json.encode({ result = { { token = token, path = path,
    urls = M.urls(path) } }, n = 1 }) }
end

---The routes of sessions themselves (/login, /v1/session, logout), or nil.
function M.session_routes(req)
  if (req.path == "/login" or req.path:match("^/v1/session")) and not host_ok(req) then
    return refuse(421, "this listener answers requests for its loopback address only", "auth")
  end
  if req.path == "/login" and req.method == "GET" then
    local token
    for _, q in ipairs(req.query or {}) do token = token or q:match("^token=(%x+)$") end
    local link = token and M.sessions.links[token]
    M.sessions.links[token or ""] = nil -- one use, whatever happens
    if not link or link.expires < util.now() or not identity_valid(link.identity) then
      return refuse(403, "this login link is not valid (used already, expired, or never " ..
        "issued)", "auth")
    end
    local id, csrf = random_hex(24), random_hex(24)
    M.sessions.live[id] = { identity = link.identity, csrf = csrf,
      expires = util.now() + M.sessions.ttl }
    return { status = 303, body = "", headers = {
      { "set-cookie", "mb_session=" .. id .. "; Path=/; HttpOnly; Secure; SameSite=Strict" },
      { "location", "/" }, { "referrer-policy", "no-referrer" } } }
  end
  if req.path == "/v1/session" and req.method == "GET" then
    local s, denied = M.session_for(req)
    if not s then return denied or refuse(401, "no session", "auth") end
    return { status = 200, body = json.encode({ result = { { csrf = s.csrf,
      identity = s.identity } }, n = 1 }) }
  end
  if req.path == "/v1/session/logout" and req.method == "POST" then
    local s, denied = M.session_for(req)
    if not s then return denied or refuse(401, "no session", "auth") end
    M.sessions.live[M.cookie_of(req)] = nil
    return { status = 200, body = json.encode({ result = {}, n = 0 }),
      headers = { { "set-cookie", "mb_session=; Path=/; Max-Age=0; HttpOnly; Secure; " ..
        "SameSite=Strict" } } }
  end
end

---Whether a request that is not a session's may go on over this transport:
---nil when it may, else the refusal (plain HTTP serves browser sessions only).
function M.transport_refusal(req)
  if not host_ok(req) then
    return refuse(421, "this listener answers requests for its loopback address only", "auth")
  end
  if req.peer.transport == "http" then
    return refuse(401, "this listener serves the web dashboard's sessions only (log in with " ..
      "a link from: moonbase gui)", "auth")
  end
end

---------------------------------------------------------------- files
-- Files of the install prefix the dashboard uses (not shipped in moonbase's
-- source: the set-up installs them from the npm registry, pinned by
-- gui/vendor/package-lock.json).
M.vendor = {
  ["xterm/xterm.mjs"] = "@xterm/xterm/lib/xterm.mjs",
  ["xterm/xterm.css"] = "@xterm/xterm/css/xterm.css",
  ["xterm/addon-fit.mjs"] = "@xterm/addon-fit/lib/addon-fit.mjs",
}

local types = { html = "text/html; charset=utf-8", js = "text/javascript; charset=utf-8",
  mjs = "text/javascript; charset=utf-8", css = "text/css; charset=utf-8",
  svg = "image/svg+xml", json = "application/json" }

-- What every file of the dashboard is sent with: it loads nothing from
-- elsewhere, is never framed by another site, and leaks no URL.
M.policy = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; " ..
  "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; " ..
  "frame-ancestors 'none'"

---Where the install prefix keeps the dashboard's third-party files.
function M.vendor_dir()
  return require("moonbase.engine.web").datadir .. "/gui/node_modules"
end

local cache = {}

-- The bytes of a file of the dashboard, and a stamp that changes with them.
local function load_file(rel)
  local vendor = rel:match("^vendor/(.+)$")
  local path
  if vendor then
    path = M.vendor[vendor] and (M.vendor_dir() .. "/" .. M.vendor[vendor])
    if not path then return nil end
  else
    local dev = os.getenv("MOONBASE_LUA_DEV")
    if dev and dev ~= "" then path = dev .. "/gui/" .. rel end
  end
  if not path then
    local data = require("moonbase.engine.web").asset(rel)
    return data, data and "embedded"
  end
  local st = fs.stat(path)
  if not st or st.type ~= "file" then return nil end
  return fs.read(path), tostring(st.size) .. ":" .. tostring(st.mtime)
end

local function cached(rel)
  local data, stamp = load_file(rel)
  if not data then
    cache[rel] = nil
    return nil
  end
  local c = cache[rel]
  if c and c.stamp == stamp and c.size == #data then return c end
  local tls = require("moonbase.engine.tls")
  c = { stamp = stamp, size = #data, body = data,
    etag = '"' .. tls.sha256(data):sub(1, 20) .. '"',
    gz = require("moonbase.engine.web").gzip(data) }
  cache[rel] = c
  return c
end

---The answer to a request for a file of the dashboard, or nil when the path
---is not one (GET / and /ui/..., /vendor/...). The files hold no secrets: the
---page asks GET /v1/session whether it is logged in.
function M.static(req)
  if req.method ~= "GET" then return nil end
  local rel
  if req.path == "/" or req.path == "/index.html" then
    rel = "index.html"
  else
    rel = req.path:match("^/ui/([%w%-_/%.]+)$") or req.path:match("^/(vendor/[%w%-_/%.]+)$")
  end
  if not rel then return nil end
  if req.mode == "ws" then return refuse(400, req.path .. " is not a WebSocket route", "usage") end
  local refused = host_ok(req) or
    refuse(421, "this listener answers requests for its loopback address only", "auth")
  if refused ~= true then return refused end
  local c = (not rel:find("..", 1, true)) and cached(rel)
  if not c then
    if rel:match("^vendor/") and M.vendor[rel:sub(8)] then
      return refuse(404, string.format("%s is not installed in %s (try: npm ci --prefix %s, " ..
        "see docs/gui.md)", M.vendor[rel:sub(8)], M.vendor_dir(),
        M.vendor_dir():gsub("/node_modules$", "")), "notfound")
    end
    return refuse(404, "no such file of the dashboard: " .. req.path, "notfound")
  end
  local headers = { { "etag", c.etag }, { "cache-control", "no-cache" },
    { "content-security-policy", M.policy }, { "x-content-type-options", "nosniff" },
    { "referrer-policy", "no-referrer" }, { "vary", "accept-encoding" } }
  local typ = types[rel:match("%.(%w+)$") or ""] or "application/octet-stream"
  if req.headers and req.headers["if-none-match"] == c.etag then
    return { status = 304, body = "", type = typ, headers = headers }
  end
  local body = c.body
  local enc = req.headers and req.headers["accept-encoding"] or ""
  if c.gz and enc:find("gzip", 1, true) then
    body = c.gz
    headers[#headers + 1] = { "content-encoding", "gzip" }
  end
  return { status = 200, body = body, type = typ, headers = headers }
end

return M
