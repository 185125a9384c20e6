-- Instances: what commands, recipes and your own commands use to launch,
-- list and run instances. Records on disk (the memory) checked against the
-- driver (the truth): every mutation holds the instance's lock, records are
-- written atomically, and a new instance is assembled in a hidden staging
-- directory and renamed into place, so nothing is ever half-created.
-- layer: facade
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local keys = require("moonbase._core.keys")
local errors = require("moonbase.errors")

local M = {}

M.defaults, M.limits, M.features = instances.defaults, instances.limits, instances.features

---The driver chosen by local.driver.
---@return table handle, string name
M.driver = drivers.current

---Uses this driver instead of the setting.
---@param name string
M.use_driver = drivers.use

---Whether the driver's guests are reached over SSH through the instance agent.
---@return boolean
M.uses_agent = drivers.uses_agent

---Trusts moonbase with the driver's host once, with a token made there.
---@param token string
---@param host? string
---@return string trusted, string driver, string? key
M.trust = drivers.trust

---The visible instance scope (QEMU and libvirt share one).
---@return string
M.scope = drivers.scope

---The directory of an instance of the current scope.
---@param name string
---@return string
M.dir = instances.dir

---The driver's view of a record.
M.spec = instances.spec

---One record, or nil, message, "notfound".
---@param name string
---@return table? record, string? message, string? code
M.find = instances.find

---One record; raises when there is none.
---@param name string
---@return table record
M.get = instances.get

---Every record of the current scope, sorted by name.
---@return table[]
M.records = instances.records

---Checks cpus, memory and disk against M.limits (a usage error if not).
M.validate_resources = instances.validate_resources

---The live state: "deleted" for soft-deleted records, else the driver's
---answer, and the driver that runs it when that is not the current one.
---@param rec table
---@return string state, string? owner
M.state = lifecycle.state

---Addresses the driver reports (empty unless running).
---@return string[]
M.ipv4 = lifecycle.ipv4

---Where the instance runs: "local", or "user@host" of its libvirt host.
---@return string
M.location = lifecycle.location

---Rows for `list`: {name, state, ipv4, image, driver (the one running it, or
---the current one), host ("local" or user@host)}.
---@param o? {addresses?: boolean}  addresses = false: no driver query for them
---@return table[]
M.list = lifecycle.list

---Everything `info` shows, its snapshots included.
---@param name string
---@return table
function M.info(name)
  local i = lifecycle.info(name)
  i.snapshots = require("moonbase._core.snapshots").list(name)
  return i
end

---Creates and starts an instance.
---@param o {name?: string, image?: string, cpus?: integer, memory?: integer, disk?: integer, cloud_init?: string, labels?: table, mounts?: (string|table)[], networks?: (string|table)[], forwards?: table[], bridged?: boolean, host?: string}
---@return table record
function M.launch(o)
  -- launch's modules (images, keys, seeds) load only for a launch
  return require("moonbase._core.launch").run(o)
end

---Clones a stopped instance: an independent copy of its disk (what it wrote,
---on the same image) with its own name, MAC, address, SSH host key,
---instance-id and machine-id. Returns the clone's record (stopped).
---@param source string
---@param o? {name?: string, quiet?: boolean}
---@return table record
function M.clone(source, o) return require("moonbase._core.clone").clone(source, o) end

---Renames a stopped instance (its directory, addresses, DNS name, aliases
---and recipe follow).
---@param old string
---@param new string
---@return table record
function M.rename(old, new) return require("moonbase._core.clone").rename(old, new) end

---Starts a stopped instance, or resumes a suspended one.
---@param name string
---@param o? {timeout?: number, quiet?: boolean}
M.start = lifecycle.start

---Stops a running (or, with force, suspended) instance.
---@param name string
---@param o? {force?: boolean, timeout?: number}
M.stop = lifecycle.stop

---Saves a running instance's state and stops it; start resumes it.
M.suspend = lifecycle.suspend

---Stops (gracefully) and starts a running instance.
M.restart = lifecycle.restart

---Deletes an instance: stopped and kept for `recover`, or, with purge, removed.
---@param name string
---@param o? {purge?: boolean}
M.delete = lifecycle.delete

---Brings a deleted instance back (stopped).
M.recover = lifecycle.recover

---What a lifecycle verb (start, stop, suspend, restart, delete, recover)
---would do to an instance, changing nothing: "act", or "already" and a
---notice when it is in the wanted state; raises when it cannot be done
---(what `targets` checks for every name before doing anything).
---@param verb string
---@param name string
---@param o? {force?: boolean, purge?: boolean}
---@return "act"|"already", string?
M.check = lifecycle.check

---Removes every deleted instance for good; returns their names.
---@return string[]
M.purge = lifecycle.purge

---What a running instance uses, as its driver measures it: {cpu_ns (CPU
---time since it started), memory_bytes (resident on this host)}.
---@param name string
---@return table
function M.usage(name)
  local rec = lifecycle.running_record(name, "usage")
  local u, msg, code = drivers.for_record(rec):usage(instances.spec(rec))
  if not u then errors.raise("usage: " .. tostring(msg), code) end
  return u
end

---Runs fn(rec) under the instance's lock and saves the record it changed.
M.update = lifecycle.update

---Runs a command (argv; a login shell without one) in a running instance;
---returns its exit status.
---@param name string
---@param argv? string[]
---@param o? {env?: string[], workdir?: string, pty?: boolean, interactive?: boolean}
---@return integer
function M.exec(name, argv, o) return require("moonbase._core.guest").exec(name, argv, o) end

---The primary instance's name (the setting client.primary-name, Multipass's
---"primary"): the instance commands use when given no name. Nil when the
---setting is empty.
---@return string?
M.primary = lifecycle.primary

---The name a command without NAME works on: the primary instance, or a
---usage error that says how to name one.
---@param verb string
---@param existing? boolean  it must exist (commands that do not launch it)
---@return string
function M.primary_or_usage(verb, existing)
  local name = lifecycle.primary_or_usage(verb)
  -- M.find, not the records: through a daemon, it asks the daemon
  if existing and not M.find(name) then
    errors.raise(string.format("%s: the primary instance \"%s\" does not exist (moonbase " ..
      "start or moonbase shell launch it; or name an instance: moonbase %s NAME)", verb, name,
      verb), "notfound")
  end
  return name
end

---Launches the primary instance as `launch --name <primary>` would, saying so
---on stderr.
---@param o? {quiet?: boolean, timeout?: number}
---@return table record
function M.launch_primary(o)
  o = o or {}
  local name = lifecycle.primary_or_usage("launch")
  if not o.quiet then io.stderr:write(string.format("Launching %s\n", name)) end
  return M.launch({ name = name, quiet = o.quiet, timeout = o.timeout })
end

---Waits until an instance is ready: running, and (where moonbase reaches the
---guest over SSH) its SSH up and cloud-init done. Raises when it cannot get
---there (stopped, deleted), or with code "timeout".
---@param name string
---@param timeout number  seconds
M.wait_ready = lifecycle.wait_ready

---Stops a running instance after `minutes`, from a background process
---(Multipass's stop --time); a later stop or cancel_stop ends the wait.
---@param name string
---@param minutes number
---@return number at  the time it will stop
M.stop_later = lifecycle.stop_later

---Cancels a delayed stop; returns the time it would have stopped at, or nil.
---@param name string
---@return number?
M.cancel_stop = lifecycle.cancel_stop

---What the background process of stop_later runs: waits, then stops.
---@param name string
---@param at number
M.stop_at = lifecycle.stop_at

---The agent's main (the hidden `moonbase agent` command).
function M.run_agent(name, opts) return require("moonbase._core.boot").agent_main(name, opts) end

---How OpenSSH reaches a running instance: {host, port, user, key, host_key,
---proxy_command?}, or nil, message, code: the dispatcher's "unsupported"
---when the driver's guests are not reached over SSH.
---@param name string
---@return table?, string?, string?
function M.ssh_endpoint(name)
  local rec = instances.get(name)
  local drv = drivers.for_record(rec)
  local ok, msg, code = drv:supports("ssh", "SSH")
  if not ok then return nil, msg, code end
  local host, port, proxy = drv:ssh_address(instances.spec(rec))
  if not host then return nil, port, proxy end
  if not rec.host_key then
    return nil, string.format("instance \"%s\" has no pinned SSH host key", name), "failed"
  end
  -- on another host: host:port are as that host sees them, reached through it
  return { host = host, port = port, user = rec.user, key = keys.client_key_path(),
    host_key = rec.host_key, proxy_command = proxy }
end

return M
