-- The daemon (`moonbase daemon`): serves the public facades over HTTP + JSON
-- and WebSocket streams (moonbase._core.api lists the routes). It
-- authenticates every request (unix socket: the peer's user; TLS: the client
-- certificate in the trust store) and runs each call in a worker process
-- that calls the real facade function, under the same per-instance locks a
-- local CLI takes. It implements no operation itself. A quick read (a route
-- marked inline: `list`) is called in the daemon's own process when the
-- driver is built in and local: a worker's fork costs ten times the call.
-- layer: facade
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local api = require("moonbase._core.api")
local paths = require("moonbase._core.paths")
local errors = require("moonbase.errors")
local trust = require("moonbase.trust")
local dashboard = require("moonbase.dashboard")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local store = require("moonbase._core.store")


local M = {}

-- The facades the routes name (api.routes' "module.function").
M.facades = {
  instance = require("moonbase.instance"), settings = require("moonbase.settings"),
  images = require("moonbase.images"), remotes = require("moonbase.remotes"),
  network = require("moonbase.network"), mounts = require("moonbase.mounts"),
  forwards = require("moonbase.forwards"), recipe = require("moonbase.recipe"),
  transfer = require("moonbase.transfer"), events = require("moonbase.events"), trust = trust,
  snapshots = require("moonbase.snapshots"),
}

M.max_body = 1024 * 1024
M.timeout = 10

---The default unix socket: /run/moonbase/moonbase.sock as root, else in
---$XDG_RUNTIME_DIR (or the data directory).
function M.default_socket()
  if util.geteuid() == 0 and not os.getenv("MOONBASE_HOME") then
    return "/run/moonbase/moonbase.sock"
  end
  local rt = os.getenv("XDG_RUNTIME_DIR")
  if rt and rt ~= "" and not os.getenv("MOONBASE_HOME") then return rt .. "/moonbase.sock" end
  return paths.data .. "/moonbase.sock"
end

local status_of = { usage = 400, notfound = 404, state = 409, exists = 409, timeout = 504,
  unsupported = 501, auth = 403, throttled = 429 }

local function err_body(message, code)
  return json.encode({ error = { message = message, code = code or "failed" } })
end

local refuse = dashboard.refuse

---------------------------------------------------------------- identities
local moonbase_gid_cache
local function moonbase_gid()
  if moonbase_gid_cache == nil then
    moonbase_gid_cache = false
    for line in (fs.read("/etc/group") or ""):gmatch("[^\n]+") do
      local gid = line:match("^moonbase:[^:]*:(%d+):")
      if gid then moonbase_gid_cache = math.tointeger(tonumber(gid)) end
    end
  end
  return moonbase_gid_cache
end

local function user_name(uid)
  for line in (fs.read("/etc/passwd") or ""):gmatch("[^\n]+") do
    local name, id = line:match("^([^:]+):[^:]*:(%d+):")
    if id and tonumber(id) == uid then return name end
  end
  return tostring(uid)
end

---Who may use the unix socket: root, the daemon's own user, and members of
---the group moonbase (the groups of the connecting process, as the kernel
---sees them for file access).
function M.unix_allowed(peer)
  if peer.uid == nil then return false end
  if peer.uid == 0 or peer.uid == util.geteuid() then return true end
  local gid = moonbase_gid()
  if not gid then return false end
  if peer.gid == gid then return true end
  local status = fs.read("/proc/" .. tostring(peer.pid) .. "/status") or ""
  local groups = status:match("\nGroups:([^\n]*)") or ""
  for g in groups:gmatch("%d+") do
    if tonumber(g) == gid then return true end
  end
  return false
end

---Checks the request's identity; returns nil when it may go on, else the
---refusal.
function M.authenticate(peer)
  if peer.transport == "unix" then
    if M.unix_allowed(peer) then return nil end
    local name = user_name(peer.uid)
    return refuse(403, string.format("permission denied: user \"%s\" is not in the group " ..
      "\"moonbase\" (try: sudo usermod -aG moonbase %s, then log in again)", name, name), "auth")
  end
  if not peer.fingerprint then
    return refuse(401, "this client presented no certificate (try: moonbase authenticate)",
      "auth")
  end
  local entry, revoked = trust.lookup(peer.fingerprint)
  if entry then return nil end
  if revoked then
    return refuse(403, string.format("this client's certificate was revoked (%s) (try: " ..
      "moonbase authenticate)", revoked), "auth")
  end
  return refuse(403, "this client's certificate is not trusted by the daemon (try: moonbase " ..
    "authenticate)", "auth")
end

---------------------------------------------------------------- throttling
-- Failed authentications per peer (address or uid): after `limit` failures
-- within `window` seconds, further attempts are refused until it passes.
M.throttle = { limit = 5, window = 60, failures = {} }

local function peer_key(peer)
  return peer.transport == "unix" and ("uid:" .. tostring(peer.uid)) or (peer.address or "?")
end

local function throttled(peer)
  local t = M.throttle
  local list = t.failures[peer_key(peer)] or {}
  local now, kept = util.now(), {}
  for _, at in ipairs(list) do
    if now - at < t.window then kept[#kept + 1] = at end
  end
  t.failures[peer_key(peer)] = kept
  if #kept >= t.limit then return math.ceil(t.window - (now - kept[1])) end
end

local function failed(peer)
  local k = peer_key(peer)
  local list = M.throttle.failures[k] or {}
  list[#list + 1] = util.now()
  M.throttle.failures[k] = list
end

---POST /v1/authenticate {passphrase | token, name}: trusts the client
---certificate this TLS connection presented.
local function authenticate_route(req)
  if req.peer.transport == "unix" then
    return { status = 200, body = json.encode({ result = { trusted = true,
      message = "unix socket clients are authenticated by their user; nothing to do" } }) }
  end
  local wait = throttled(req.peer)
  if wait then
    return refuse(429, string.format("too many failed attempts from this client; try again " ..
      "in %d s", wait), "throttled")
  end
  if not req.peer.fingerprint then
    return refuse(401, "this client presented no certificate (moonbase authenticate makes one)",
      "auth")
  end
  if req.peer.key ~= "ec" or req.peer.curve ~= "prime256v1" then
    return refuse(400, "client certificates must have an EC P-256 key", "usage")
  end
  local ok, body = pcall(json.decode, req.body ~= "" and req.body or "{}")
  if not ok or type(body) ~= "table" then return refuse(400, "malformed JSON body", "usage") end
  local accepted, why = trust.check_secret(body.passphrase, body.token)
  if not accepted then
    failed(req.peer)
    return refuse(403, why, "auth")
  end
  trust.add(req.peer.fingerprint, req.peer.certificate, body.name or req.peer.address)
  return { status = 200, body = json.encode({ result = { trusted = true,
    fingerprint = req.peer.fingerprint } }) }
end

---------------------------------------------------------------- calls
local function query_args(req)
  for _, q in ipairs(req.query or {}) do
    local k, v = q:match("^([^=]*)=(.*)$")
    if k == "args" then return v end
  end
end

---Decodes the arguments of route r from the request: path parameters, then
---body (or ?args= for WebSocket routes) fields. Returns args, n or nil, refusal.
function M.call_args(r, params, req)
  local raw = req.mode == "ws" and (query_args(req) or "{}") or req.body
  if raw == nil or raw == "" then raw = "{}" end
  local ok, body = pcall(json.decode, raw)
  if ok and type(body) == "table" then
    local store = require("moonbase._core.store")
    body = store.arrays(store.integers(body))
  end
  if not ok or type(body) ~= "table" then
    return nil, refuse(400, "malformed JSON in the request (" .. tostring(body):gsub("^.-: ", "")
      .. ")", "usage")
  end
  local ctx = { cwd = type(body._cwd) == "string" and body._cwd or nil,
    env = type(body._env) == "table" and body._env or {} }
  local args = {}
  for i, name in ipairs(r.args) do
    local v = params[name]
    if v == nil then v = body[name] end
    if v == json.null then v = nil end
    args[i] = v
  end
  return args, #r.args, ctx
end

-- What a client's environment may set in its worker: how to show things.
local passed_env = { TERM = true, NO_COLOR = true, LANG = true, LC_ALL = true, COLUMNS = true }

---A copy of v with only data: functions, userdata and cycles left out.
local function data_only(v, seen)
  local t = type(v)
  if t == "function" or t == "userdata" or t == "thread" then return nil end
  if t ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return nil end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    if type(k) == "string" or type(k) == "number" then out[k] = data_only(x, seen) end
  end
  seen[v] = nil
  return out
end
M.data_only = data_only

local function strip_nulls(v)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if x == json.null then v[k] = nil else strip_nulls(x) end
  end
  return v
end

---transfer.copy for a client whose host files are not the daemon's: stages
---them in a private directory (tar from stdin, or into it and tar to
---stdout) and lets the real transfer.copy do the rest.
local function staged_transfer(sources, dest, o)
  local process = require("moonbase.engine.process")
  local stage = o._stage
  o._stage = nil
  local tmp = string.format("%s/.transfer-%d", paths.data, util.getpid())
  errors.check("transfer", fs.mkdirs(tmp, 448))
  local ok, err = pcall(function()
    if stage == "up" then
      -- stdin: a tar of the client's sources; they become local paths here
      local pid = errors.check("transfer", process.spawn({ "tar", "x", "--no-same-owner",
        "-f", "-", "-C", tmp })) -- (its stdin is this worker's)
      local code = process.wait(pid)
      if code ~= 0 then errors.raise("transfer: the client's files did not arrive whole") end
      local local_sources = {}
      for i, s in ipairs(sources) do
        local_sources[i] = s == "-" and "-" or (tmp .. "/" .. s)
      end
      M.facades.transfer.copy(local_sources, dest, o)
    else
      -- into the stage, then a tar of it on stdout for the client to unpack
      local out = tmp .. "/out"
      errors.check("transfer", fs.mkdirs(out))
      M.facades.transfer.copy(sources, out .. "/", o)
      io.stdout:flush()
      local pid = errors.check("transfer", process.spawn({ "tar", "c", "-f", "-", "-C", out,
        "." })) -- (its stdout is this worker's)
      local code = process.wait(pid)
      if code ~= 0 then errors.raise("transfer: cannot send the files to the client") end
    end
  end)
  fs.rmtree(tmp)
  if not ok then error(err, 0) end
end

-- Forgets what this process kept from an earlier call (open driver
-- connections, directories already swept): other processes may have changed
-- things since, and a worker forked later must not inherit it. close: the
-- daemon's own call is over, close its driver connections.
local function forget(close)
  drivers.forget(close)
  instances.forget()
  store.forget()
end

---The worker's body: calls the facade function; returns "STATUS\nJSON".
---A unix-socket client's working directory is the worker's (same host).
function M.run_call(r, args, n, ctx, peer)
  local module, fn = r.fn:match("^(.-)%.([^.]+)$")
  ctx = ctx or { env = {} }
  for k, v in pairs(ctx.env or {}) do
    if passed_env[k] and type(v) == "string" then util.setenv(k, v) end
  end
  if ctx.cwd and peer and peer.transport == "unix" then
    require("moonbase.engine.httpd").chdir(ctx.cwd)
  end
  local result
  forget()
  local ok, err = xpcall(function()
    local mod = M.facades[module] or errors.raise("no facade " .. module)
    for i = 1, n do
      args[i] = strip_nulls(args[i])
      if r.args[i] == "model" and type(args[i]) == "table" and type(args[i]._load) == "table" then
        -- a recipe: loaded again by the call that loaded it for the client
        -- (its print()s were shown by that call: not twice)
        local l, saved = args[i]._load, io.stderr
        local loader = M.facades.recipe[l.fn == "recipe.load" and "load" or "from_options"]
        io.stderr = io.open("/dev/null", "w") or saved
        local ok, model = pcall(loader, table.unpack(l, 1, 2))
        io.stderr = saved
        if not ok then error(model, 0) end
        args[i] = model
      end
    end
    if r.transfer and type(args[3]) == "table" and args[3]._stage then
      result = table.pack(staged_transfer(args[1], args[2], args[3]))
    else
      result = table.pack(mod[fn](table.unpack(args, 1, n)))
    end
  end, function(e)
    if errors.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  io.stdout:flush()
  io.stderr:flush()
  if not ok then
    if errors.is(err) then
      return tostring(status_of[err.code] or 500) .. "\n" .. err_body(err.message, err.code)
    end
    io.stderr:write("moonbase daemon: internal error: ", tostring(err), "\n")
    return "500\n" .. err_body("internal error in the daemon: " ..
      tostring(err):match("^[^\n]*"), "failed")
  end
  local out = {}
  for i = 1, result.n do
    local v = result[i]
    if v == nil then v = json.null end
    out[i] = v
  end
  local okj, body = pcall(json.encode, { result = out, n = result.n })
  if not okj then
    okj, body = pcall(json.encode, { result = data_only(out), n = result.n })
  end
  if not okj then
    return "500\n" .. err_body("the daemon cannot encode the answer of " .. r.fn .. ": " ..
      tostring(body), "failed")
  end
  return "200\n" .. body
end

---Whether a call of route r with these args needs a terminal.
local function wants_pty(r, args)
  local o = args[#r.args]
  return r.stream and type(o) == "table" and o.pty and true or false
end

---The handler of every request (called in the daemon's loop; quick).
function M.handle(req)
  if req.path == "/v1/ping" and req.method == "GET" then
    return { status = 200, body = json.encode({ result = { api = api.version } }) }
  end
  if req.path == "/v1/authenticate" then
    if req.method ~= "POST" then return refuse(405, "use POST", "usage") end
    return authenticate_route(req)
  end
  local answer = dashboard.static(req) or dashboard.session_routes(req)
  if answer then return answer end
  local denied = dashboard.transport_refusal(req) or M.authenticate(req.peer)
  local by_session = false
  if denied and dashboard.cookie_of(req) and denied.status ~= 421 then
    -- a browser: its session stands for the client that logged it in
    local s, refused = dashboard.session_for(req)
    if s then denied, by_session = nil, true else denied = refused or denied end
  end
  if denied then return denied end
  if req.path == "/v1/sessions/link" and req.method == "POST" then
    if by_session then
      return refuse(403, "a browser session cannot make login links (try: moonbase gui)", "auth")
    end
    return dashboard.link(req)
  end
  local r, params = api.match(req.method, req.path)
  if not r then
    if params == 405 then
      return refuse(405, string.format("%s is not allowed on %s", req.method, req.path), "usage")
    end
    return refuse(params or 404, "no such API route: " .. req.path, "notfound")
  end
  if (r.stream ~= nil) ~= (req.mode == "ws") then
    return refuse(400, r.stream and (req.path .. " is a WebSocket route (connect with Upgrade: " ..
      "websocket)") or (req.path .. " is not a WebSocket route"), "usage")
  end
  local args, n, ctx = M.call_args(r, params, req)
  if not args then return n end
  local o = args[#r.args]
  local mounting = r.mount or (r.fn == "instance.launch" and type(o) == "table" and
    type(o.mounts) == "table" and next(o.mounts) ~= nil)
  if mounting and not M.facades.settings.get("local.privileged-mounts") then
    return refuse(403, "mounts: the daemon's local.privileged-mounts is false, so clients may " ..
      "not mount host folders (try, on the daemon's host: moonbase set " ..
      "local.privileged-mounts=true)", "auth")
  end
  if not M.facades[r.fn:match("^(.-)%.")] then
    return refuse(501, "the daemon does not serve " .. r.fn .. " yet", "unsupported")
  end
  if r.inline and drivers.built_in_and_local() then
    -- in this process: no fork (whose page faults cost ten times the call);
    -- the call takes the same locks and reads the same files as a worker's
    local status, body = M.run_call(r, args, n, nil, req.peer):match("^(%d+)\n(.*)$")
    forget(true)
    return { status = math.tointeger(tonumber(status)), body = body }
  end
  local stdin = r.stream and (wants_pty(r, args) and "pty" or "pipe") or "null"
  return {
    stdin = stdin,
    cols = type(o) == "table" and math.tointeger(o.cols) or nil,
    rows = type(o) == "table" and math.tointeger(o.rows) or nil,
    run = function() return M.run_call(r, args, n, ctx, req.peer) end,
  }
end

---------------------------------------------------------------- listeners
---Parses a --listen value: unix:PATH, https://ADDR:PORT or (the web
---dashboard on this host only) http://LOOPBACK:PORT.
function M.parse_listen(v)
  local path = v:match("^unix://(.+)$") or v:match("^unix:(.+)$")
  if path then return { unix = path } end
  local scheme, host, port = v:match("^(https?)://%[([%x:]+)%]:(%d+)/?$")
  if not host then scheme, host, port = v:match("^(https?)://([%w%.%-]+):(%d+)/?$") end
  port = math.tointeger(tonumber(port))
  if host and port and port > 0 and port < 65536 then
    if scheme == "https" then return { https = host, port = port } end
    if not dashboard.loopback(host) then
      errors.usage(string.format("daemon: --listen http:// serves the web dashboard on this " ..
        "host only: give 127.0.0.1, ::1 or localhost, got \"%s\" (use https:// for other " ..
        "addresses)", host))
    end
    return { http = host == "localhost" and "127.0.0.1" or host, port = port }
  end
  errors.usage(string.format("daemon: --listen takes unix:PATH, https://ADDRESS:PORT or " ..
    "http://127.0.0.1:PORT, got \"%s\"", v))
end

---Runs the daemon until SIGTERM/SIGINT.
---@param o {listen: string[], quiet?: boolean}
function M.run(o)
  local listen = {}
  for _, v in ipairs(o.listen or {}) do listen[#listen + 1] = M.parse_listen(v) end
  -- with systemd's socket (moonbase.socket) the daemon listens on what it was given
  local activated = tonumber(os.getenv("LISTEN_PID") or "") == util.getpid()
  if #listen == 0 and not activated then listen[1] = { unix = M.default_socket() } end
  local has_tls = false
  dashboard.listeners = {}
  for _, l in ipairs(listen) do
    if l.http or l.https then
      dashboard.listeners[#dashboard.listeners + 1] = { scheme = l.http and "http" or "https",
        host = l.http or l.https, port = l.port }
    end
    if l.http then
      -- nothing to do: plain HTTP on loopback
    elseif l.unix then
      local dir = l.unix:match("^(.*)/[^/]+$")
      if dir and dir ~= "" then errors.check("daemon", fs.mkdirs(dir)) end
      fs.remove(l.unix) -- a stale socket of a daemon that died
      -- root:moonbase 0660 for a root daemon (when the group exists), else only its user
      if moonbase_gid() and util.geteuid() == 0 then l.gid, l.mode = moonbase_gid(), 432 end
    else
      has_tls = true
    end
  end
  if has_tls then
    local files = trust.server_files(listen)
    for _, l in ipairs(listen) do
      if l.https then l.cert, l.key = files.chain, files.key end
    end
  end
  local httpd = require("moonbase.engine.httpd")
  local ok, msg = httpd.serve({ listen = listen, max_body = M.max_body, timeout = M.timeout,
    max_workers = o.max_workers,
    ready = function()
      if o.quiet then return end
      for _, l in ipairs(listen) do
        local host = l.https or l.http
        if host and host:find(":", 1, true) then host = "[" .. host .. "]" end
        io.stderr:write("moonbase daemon: listening on ", l.unix and ("unix:" .. l.unix) or
          string.format("%s://%s:%d", l.http and "http" or "https", host, l.port), "\n")
      end
      if activated then io.stderr:write("moonbase daemon: serving systemd's sockets\n") end
      if has_tls then
        io.stderr:write("moonbase daemon: CA fingerprint ", trust.ca_fingerprint(), "\n")
      end
    end }, M.handle)
  for _, l in ipairs(listen) do
    if l.unix then fs.remove(l.unix) end
  end
  return errors.check(nil, ok, msg, "failed")
end

return M
