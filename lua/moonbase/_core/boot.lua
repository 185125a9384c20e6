-- Booting instances of drivers with a guest (QEMU, libvirt): preparing a new
-- instance (image, keys, cloud-init seed) and the agent's main loop (boot,
-- wait for SSH and cloud-init, serve). Commands in the guest go through
-- moonbase._core.guest.
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local agent = require("moonbase.engine.agent")
local errors = require("moonbase.errors")
local settings = require("moonbase._core.settings")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local agentctl = require("moonbase._core.agentctl")
local images = require("moonbase._core.images")
local network = require("moonbase._core.network")
local bridged = require("moonbase._core.bridged")
local mounts = require("moonbase._core.mounts")
local forwards = require("moonbase._core.forwards")
local hosts = require("moonbase._core.hosts")
local keys = require("moonbase._core.keys")
local seed = require("moonbase._core.seed")
local netplan = require("moonbase._core.netplan")

local M = {}

local random_hex = instances.random_hex

---Resolves a new instance's image (downloaded once, verified) into rec,
---before anything of the instance exists. Returns the image's shared lock:
---close it once the record, which names the image, is in place.
function M.image(rec, o)
  -- in the format the driver makes instances of (a disk, an LXD image)
  local format = errors.check("launch", drivers.current():image_format())
  local img = images.resolve(o.image, { hold = true, quiet = o.quiet, format = format })
  rec.image = o.image or settings.get("local.image.default")
  rec.image_id, rec.image_path = img.id, img.path
  if img.lxd then
    rec.image_path, rec.image_metadata = img.lxd.rootfs, img.lxd.metadata
  end
  rec.kernel, rec.initrd, rec.cmdline = img.kernel, img.initrd, img.cmdline
  return img.lock
end

---Gives a new instance (launched or cloned) its own identity: a MAC, its
---networks and their addresses (or QEMU user networking), and, for a guest
---reached over SSH, the port, the client key and the guest's own host key;
---an instance-id. Returns the cloud-init documents the driver's create (or
---clone) makes its seed of, with the user's cloud-init (o.cloud_init).
---o.new_machine_id: the disk is another instance's copy, so the guest makes
---itself a new machine-id.
---@param o {cloud_init?: string, networks?: table, bridged?: boolean, quiet?: boolean, new_machine_id?: boolean}
---@return {meta_data: string, user_data: string, network_config: string}
function M.prepare(rec, o)
  local _, drvname = drivers.current()
  local mac = random_hex(3)
  rec.mac = "52:54:00:" .. mac:sub(1, 2) .. ":" .. mac:sub(3, 4) .. ":" .. mac:sub(5, 6)
  local network_config, resolver
  if rec.host and o.bridged then
    errors.usage(string.format("launch: --bridged puts a NIC on a bridge of this machine, and " ..
      "the instance goes to the %s host %s (try: without --bridged)", drvname, rec.host))
  end
  -- On the configured host the driver's networks (or the engine's) serve
  -- moonbase's networks; on another one (a recipe's host =) the instance
  -- has user networking there.
  local backend = drivers.net_backend(rec.host)
  if backend == "user" then
    if (o.networks and #o.networks > 0) or o.bridged then
      local hs = drivers.host_setting()
      errors.usage(string.format("launch: an instance on the %s host %s, which is not %s's, " ..
        "has user networking there: --network and --bridged need it on %s's host", drvname,
        rec.host, hs and hs.key or "the setting", hs and hs.key or "the setting"))
    end
  else
    network_config, resolver = M.attach_networks(rec, o)
  end
  rec.user = seed.default_user
  local ssh_keys = {}
  if drivers.has("ssh") then
    rec.ssh_port = errors.check("launch", util.free_tcp_port())
    local _, client_pub = keys.client_key()
    local host_private, host_public = keys.host_keypair(rec.name)
    rec.host_key = host_public
    ssh_keys = { authorized_key = client_pub, host_private = host_private,
      host_public = host_public }
  end
  rec.instance_id = rec.name .. "-" .. random_hex(4)
  return {
    meta_data = seed.meta_data(rec.name, rec.instance_id),
    user_data = seed.user_data(o.cloud_init, { user = rec.user,
      authorized_key = ssh_keys.authorized_key, host_private = ssh_keys.host_private,
      host_public = ssh_keys.host_public,
      bootcmd = resolver and { netplan.resolver_bootcmd(resolver) } or nil,
      new_machine_id = o.new_machine_id and rec.instance_id or nil }),
    network_config = network_config or seed.network_config({ mac = rec.mac }),
  }
end

local fallback_said = false

-- The parent pid of a process (from /proc), or nil.
local function parent_of(pid)
  local stat = fs.read("/proc/" .. pid .. "/stat")
  return stat and math.tointeger(tonumber(stat:match("^%d+ %b() %S+ (%d+)")))
end

---Puts a new instance on moonbase's private network (and the networks it
---asks for, and the host bridge with o.bridged) when this host allows it;
---otherwise QEMU user networking, said once. Records the NICs in rec.nics;
---returns the seed's network-config and the guest's resolver (nameserver,
---search), or nil for user networking. NICs of mode=manual are left out of
---it: the guest does not configure them.
function M.attach_networks(rec, o)
  local requests = M.network_requests(o.networks)
  local ok, why = network.available()
  if not ok and network.driver_serves() then ok = true end -- the driver makes the networks
  if not ok then
    if #requests > 0 or o.bridged then
      errors.usage(string.format("launch: %s needs moonbase's private network, which is not " ..
        "available here: %s", o.bridged and "--bridged" or "--network", why))
    end
    if not fallback_said and not o.quiet then
      io.stderr:write(network.fallback_notice(why), "\n")
      fallback_said = true
    end
    return nil
  end
  network.check_requests(rec.name, requests)
  local iface = o.bridged and bridged.check()
  local atts = { network.attach(rec.name, { mac = rec.mac }) }
  local configured = { atts[1] }
  rec.nics = { { network = atts[1].network, tap = atts[1].tap, mac = atts[1].mac,
    ipv4 = atts[1].ipv4, driver_network = atts[1].driver_network, bridge = atts[1].bridge } }
  for _, r in ipairs(requests) do
    if r.network ~= network.DEFAULT then
      local a = network.attach(rec.name, { network = r.network, ip = r.ip, mac = r.mac })
      if r.mode ~= "manual" then configured[#configured + 1] = a end
      rec.nics[#rec.nics + 1] = { network = a.network, tap = a.tap, mac = a.mac,
        ipv4 = r.mode ~= "manual" and a.ipv4 or nil, mode = r.mode,
        driver_network = a.driver_network, bridge = a.bridge }
    end
  end
  local yaml = network.cloud_init_yaml(configured)
  if iface then
    local nic = bridged.attach(rec.name, iface)
    rec.nics[#rec.nics + 1] = nic
    yaml = yaml .. bridged.netplan(nic)
  end
  rec.mac, rec.ipv4 = atts[1].mac, atts[1].ipv4
  return yaml, netplan.resolver(configured)
end

---The launch's network requests, parsed and checked (no host changes):
---"--network" strings, or recipe tables {network=, ip=, mac=, mode=}.
---@return {network: string, ip?: string, mac?: string, mode: string}[]
function M.network_requests(list)
  local requests = {}
  for _, r in ipairs(list or {}) do
    if type(r) == "table" then -- from a recipe
      requests[#requests + 1] = { network = r.network, ip = r.ip, mac = r.mac,
        mode = r.mode or "auto" }
    else
      requests[#requests + 1] = errors.check("launch", network.parse_request(r))
    end
  end
  return requests
end

---Recreates the instance's taps before QEMU starts (stop removed them).
local function reattach(rec)
  if not rec.nics then return end
  for _, nic in ipairs(rec.nics) do
    if nic.network == bridged.NETWORK then bridged.reattach(rec.name, nic)
    else network.attach(rec.name, { network = nic.network }) end
  end
end

---Removes an instance's taps (QEMU is gone); its addresses stay reserved.
function M.detach_networks(rec)
  if not rec.nics then return end
  pcall(network.detach, rec.name)
  pcall(bridged.detach, rec.name, rec.nics)
end

local function console_tail(drv, spec, n)
  local log = drv:console_log(spec, 4096) or ""
  local lines = {}
  for l in log:gmatch("[^\r\n]+") do lines[#lines + 1] = l end
  local out = {}
  for i = math.max(1, #lines - (n or 10) + 1), #lines do out[#out + 1] = "  | " .. lines[i] end
  if #out == 0 then return "" end
  return "\nlast lines of the console:\n" .. table.concat(out, "\n")
end

---The agent's main: boots (or resumes, or attaches to) the instance, waits
---for SSH and cloud-init, then serves requests until QEMU exits.
function M.agent_main(name, opts)
  -- libssh2 lives in the plugin: only the agent loads it, exec/shell/transfer
  -- only talk to the agent
  local ssh = require("moonbase.engine.ssh")
  if opts.driver then drivers.use(opts.driver) end
  local dir = instances.dir(name)
  local rec = instances.get(name)
  local drv = drivers.current()
  local deadline = opts.deadline or (util.time() + 300)
  agentctl.report(dir, "starting")
  local spec = instances.spec(rec)
  local started_here = opts.mode ~= "attach"
  local function fail(msg, code)
    if started_here then drv:shutdown(spec, { force = true, timeout = 0 }) end
    agentctl.report(dir, "failed", { message = msg, code = code or "failed" })
    io.stderr:write("agent: ", msg, "\n")
    return 2
  end
  if started_here then
    local okn, nerr = pcall(reattach, rec)
    if not okn then
      return fail(errors.is(nerr) and nerr.message or tostring(nerr))
    end
    local ok, msg, code
    if opts.mode == "resume" then ok, msg, code = drv:resume(spec)
    else ok, msg, code = drv:start(spec) end
    if not ok then return fail(msg .. console_tail(drv, spec), code) end
  end
  -- The hypervisor process the driver names (none on another host: then
  -- nothing is watched and the agent ends with a stop request). When it is
  -- our child (the driver started it in this process), we wait for it.
  local pid = drivers.has("watch") and drv:pid(spec) or nil
  if pid == 0 then pid = nil end
  local own_child = pid and started_here and parent_of(pid) == util.getpid()
  local host, port, proxy_template, relay = drv:ssh_address(spec)
  if not host then return fail("cannot tell where SSH of \"" .. name .. "\" listens: " .. port) end
  local key = keys.client_key()
  -- a guest on another host: reached through that host
  local proxy = proxy_template and hosts.expand_proxy(proxy_template, host, port)
  agentctl.report(dir, "waiting-ssh")
  if rec.nics and not proxy then network.hint_neighbours(name) end
  local session, last
  local answered = false -- the guest has answered (closed) a connection
  -- a guest whose address is not up yet drops the SYN, and the kernel sends
  -- the next only a second later: probe again sooner, a new connection each
  -- 0.1 s at first, waiting twice as long after every fourth that stays
  -- unanswered (a far host's round trip fits in the end). A container's SSH
  -- answers within a second of its start, so the probes' spacing is a share
  -- of every launch.
  local connect_wait, unconnected = 0.05, 0
  while true do
    local left = deadline - util.time()
    if left <= 0 then
      return fail(string.format("instance \"%s\" did not answer SSH on %s:%d in time (%s)%s",
        name, host, port, last or "no answer", console_tail(drv, spec)), "timeout")
    end
    -- Behind QEMU's user networking a connection is accepted at once and
    -- stays silent until the guest answers it, which a guest still booting
    -- never does: a connection silent for 1.5 s is joined by a new one
    -- (whose SYN reaches a guest just up at once), the earlier ones held, so
    -- that an SSH server slow to answer (a guest under load starting one
    -- per connection) answers one of them instead of starting again for
    -- every probe. Once the guest has answered, a silent connection is a
    -- slow SSH server: then wait longer.
    -- (Through a proxy there is nothing to probe: the session waits.)
    local up, msg, code, how = true, nil, nil, nil
    if not proxy then
      local wait = math.min(answered and 10 or 6, left)
      up, msg, code, how = ssh.probe(host, port, wait, math.min(connect_wait, wait), 1.5)
    end
    if how == "closed" then answered = true end
    if how == "unconnected" then
      unconnected = unconnected + 1
      if unconnected % 4 == 0 then connect_wait = math.min(connect_wait * 2, 1.5) end
    end
    if up then
      session, msg, code = ssh.connect({ host = host, port = port, user = rec.user, key = key,
        host_key = rec.host_key, proxy = proxy,
        timeout = math.min(proxy and 10 or 30, math.max(left, 1)) })
      if session then break end
    end
    last = msg
    if code == "hostkey" then return fail(msg, "hostkey") end
    if drv:state(spec) ~= "running" then
      return fail(string.format("instance \"%s\" stopped while booting%s", name,
        console_tail(drv, spec)))
    end
    util.sleep(0.05)
  end
  agentctl.report(dir, "waiting-cloud-init")
  while true do
    local code = session:run("test -f /var/lib/cloud/instance/boot-finished")
    if code == 0 then break end
    if util.time() > deadline then
      session:close()
      return fail(string.format("cloud-init did not finish on \"%s\" in time%s", name,
        console_tail(drv, spec)), "timeout")
    end
    util.sleep(0.3)
  end
  -- mounts come back at every start: native ones now, classic ones once the
  -- agent serves (it reports ready after trying them)
  local classic, warnings = mounts.establish(session, rec)
  session:close()
  local function ready(failures)
    for i, message in pairs(failures or {}) do
      warnings[#warnings + 1] = mounts.failure(classic[i], message)
    end
    agentctl.report(dir, "ready", { ssh = host .. ":" .. port, watching = pid,
      warnings = #warnings > 0 and warnings or nil })
  end
  local rc, msg = agent.serve({
    socket = agentctl.socket(dir), host = host, port = port, user = rec.user, key = key,
    host_key = rec.host_key, timeout = 30, proxy = proxy, relay = relay, mounts = classic,
    ready = ready,
    forwards = forwards.for_agent(rec),
    child = own_child and pid or nil,
    watch = not own_child and pid or nil,
  })
  M.detach_networks(rec) -- taps go with QEMU
  fs.remove(agentctl.status_file(dir)) -- last: stop/start wait for this process to end
  if not rc then io.stderr:write("agent: ", msg, "\n") return 2 end
  lifecycle.state(instances.get(name)) -- records follow the hypervisor (when nobody holds the lock)
  return 0
end

return M
