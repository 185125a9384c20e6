-- Commands through a daemon: with MOONBASE_SERVER (or `moonbase --server URL`,
-- or the setting client.server) naming one, install() replaces every routed
-- facade function (moonbase._core.api) with a request to it, before the
-- command runs. The command's own code, parsing and formatting stay as they
-- are, so output, exit codes and errors are the same as locally; the daemon
-- runs the real function and relays what it writes to stdout/stderr.
-- layer: facade
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local paths = require("moonbase._core.paths")
local store = require("moonbase._core.store")
local errors = require("moonbase.errors")

local M = {}

-- (The route table, moonbase._core.api, is loaded only with a daemon set:
-- every command asks server() first.)
-- The facades whose routed functions are replaced (api.routes' modules), by
-- their module names. install() patches each as it is first required, so a
-- command through a daemon loads only the facades it uses itself (loading
-- them all cost a list through the daemon more than the daemon's answer).
M.modules = {
  instance = "moonbase.instance", settings = "moonbase.settings",
  images = "moonbase.images", remotes = "moonbase.remotes", network = "moonbase.network",
  mounts = "moonbase.mounts", forwards = "moonbase.forwards", recipe = "moonbase.recipe",
  transfer = "moonbase.transfer", events = "moonbase.events", trust = "moonbase.trust",
  snapshots = "moonbase.snapshots", drivers = "moonbase.drivers",
}
-- Facade functions that are hints to this process's own driver: through a
-- daemon there is nothing to hint, and they do nothing.
M.hints = { drivers = { "list_ahead" } }

---The daemon to use: the environment, then client.server; nil for none.
M.server = require("moonbase._core.settings").client_server

---Parses a server URL: unix:///path, unix:PATH or https://host:port.
function M.parse_url(url)
  local path = url:match("^unix://(/.+)$") or url:match("^unix:(/.+)$")
  if path then return { unix = path, url = url } end
  local host, port = url:match("^https://%[([%x:]+)%]:(%d+)/?$")
  if not host then host, port = url:match("^https://([%w%.%-]+):(%d+)/?$") end
  if host then return { host = host, port = port, url = url } end
  errors.usage(string.format("MOONBASE_SERVER must be unix:///PATH or https://HOST:PORT, got " ..
    "\"%s\"", url))
end

---Where this client keeps its key, certificate and the CAs of the daemons
---it trusts.
function M.dir() return paths.config .. "/client" end

local function ca_file(target)
  return string.format("%s/servers/%s_%s.crt", M.dir(), target.host, target.port)
end

---This client's certificate and key (EC P-256), made on first use.
function M.identity()
  local d = M.dir()
  local crt, key = d .. "/client.crt", d .. "/client.key"
  if not fs.exists(crt) or not fs.exists(key) then
    local tls = require("moonbase.engine.tls")
    errors.check("client", fs.mkdirs(d, 448))
    local k = errors.check("client", tls.keygen())
    local host = (util.uname() or {}).nodename or "client"
    local c = errors.check("client", tls.cert({ key = k, cn = (os.getenv("USER") or "user") ..
      "@" .. host, client = true, days = 3650 }))
    errors.check("client", fs.write(key, k, 384))
    errors.check("client", fs.write(crt, c))
  end
  return crt, key
end

local function connection(target, o)
  o = o or {}
  local c = { unix = target.unix, host = target.host, port = target.port }
  if target.host then
    c.cert, c.key = M.identity()
    if not o.tofu then
      local ca = ca_file(target)
      if not fs.exists(ca) then
        errors.raise(string.format("this client does not know the daemon at %s yet (try: " ..
          "moonbase authenticate)", target.url), "auth")
      end
      c.ca = ca
    end
  end
  return c
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

local function nulls_to_nil(v)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do
    if x == json.null then v[k] = nil else nulls_to_nil(x) end
  end
  return v
end

---Sends one request; returns the decoded answer table ({result=...,n=...}
---or raises the daemon's error as the same user-facing error).
function M.request(target, method, path, body, o)
  o = o or {}
  io.stdout:flush()
  io.stderr:flush()
  local c = connection(target, o)
  c.method, c.path, c.body, c.stream = method, path, body, o.stream
  if o.stream then c.stdin_fd, c.stdout_fd = o.stream.stdin_fd, o.stream.stdout_fd end
  local status, text, peer_ca = require("moonbase.engine.client").call(c)
  if not status then errors.raise(text, peer_ca) end -- (nil, message, code)
  local code, rest = text:match("^(%d+)\n(.*)$")
  if code then status, text = math.tointeger(tonumber(code)), rest end
  local ok, answer = pcall(json.decode, text)
  if not ok or type(answer) ~= "table" then
    errors.raise(string.format("the moonbase daemon at %s answered %d with no JSON", target.url,
      status))
  end
  if answer.error then
    local e = answer.error
    errors.raise(tostring(e.message), e.code ~= json.null and e.code or "failed")
  end
  return store.arrays(store.integers(nulls_to_nil(answer))), peer_ca
end

---Calls route r with the facade function's arguments (a table.pack);
---io = {stdin_fd, stdout_fd} redirects a stream's stdin and stdout.
function M.invoke(target, r, args, io_fds)
  local params, body = {}, {}
  for i, name in ipairs(r.args) do
    if r.path:find("{" .. name .. "}", 1, true) then
      if args[i] == nil then
        errors.usage(string.format("%s needs %s", r.fn, name))
      end
      params[name] = args[i]
    else
      body[name] = args[i]
    end
  end
  local path = require("moonbase._core.api").path(r, params)
  local stream
  if r.stream then
    local o = body.options
    if type(o) ~= "table" then o = {}; body.options = o end
    stream = { pty = o.pty and true or false }
    if o.pty then
      local cols, rows = util.term_size()
      o.cols, o.rows = cols, rows
    end
    if not o.term then o.term = os.getenv("TERM") end
  end
  body._cwd = util.getcwd()
  local env = {}
  for _, k in ipairs({ "TERM", "NO_COLOR", "LANG", "LC_ALL", "COLUMNS" }) do
    env[k] = os.getenv(k)
  end
  body._env = env
  local ok, encoded = pcall(json.encode, body)
  if not ok then
    errors.raise(string.format("%s cannot be called through the daemon: its arguments are not " ..
      "plain data (%s)", r.fn, tostring(encoded)))
  end
  if stream then path = path .. "?args=" .. urlencode(encoded) end
  if stream and io_fds then
    stream.stdin_fd, stream.stdout_fd = io_fds.stdin_fd, io_fds.stdout_fd
  end
  local answer = M.request(target, r.method, path, encoded, { stream = stream })
  local result = answer.result or {}
  if r.recipe_out and type(result[1]) == "table" then
    result[1]._load = { args[1], args[2], fn = r.fn } -- what the daemon loads it with again
  end
  return table.unpack(result, 1, math.tointeger(answer.n) or #result)
end

local function is_client_key(key)
  return type(key) == "string" and key:match("^client%.") ~= nil
end

---transfer.copy through a daemon: the daemon cannot read this host's files
---(it may be another host, and it is another user), so they travel as a tar
---stream and the daemon's transfer.copy works on its staged copy.
local function remote_copy(target, r, sources, dest, o)
  local process = require("moonbase.engine.process")
  local transfer = require("moonbase.transfer")
  o = o or {}
  -- instance names are the daemon's: looked up through it
  local d, srcs = transfer.endpoints(sources, dest, require("moonbase.instance").find)
  local tmp = util.getcwd() and os.tmpname()
  os.remove(tmp)
  errors.check("transfer", fs.mkdirs(tmp, 448))
  local opts = {}
  for k, v in pairs(o) do opts[k] = v end
  local ok, err = pcall(function()
    if d.instance then
      local names, files = {}, {}
      for i, s in ipairs(sources) do
        if s == "-" then
          names[i] = "-"
        else
          if not fs.exists(s) then
            errors.usage(string.format("transfer: %s does not exist", s))
          end
          if fs.exists(s) == "directory" and not o.recursive then
            errors.usage(string.format("transfer: %s is a directory (try: -r)", s))
          end
          -- each source under a name of its own in the stage, its base name kept
          local base = (s:gsub("/+$", ""):match("([^/]+)$")) or s
          names[i] = tostring(i) .. "/" .. base
          files[#files + 1] = { s, tostring(i), base }
        end
      end
      local has_stdin = false
      for _, n in ipairs(names) do has_stdin = has_stdin or n == "-" end
      if has_stdin and #files > 0 then
        errors.usage("transfer: - cannot be mixed with files through a daemon")
      end
      if has_stdin then
        return M.invoke(target, r, table.pack(sources, dest, opts))
      end
      local stage = tmp .. "/up"
      for _, f in ipairs(files) do
        errors.check("transfer", fs.mkdirs(stage .. "/" .. f[2]))
        local abs = f[1]:sub(1, 1) == "/" and f[1] or (util.getcwd() .. "/" .. f[1])
        errors.check("transfer", fs.symlink(abs, stage .. "/" .. f[2] .. "/" .. f[3]))
      end
      local tarball = tmp .. "/up.tar"
      local code, out, terr = process.run({ "tar", "c", "-h", "-f", tarball, "-C", stage, "." })
      if code ~= 0 then errors.raise("transfer: cannot read the files: " .. terr .. out) end
      opts._stage = "up"
      local fd = errors.check("transfer", fs.open_fd(tarball, "r"))
      local okc, e = pcall(M.invoke, target, r, table.pack(names, dest, opts), { stdin_fd = fd })
      fs.close_fd(fd)
      if not okc then error(e, 0) end
      return
    end
    if d.path == "-" then return M.invoke(target, r, table.pack(sources, dest, opts)) end
    local into_dir = #srcs > 1 or fs.exists(d.path) == "directory"
    if #srcs > 1 and not into_dir then
      errors.usage(string.format("transfer: %s must be an existing directory for several " ..
        "sources", d.path))
    end
    opts._stage = "down"
    local tarball = tmp .. "/down.tar"
    local fd = errors.check("transfer", fs.open_fd(tarball, "w"))
    local okc, e = pcall(M.invoke, target, r, table.pack(sources, dest, opts), { stdout_fd = fd })
    fs.close_fd(fd)
    if not okc then error(e, 0) end
    -- unpacked next to the destination, then renamed into place
    local parent = into_dir and d.path or (d.path:match("^(.*)/[^/]*$") or ".")
    local stage = string.format("%s/.moonbase-transfer-%d", parent ~= "" and parent or "/",
      util.getpid())
    errors.check("transfer", fs.mkdirs(stage, 448))
    local code, out, terr = process.run({ "tar", "x", "--no-same-owner", "-f", tarball, "-C",
      stage })
    if code ~= 0 then
      fs.rmtree(stage)
      errors.raise("transfer: the files did not arrive whole: " .. terr .. out)
    end
    for _, n in ipairs(fs.list(stage) or {}) do
      local target_path = into_dir and (d.path:gsub("/+$", "") .. "/" .. n) or d.path
      if fs.exists(target_path) == "directory" and fs.exists(stage .. "/" .. n) == "directory" then
        process.run({ "cp", "-a", stage .. "/" .. n .. "/.", target_path })
      else
        errors.check("transfer", fs.rename(stage .. "/" .. n, target_path))
      end
    end
    fs.rmtree(stage)
  end)
  fs.rmtree(tmp)
  if not ok then error(err, 0) end
end

-- Replaces the routed functions of facade `module` (its short name) in mod.
local function patch(target, module, mod)
  for _, r in ipairs(require("moonbase._core.api").routes) do
    local m, fn = r.fn:match("^(.-)%.([^.]+)$")
    if m == module then
      local original = mod[fn]
      mod[fn] = function(...)
        -- settings of the client (client.*) are this user's, not the daemon's
        if module == "settings" and is_client_key((...)) and original then
          return original(...)
        end
        if r.transfer then return remote_copy(target, r, ...) end
        return M.invoke(target, r, table.pack(...))
      end
    end
  end
  for _, fn in ipairs(M.hints[module] or {}) do mod[fn] = function() end end
end

---Routes every facade function of moonbase._core.api to the daemon at url:
---the facades loaded already now, the others as they are first required.
function M.install(url)
  local target = M.parse_url(url)
  M.target = target
  local short, pending = {}, 0
  for module, name in pairs(M.modules) do
    if package.loaded[name] then
      patch(target, module, package.loaded[name])
    else
      short[name], pending = module, pending + 1
    end
  end
  if pending == 0 then return end
  -- a searcher in front of the others: a facade is loaded by them, then patched
  table.insert(package.searchers, 1, function(name)
    local module = short[name]
    if not module then return nil end
    short[name] = nil
    for i = 2, #package.searchers do
      local loader, extra = package.searchers[i](name)
      if type(loader) == "function" then
        return function(...)
          local mod = loader(...)
          if mod == nil then mod = package.loaded[name] or true end
          if type(mod) == "table" then patch(target, module, mod) end
          return mod
        end, extra
      end
    end
    return nil
  end)
end

---A one-time login link to the web dashboard of the daemon at url
---(docs/gui.md): the address a browser on this host reaches it at, with a
---token the daemon trades once for a session bound to this client.
---@return string
function M.login_link(url)
  local target = M.parse_url(url)
  local answer = M.request(target, "POST", "/v1/sessions/link", "{}")
  local link = type(answer.result) == "table" and answer.result[1] or {}
  if type(link.path) ~= "string" then
    errors.raise("the moonbase daemon at " .. url .. " gave no login link")
  end
  if target.host then
    -- over TLS the browser goes where this client goes
    local host = target.host:find(":", 1, true) and ("[" .. target.host .. "]") or target.host
    return string.format("https://%s:%s%s", host, target.port, link.path)
  end
  if type(link.urls) ~= "table" or not link.urls[1] then
    errors.raise(string.format("the moonbase daemon at %s has no address a browser can " ..
      "reach (start it with --listen http://127.0.0.1:PORT too; see docs/gui.md)", url))
  end
  return link.urls[1]
end

---The SHA-256 fingerprint as moonbase prints it, from what a user typed
---(any case, with or without colons).
local function plain_fp(fp)
  return (tostring(fp):lower():gsub("[^%x]", ""))
end

---Trusts this client with the daemon at url. First the daemon's CA is
---fetched with nothing secret sent, and checked: against a token's
---fingerprint, o.fingerprint, the CA pinned already, or o.confirm(fp) (the
---user's yes); then the CA is pinned and the passphrase or token (secret: a
---string, or a function that returns one, asked only after the check) goes
---over the pinned connection.
---@param o? {fingerprint?: string, confirm?: fun(fp: string): boolean}
---@return table {fingerprint=, ca=}
function M.authenticate(url, secret, o)
  o = o or {}
  local target = M.parse_url(url)
  if target.unix then
    return { unix = true }
  end
  local _, peer_ca = M.request(target, "GET", "/v1/ping", nil, { tofu = true })
  if not peer_ca then
    errors.raise("authenticate: the daemon at " .. url .. " showed no CA certificate", "auth")
  end
  local tls = require("moonbase.engine.tls")
  local ca_fp = tls.fingerprint(peer_ca)
  local f = ca_file(target)
  local known = fs.read(f)
  local known_fp = known and tls.fingerprint(known)
  local token_ca = type(secret) == "string" and secret:match("^mbt1_%x+_(%x+)$")
  if token_ca then
    if token_ca ~= ca_fp then
      errors.raise("authenticate: the daemon's CA does not match the token's (someone in " ..
        "between?); nothing was sent or saved", "auth")
    end
  elseif o.fingerprint then
    if plain_fp(o.fingerprint) ~= ca_fp then
      errors.raise(string.format("authenticate: the daemon at %s has CA fingerprint %s, not " ..
        "%s (someone in between, or another daemon?); nothing was sent or saved", url, ca_fp,
        o.fingerprint), "auth")
    end
  elseif known_fp ~= ca_fp then
    local why = known_fp and string.format("its CA changed since this client pinned %s " ..
      "(a new daemon, or someone in between)", known_fp) or "this client does not know it yet"
    if not (o.confirm and o.confirm(ca_fp, known_fp)) then
      errors.raise(string.format("authenticate: the daemon at %s has CA fingerprint %s and %s; " ..
        "check it on the daemon's host (moonbase daemon prints it when it starts) and run " ..
        "again with --fingerprint %s; nothing was sent or saved", url, ca_fp, why, ca_fp), "auth")
    end
  end
  if type(secret) == "function" then secret = secret() end
  local body = { name = (os.getenv("USER") or "user") .. "@" ..
    ((util.uname() or {}).nodename or "client") }
  if token_ca then body.token = secret else body.passphrase = secret end
  errors.check("authenticate", fs.mkdirs(f:match("^(.*)/"), 448))
  errors.check("authenticate", fs.write(f, peer_ca))
  local ok, answer = pcall(M.request, target, "POST", "/v1/authenticate", json.encode(body))
  if not ok then
    if known then fs.write(f, known) else fs.remove(f) end -- as it was
    error(answer, 0)
  end
  return { fingerprint = answer.result.fingerprint, ca = ca_fp }
end

return M
