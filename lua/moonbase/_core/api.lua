-- The daemon's API as data: every route is a public facade function, served by
-- moonbase.server (which calls the real function in a worker) and called by
-- moonbase.client (which replaces the facade function with a request). One
-- table, so the server, the client, docs/openapi.json and the test that
-- compares them cannot drift apart. A leaf: it requires nothing.
--
-- layer: records
--
-- A route: { METHOD, PATH, "module.function", args = {...}, stream = ... }
--   args: the function's parameters in order; one named like a {path}
--         parameter comes from the path, the others are fields of the JSON
--         request body (or, for WebSocket routes, of the JSON in ?args=).
--   stream: "pipe" (stdin/stdout/stderr relayed) or "pty" when the call's
--         options ask for a terminal; such routes are WebSocket routes.
--   write: true when the call changes something (refused to read-only
--         identities; unused for now, every trusted client may write).
--   inline: a quick read the daemon answers in its own process, without a
--         worker, when the driver is built in and local (moonbase.server).
local M = {}

local function R(method, path, fn, args, extra)
  local r = { method = method, path = path, fn = fn, args = args or {} }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

M.version = "v1"

M.routes = {
  -- instances
  R("GET", "/v1/instances", "instance.list", nil, { inline = true }),
  R("GET", "/v1/instance-records", "instance.records"),
  R("GET", "/v1/instances/{name}", "instance.info", { "name" }),
  R("GET", "/v1/instances/{name}/record", "instance.find", { "name" }),
  R("GET", "/v1/instances/{name}/record/strict", "instance.get", { "name" }),
  R("GET", "/v1/instances/{name}/ssh", "instance.ssh_endpoint", { "name" }),
  R("GET", "/v1/instances/{name}/dir", "instance.dir", { "name" }),
  R("GET", "/v1/instances/{name}/usage", "instance.usage", { "name" }),
  R("POST", "/v1/instances", "instance.launch", { "options" }, { progress = true }),
  R("POST", "/v1/instances/{name}/start", "instance.start", { "name", "options" }),
  R("POST", "/v1/instances/{name}/stop", "instance.stop", { "name", "options" }),
  R("POST", "/v1/instances/{name}/restart", "instance.restart", { "name", "options" }),
  R("POST", "/v1/instances/{name}/wait-ready", "instance.wait_ready", { "name", "timeout" }),
  R("POST", "/v1/instances/{name}/stop-later", "instance.stop_later", { "name", "minutes" }),
  R("POST", "/v1/instances/{name}/stop-at", "instance.stop_at", { "name", "at" }),
  R("POST", "/v1/instances/{name}/stop-cancel", "instance.cancel_stop", { "name" }),
  R("POST", "/v1/instances/{name}/suspend", "instance.suspend", { "name" }),
  R("POST", "/v1/instances/{name}/delete", "instance.delete", { "name", "options" }),
  R("POST", "/v1/instances/{name}/recover", "instance.recover", { "name" }),
  R("POST", "/v1/purge", "instance.purge"),
  R("POST", "/v1/instances/{name}/check", "instance.check", { "verb", "name", "options" }),
  R("GET", "/v1/instances/{name}/exec", "instance.exec", { "name", "argv", "options" },
    { stream = "pipe" }),
  R("POST", "/v1/instances/{name}/clone", "instance.clone", { "name", "options" }),
  R("POST", "/v1/instances/{name}/rename", "instance.rename", { "name", "new_name" }),
  -- snapshots: of one instance, or of every instance of a recipe together
  R("GET", "/v1/snapshots", "snapshots.list_all"),
  R("GET", "/v1/instances/{name}/snapshots", "snapshots.list", { "name" }),
  R("POST", "/v1/instances/{name}/snapshots", "snapshots.take", { "name", "options" }),
  R("POST", "/v1/instances/{name}/snapshots/{snapshot}/restore", "snapshots.restore",
    { "name", "snapshot", "options" }),
  R("DELETE", "/v1/instances/{name}/snapshots/{snapshot}", "snapshots.delete",
    { "name", "snapshot" }),
  R("POST", "/v1/snapshots/check-delete", "snapshots.check_delete", { "ref" }),
  R("POST", "/v1/recipes/snapshots", "snapshots.take_recipe", { "model", "options" }),
  R("POST", "/v1/recipes/snapshots/restore", "snapshots.restore_recipe",
    { "model", "name", "options" }),
  R("POST", "/v1/recipes/snapshots/list", "snapshots.list_recipe", { "model" }),
  -- settings (client.* keys stay with the client: moonbase.client)
  R("GET", "/v1/settings", "settings.keys"),
  R("GET", "/v1/settings/{key}", "settings.get", { "key" }),
  R("GET", "/v1/settings/{key}/is-set", "settings.is_set", { "key" }),
  R("PUT", "/v1/settings/{key}", "settings.set", { "key", "value" }),
  R("POST", "/v1/settings/{key}/check", "settings.check", { "key", "value" }),
  R("DELETE", "/v1/settings/{key}", "settings.unset", { "key" }),
  -- images and remotes
  R("GET", "/v1/images", "images.list"),
  R("POST", "/v1/images/find", "images.find", { "query", "options" }),
  R("POST", "/v1/images/resolve", "images.resolve", { "ref", "options" }, { progress = true }),
  R("POST", "/v1/images/prune", "images.prune", { "options" }),
  R("GET", "/v1/remotes", "remotes.list"),
  R("POST", "/v1/remotes", "remotes.add", { "name", "url" }),
  R("DELETE", "/v1/remotes/{name}", "remotes.remove", { "name" }),
  -- networks
  R("GET", "/v1/networks", "network.list"),
  R("POST", "/v1/networks", "network.create", { "name", "options" }),
  R("DELETE", "/v1/networks/{name}", "network.delete", { "name" }),
  R("POST", "/v1/networks/prune", "network.prune", { "options" }),
  R("GET", "/v1/hosts", "network.hosts"),
  R("GET", "/v1/host-networks", "network.available"),
  -- mounts and forwards
  R("POST", "/v1/mounts", "mounts.add", { "source", "targets", "options" }, { mount = true }),
  R("POST", "/v1/mounts/remove", "mounts.remove", { "target", "options" }),
  R("GET", "/v1/instances/{name}/forwards", "forwards.list", { "name" }),
  R("POST", "/v1/instances/{name}/forwards", "forwards.add", { "name", "forward" }),
  R("POST", "/v1/instances/{name}/forwards/remove", "forwards.remove", { "name", "host_port",
    "address", "proto" }),
  -- recipes: a loaded recipe travels as the call that loaded it (and its plain data);
  -- the daemon loads it again from the same file for each call that takes it
  R("POST", "/v1/recipes/load", "recipe.load", { "path", "options" }, { recipe_out = true }),
  R("POST", "/v1/recipes/load-options", "recipe.from_options", { "options" },
    { recipe_out = true }),
  R("POST", "/v1/recipes/plan", "recipe.plan", { "model" }),
  R("POST", "/v1/recipes/status", "recipe.status", { "model" }),
  R("POST", "/v1/recipes/outputs", "recipe.outputs", { "model" }),
  R("GET", "/v1/recipes/default-parallel", "recipe.default_parallel"),
  R("POST", "/v1/recipes/up", "recipe.up", { "model", "options" }),
  R("POST", "/v1/recipes/down", "recipe.down", { "model", "options" }),
  R("POST", "/v1/recipes/provision", "recipe.provision", { "model", "names", "options" }),
  -- trust (the TLS clients the daemon trusts)
  R("GET", "/v1/trust", "trust.list"),
  R("POST", "/v1/trust/remove", "trust.remove", { "which" }),
  R("POST", "/v1/trust/tokens", "trust.token", { "options" }),
  -- transfer: host files travel as tar streams (stdin up, stdout down); the daemon
  -- stages them and calls transfer.copy on its own copy (docs/api.md)
  R("GET", "/v1/transfer", "transfer.copy", { "sources", "dest", "options" },
    { stream = "pipe", transfer = true }),
  -- events
  R("GET", "/v1/events", "events.watch", { "options" }, { stream = "pipe", events = true }),
}

---Routes the daemon answers itself (not facade calls).
M.special = {
  { method = "GET", path = "/v1/ping", summary = "the API version; needs no authentication" },
  { method = "POST", path = "/v1/authenticate", summary = "trust the TLS client certificate " ..
    "of this connection, given {passphrase} (local.passphrase) or {token} (moonbase trust " ..
    "token); failures are throttled" },
  { method = "POST", path = "/v1/sessions/link", summary = "a one-time login link " ..
    "(/login?token=..., 5 minutes) for a browser, bound to the calling client" },
  { method = "GET", path = "/login", summary = "trades a login link's token for a session " ..
    "cookie (HttpOnly, Secure, SameSite=Strict) and redirects to /" },
  { method = "GET", path = "/v1/session", summary = "the browser session's CSRF token " ..
    "(send it as X-Moonbase-Csrf on POST, PUT, DELETE) and identity" },
  { method = "POST", path = "/v1/session/logout", summary = "ends the browser session" },
}

---Facade functions that run in the client: pure functions of their arguments
---(parsing, formatting) or the client's own configuration. Every other public
---function of a routed module is refused through a daemon.
M.client_side = {
  ["instance.validate_resources"] = true,
  -- the primary instance is a client setting (client.primary-name); the checks
  -- and the launch go through the routed instance.find and instance.launch
  ["instance.primary"] = true, ["instance.primary_or_usage"] = true,
  ["instance.launch_primary"] = true,
  ["recipe.plan_rows"] = true, ["recipe.params_text"] = true,
  ["images.parse_ref"] = true, ["images.check_ref"] = true,
  ["forwards.parse"] = true,
  ["transfer.parse"] = true, ["transfer.endpoints"] = true,
  ["remotes.url"] = true, ["remotes.check_url"] = true,
  ["settings.schema"] = true, ["settings.describe"] = true, ["settings.all"] = true,
  ["recipe.parse_params"] = true, ["recipe.details"] = true, ["recipe.summary"] = true,
  ["recipe.unchanged"] = true,
  ["snapshots.check_name"] = true, ["snapshots.parse_ref"] = true,
  ["snapshots.is_recipe"] = true, ["snapshots.recipe_ref"] = true,
}

---The routes by "module.function".
function M.by_fn()
  local t = {}
  for _, r in ipairs(M.routes) do t[r.fn] = r end
  return t
end

---Splits a path pattern into its parts: literals and {params}.
local function parts(path)
  local out = {}
  for seg in path:gmatch("[^/]+") do out[#out + 1] = seg end
  return out
end

---The route matching method and path, with the path's parameters; or nil and
---the HTTP status (404 no such path, 405 no such method on it).
function M.match(method, path)
  if #path > 2048 then return nil, 414 end
  local segs = parts(path)
  local path_found = false
  for _, r in ipairs(M.routes) do
    r._parts = r._parts or parts(r.path)
    if #r._parts == #segs then
      local params, ok = {}, true
      for i, p in ipairs(r._parts) do
        local name = p:match("^{(.+)}$")
        if name then
          params[name] = segs[i]
        elseif p ~= segs[i] then
          ok = false
          break
        end
      end
      if ok then
        path_found = true
        if r.method == method then return r, params end
      end
    end
  end
  return nil, path_found and 405 or 404
end

---The path of route r for the given parameter values (percent-encoded).
function M.path(r, params)
  return (r.path:gsub("{([^}]+)}", function(k)
    return (tostring(params[k]):gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
    end))
  end))
end

return M
