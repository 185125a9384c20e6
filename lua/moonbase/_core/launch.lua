-- Launch: a new instance assembled in a hidden staging directory (record,
-- user-data, networks, disk, native mounts) and renamed into place, so
-- nothing is ever half-created, then booted (moonbase.instance.launch).
-- layer: orchestration
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local yaml = require("moonbase.engine.yaml")
local paths = require("moonbase._core.paths")
local drivers = require("moonbase._core.drivers")
local instances = require("moonbase._core.instances")
local lifecycle = require("moonbase._core.lifecycle")
local boot = require("moonbase._core.boot")
local network = require("moonbase._core.network")
local bridged = require("moonbase._core.bridged")
local mounts = require("moonbase._core.mounts")
local images = require("moonbase._core.images")
local forwards = require("moonbase._core.forwards")
local errors = require("moonbase.errors")
local log = require("moonbase.log")

local L = {}

local adjectives = { "amber", "brave", "calm", "clever", "cosmic", "dusty", "eager", "fancy",
  "gentle", "happy", "icy", "jolly", "keen", "lunar", "merry", "nimble", "noble", "polar",
  "quiet", "rapid", "shiny", "silent", "solar", "swift", "tidy", "vivid", "witty", "zesty" }
local nouns = { "badger", "comet", "crater", "eagle", "falcon", "gecko", "heron", "ibex",
  "koala", "lemur", "lynx", "marmot", "meteor", "nebula", "otter", "panda", "pulsar", "quasar",
  "raven", "rover", "seal", "tapir", "walrus", "wombat", "yak", "zebra" }

---A fresh two-word name that no instance of this scope uses.
function L.generate_name()
  local seed = math.floor(util.time() * 1000) + util.getpid()
  math.randomseed(seed)
  for _ = 1, 200 do
    local n = adjectives[math.random(#adjectives)] .. "-" .. nouns[math.random(#nouns)]
    if not fs.exists(instances.dir(n)) then return n end
  end
  errors.raise("launch: could not pick a free name (try: --name NAME)")
end

---Parses and checks a cloud-init user-data document (YAML mapping).
function L.check_cloud_init(text, source)
  if text:match("^#!") then return nil end -- a script: cloud-init runs it as is
  local doc, msg = yaml.parse(text)
  if doc == nil and msg then
    errors.usage(string.format("launch: invalid cloud-init YAML in %s: %s", source, msg))
  end
  if doc ~= nil and (type(doc) ~= "table" or doc[1] ~= nil) then
    errors.usage(string.format("launch: cloud-init in %s must be a YAML mapping " ..
      "(#cloud-config)", source))
  end
  return doc
end

---Forwards given to launch (recipes): {host_port, guest_port, proto?, address?}.
function L.launch_forwards(list)
  if not list or #list == 0 then return nil end
  local out = {}
  for _, f in ipairs(list) do
    out[#out + 1] = forwards.parse(string.format("%d:%d/%s", f.host_port, f.guest_port,
      f.proto or "tcp"), f.address)
  end
  return out
end

---Records the native mounts of a new instance with the driver (they join
---QEMU's command line at its first start).
function L.native_mounts(drv, rec, staging, verb)
  for _, m in ipairs(instances.spec(rec, staging).mounts) do
    errors.check(verb, drv:mount_native(instances.spec(rec, staging), m))
  end
end

---Undoes a new instance that was being assembled in staging (a failed
---launch or clone): its addresses, the driver's files, the directory.
function L.discard(drv, rec, staging, lock)
  if rec.nics then
    pcall(bridged.detach, rec.name, rec.nics)
    pcall(network.release, rec.name)
  end
  drv:destroy(instances.spec(rec, staging))
  fs.rmtree(staging)
  lock:close()
end

---Creates and starts an instance.
function L.run(o)
  local drv, drvname = drivers.current()
  local name = o.name or L.generate_name()
  instances.check_name(name, "launch")
  instances.validate_resources(o, "launch")
  -- the reference's syntax, its remote or file: refused before anything is
  -- made (every driver, the test driver too, resolves its image)
  if o.image then errors.check("launch", images.check_launchable(o.image)) end
  if o.cloud_init then L.check_cloud_init(o.cloud_init, o.cloud_init_source or "--cloud-init") end
  local mount_list = mounts.for_launch(o.mounts, drv)
  boot.network_requests(o.networks) -- parse errors first
  if o.bridged then bridged.check() end
  local final = instances.dir(name)
  if fs.exists(final) then
    errors.raise(string.format("launch: instance \"%s\" already exists (try: another --name, " ..
      "or moonbase delete --purge %s)", name, name), "exists")
  end
  local host = lifecycle.placement(o.host)
  local ok, reason = drv:probe()
  if ok == false then
    errors.raise(string.format("launch: the %s driver cannot run here: %s", drvname, reason))
  end
  local rec = { name = name } -- filled below, once nothing can be refused any more
  local image_lock = boot.image(rec, o) -- resolved and verified before anything exists
  local base = paths.instances(drivers.scope())
  local okb, berr = pcall(function() errors.check("launch", fs.mkdirs(base)) end)
  if not okb then
    if image_lock then image_lock:close() end
    error(berr, 0)
  end
  instances.sweep(base)
  local staging = string.format("%s/.new-%s-%d", base, name, util.getpid())
  log.say(1, "launch %s: assembling it in %s (%s driver)", name, staging, drvname)
  local oks, serr = pcall(function() errors.check("launch", fs.mkdirs(staging, 448)) end)
  if not oks then
    if image_lock then image_lock:close() end
    error(serr, 0)
  end
  local lock = instances.lock(name, staging)
  for k, v in pairs({
    name = name, scope = drivers.scope(), driver = drvname,
    cpus = o.cpus or instances.defaults.cpus, memory = o.memory or instances.defaults.memory,
    disk = o.disk or instances.defaults.disk, created = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    state = "creating", labels = o.labels, mounts = mount_list, version = 1,
    forwards = L.launch_forwards(o.forwards),
    disk_file = drivers.info(drvname).disk_file,
    host = host,
  }) do rec[k] = v end
  local cloud_init
  local okc, err = pcall(function()
    if o.cloud_init then
      errors.check("launch", fs.write(staging .. "/user-data", o.cloud_init, 384))
    end
    cloud_init = boot.prepare(rec, o)
    for _, f in ipairs(rec.forwards or {}) do
      if f.proto == "udp" and not rec.nics then
        errors.usage(string.format("launch: the UDP forward %d:%d needs the instance on a " ..
          "moonbase network, and this host gives it QEMU user networking (see " ..
          "docs/networking.md)", f.host_port, f.guest_port))
      end
    end
    instances.save(rec, staging)
    local spec = instances.spec(rec, staging)
    spec.cloud_init = cloud_init -- the driver makes its seed (or config) of them
    errors.check("launch", drv:create(spec, { progress = not o.quiet }))
    L.native_mounts(drv, rec, staging, "launch")
    rec.state = "stopped"
    instances.save(rec, staging)
  end)
  if not okc then
    L.discard(drv, rec, staging, lock)
    if image_lock then image_lock:close() end
    error(err, 0)
  end
  local renamed, msg = fs.rename(staging, final)
  if not renamed then
    drv:destroy(instances.spec(rec, staging))
    fs.rmtree(staging)
    lock:close()
    if fs.exists(final) then
      errors.raise(string.format("launch: instance \"%s\" already exists", name), "exists")
    end
    errors.raise("launch: " .. msg)
  end
  if image_lock then image_lock:close() end -- the record names image_id now
  log.say(1, "launch %s: created in %s; booting", name, final)
  local started, smsg, scode = lifecycle.boot(rec, "boot", o)
  if not started then
    rec.state = "stopped"
    instances.save(rec)
    lock:close()
    -- after a console tail, the hint goes on a line of its own
    local hint_sep = smsg:find("\n", 1, true) and "\n" or " "
    if scode == "timeout" then
      errors.raise(string.format("launch: %s%s(the instance is stopped; try: moonbase info %s, " ..
        "or moonbase delete --purge %s)", smsg, hint_sep, name, name), scode)
    end
    errors.raise(string.format("launch: instance \"%s\" was created but did not start: %s%s" ..
      "(try: moonbase start %s, or moonbase delete --purge %s)", name, smsg, hint_sep, name,
      name), scode)
  end
  rec.state = "running"
  rec.started_at = util.time()
  instances.save(rec)
  lock:close()
  return rec
end

return L
