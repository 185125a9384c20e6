-- Shared helpers for the e2e specs that drive the real moonbase CLI against
-- real QEMU guests: the tiny test image built once (tests/images/build-tiny.sh,
-- cached outside the repo), published as a simplestreams tree
-- (make-streams.sh) and served on 127.0.0.1 (tests/lib/imagehost.sh), and
-- fresh MOONBASE_HOMEs configured for it (driver qemu, user networking with
-- restrict=on, image local:tiny). Whatever a test leaves running in its home
-- (QEMU, agents) is killed by pid at cleanup; every wait is bounded.
--
--   package.path = os.getenv("MOONBASE_SRC") .. "/tests/e2e/?.lua;" .. package.path
--   local support = require("support")
--   local why = support.unavailable()          -- nil, or why QEMU tests cannot run
--   local host = support.host()                -- nil, reason when the image cannot be built
--   local h = support.home(host)               -- h:run / h:ok / h:cleanup
--
-- MOONBASE_TINY_IMAGE=<dir> uses an already built tiny image.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")

local M = {}

M.bin = os.getenv("MOONBASE_BIN") or "build/moonbase"
M.src = os.getenv("MOONBASE_SRC") or "."
if M.bin:sub(1, 1) ~= "/" then M.bin = util.getcwd() .. "/" .. M.bin end
if M.src:sub(1, 1) ~= "/" then M.src = util.getcwd() .. "/" .. M.src end

local cleanups = {}

-- What the watchdog (watchdog.lua) cleans if this process ends without
-- M.cleanup(): one "home DIR" / "host ROOT" / "dir DIR" a line.
local watch_file
local function track(kind, path)
  if not watch_file then
    watch_file = string.format("/tmp/mb-e2e-watch-%d.list", util.getpid())
    fs.write(watch_file, "")
    process.spawn({ M.bin, "--lua", M.src .. "/tests/e2e/watchdog.lua",
      tostring(util.getpid()), watch_file }, { detach = true,
      env = { MOONBASE_SRC = M.src, MOONBASE_HOME = false } })
  end
  local f = io.open(watch_file, "a")
  if f then
    f:write(kind, " ", path, "\n")
    f:close()
  end
end

local function run(argv, opts)
  local code, out, err = process.run(argv, opts)
  return code, out or "", err or ""
end
M.run = run

function M.must(argv, opts)
  local code, out, err = run(argv, opts)
  assert(code == 0, table.concat(argv, " ") .. " exited " .. code .. ": " .. err .. out)
  return out
end

function M.have(prog)
  return run({ "sh", "-c", 'command -v "$0" >/dev/null', prog }) == 0
end

---A new directory under /tmp, or under base (the watchdog removes it if the
---spec dies).
function M.tmpdir(tag, base)
  local dir = M.must({ "mktemp", "-d", (base or "/tmp") .. "/mb-e2e-" .. (tag or "x") ..
    "-XXXXXX" })
  dir = dir:gsub("%s+$", "")
  track("dir", dir)
  return dir
end

---Polls fn every interval seconds (default 0.2) until it returns a true
---value, which is returned; raises after timeout seconds.
function M.wait_for(what, timeout, fn, interval)
  local deadline = util.now() + timeout
  repeat
    local v = fn()
    if v then return v end
    util.sleep(interval or 0.2)
  until util.now() > deadline
  local v = fn()
  if v then return v end
  error(string.format("timed out after %g s waiting for %s", timeout, what), 2)
end

-- As root, moonbase gives guests its private network moonbase0: a bridge,
-- taps, dnsmasq and NAT. These specs prove QEMU user networking (restrict=on,
-- SSH forwarded on 127.0.0.1), the same whether or not ctest runs them in a
-- network namespace, and never touch the host's network (TESTING.md): so
-- moonbase runs here without CAP_NET_ADMIN and takes the unprivileged path.
-- A home made with { private_network = true } keeps the privilege (for a
-- suite that runs in a network namespace of its own).
M.runner = {}
if util.geteuid() == 0 then M.runner = { "setpriv", "--bounding-set=-net_admin" } end

---The argv that runs moonbase with args (through M.runner unless keep_caps).
function M.argv(args, keep_caps)
  local argv = {}
  if not keep_caps then
    for _, a in ipairs(M.runner) do argv[#argv + 1] = a end
  end
  argv[#argv + 1] = M.bin
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return argv
end

---nil when QEMU specs can run here, else the reason (for pending()).
function M.unavailable()
  if #M.runner > 0 and not M.have(M.runner[1]) then
    return M.runner[1] .. " (util-linux) is missing: needed to run moonbase without " ..
      "CAP_NET_ADMIN, so it uses user networking and leaves the host's network alone"
  end
  for _, p in ipairs({ "qemu-system-x86_64", "qemu-img" }) do
    if not M.have(p) then
      return p .. " is not installed (apt-get install qemu-system-x86 qemu-utils)"
    end
  end
  if not fs.exists(M.bin) then return "no moonbase binary at " .. M.bin .. " (set MOONBASE_BIN)" end
  return nil
end

local image_cache = {}

---Builds (or finds in the cache) a test image with tests/images/<script>
---(args: its arguments, e.g. { "--flavour", "networkd" }); returns its
---directory, or nil, reason.
function M.image(script, env_override, args)
  local key = table.concat({ script, table.unpack(args or {}) }, " ")
  if image_cache[key] then return table.unpack(image_cache[key]) end
  local dir = env_override and os.getenv(env_override)
  local result
  if dir and dir ~= "" then
    result = { dir }
  else
    local path = M.src .. "/tests/images/" .. script
    if not fs.exists(path) then
      result = { nil, "tests/images/" .. script .. " does not exist" }
    else
      local t0 = util.now()
      local code, out, err = run({ path, table.unpack(args or {}) })
      if code ~= 0 then
        result = { nil, string.format("tests/images/%s failed (exit %d): %s", script, code,
          err:sub(-1500)) }
      else
        result = { out:match("([^\n]+)\n*$") }
        io.stderr:write(string.format("[e2e] %s: %s (%.1f s)\n", key, result[1],
          util.now() - t0))
      end
    end
  end
  if result[1] then
    for _, f in ipairs({ "disk.qcow2", "metadata.json" }) do
      if not fs.exists(result[1] .. "/" .. f) then
        result = { nil, script .. " made an incomplete image: no " .. f .. " in " .. result[1] }
        break
      end
    end
  end
  image_cache[key] = result
  return table.unpack(result)
end

---The tiny image's directory, or nil, reason.
function M.tiny_image()
  return M.image("build-tiny.sh", "MOONBASE_TINY_IMAGE")
end

---Publishes image dirs as a simplestreams tree served on 127.0.0.1; returns
---{ url = "http://127.0.0.1:PORT/", root = DIR }, or nil, reason. With no
---argument, the tiny image. Stopped by M.cleanup().
function M.host(images)
  if not images then
    local dir, why = M.tiny_image()
    if not dir then return nil, why end
    images = { dir }
  end
  local root = M.tmpdir("streams")
  local argv = { M.src .. "/tests/images/make-streams.sh", root }
  for _, d in ipairs(images) do argv[#argv + 1] = d end
  local code, out, err = run(argv)
  if code ~= 0 then
    fs.rmtree(root)
    return nil, "make-streams.sh failed: " .. err .. out
  end
  code, out, err = run({ M.src .. "/tests/lib/imagehost.sh", "start", root },
    { env = { MB_IMAGEHOST_LIFETIME = "3600" } })
  if code ~= 0 then
    fs.rmtree(root)
    return nil, "imagehost.sh could not serve the image: " .. err .. out
  end
  local h = { url = out:match("(http://127%.0%.0%.1:%d+)") .. "/", root = root }
  track("host", root)
  cleanups[#cleanups + 1] = function()
    run({ M.src .. "/tests/lib/imagehost.sh", "stop", root })
    fs.rmtree(root)
  end
  return h
end

---A stopwatch for a suite: timed(what, fn) runs fn and notes how long it
---took; note(text) adds a line; report(label) writes them to stderr.
function M.timer()
  local t = { lines = {} }
  function t.timed(what, fn)
    local t0 = util.now()
    local r = table.pack(fn())
    t.lines[#t.lines + 1] = string.format("%s %.1fs", what, util.now() - t0)
    return table.unpack(r, 1, r.n)
  end
  function t.note(text) t.lines[#t.lines + 1] = text end
  function t.report(label)
    if #t.lines > 0 then
      io.stderr:write("\n[e2e] " .. label .. ": " .. table.concat(t.lines, "; ") .. "\n")
    end
  end
  return t
end

---------------------------------------------------------------- processes

local function cmdline(pid)
  local s = fs.read("/proc/" .. pid .. "/cmdline")
  return s and s:gsub("%z", " ") or nil
end
M.cmdline = cmdline

-- The libvirt domains a home's instances have now (libvirt.domain files).
local function domains_of(home)
  local out = {}
  local base = home .. "/data/instances"
  for _, scope in ipairs(fs.list(base) or {}) do
    for _, name in ipairs(fs.list(base .. "/" .. scope) or {}) do
      local t = fs.read(base .. "/" .. scope .. "/" .. name .. "/libvirt.domain")
      local dom = t and t:match("\n([^\n]+)")
      if dom then out[#out + 1] = dom end
    end
  end
  return out
end

---Live processes that belong to a moonbase home: started with
---MOONBASE_HOME=home (or, for a home of another user's, HOME=home) in their
---environment, or naming a path inside it on their command line (QEMU), or
---the QEMU of a libvirt domain of the home (-name guest=DOMAIN: its files
---may be lent to libvirt's storage pool). Returns { {pid=, cmd=}, ... }.
function M.processes(home)
  local out = {}
  local me = util.getpid()
  local doms = domains_of(home)
  for _, n in ipairs(fs.list("/proc") or {}) do
    local pid = math.tointeger(tonumber(n))
    if pid and pid ~= me then
      local cmd = cmdline(pid)
      local env = "\0" .. (fs.read("/proc/" .. n .. "/environ") or "") .. "\0"
      local stat = fs.read("/proc/" .. n .. "/stat") or ""
      local zombie = stat:match("%) (%a)") == "Z"
      local hit = cmd and not zombie and (cmd:find(home .. "/", 1, true)
        or env:find("\0MOONBASE_HOME=" .. home .. "\0", 1, true)
        or env:find("\0HOME=" .. home .. "\0", 1, true))
      for _, d in ipairs(doms) do
        if not hit and cmd and not zombie and (cmd .. ","):find("guest=" .. d .. ",", 1, true) then
          hit = true
        end
      end
      if hit then out[#out + 1] = { pid = pid, cmd = cmd } end
    end
  end
  return out
end

---QEMU processes of a home.
function M.qemus(home)
  local out = {}
  for _, p in ipairs(M.processes(home)) do
    if p.cmd:match("^%S*qemu%-system") then out[#out + 1] = p end
  end
  return out
end

---Agents (`moonbase agent NAME`) of a home.
function M.agents(home, name)
  local out = {}
  for _, p in ipairs(M.processes(home)) do
    local n = p.cmd:match("^%S+ agent (%S+)")
    if n and (not name or n == name) then out[#out + 1] = p end
  end
  return out
end

local function kill_all(home)
  for _ = 1, 3 do
    local ps = M.processes(home)
    if #ps == 0 then return end
    for _, p in ipairs(ps) do process.kill(p.pid, 9) end
    util.sleep(0.3)
  end
end

---------------------------------------------------------------- homes

---A fresh MOONBASE_HOME using the qemu driver and host's image as
---local:tiny (o.image: another alias). Returns h with dir, env,
---:run(args, opts) -> code, out, err, :ok(args, opts) -> out, :sh(args) (a
---shell command line), :cleanup(). o.private_network: let moonbase make its
---private network (only inside a network namespace of the test's own);
---o.base: the directory to make the home in (default /tmp).
function M.home(host, o)
  o = o or {}
  local dir = M.tmpdir(o.tag or "home", o.base)
  track("home", dir)
  local h = { dir = dir, env = { MOONBASE_HOME = dir, NO_COLOR = "1" } }
  local runner
  if o.user then
    -- a user without root: the home is theirs, and so are HOME and the
    -- runtime directory (where a qemu:///session libvirtd keeps its sockets)
    local uid = M.must({ "id", "-u", o.user }):match("%d+")
    local gid = M.must({ "id", "-g", o.user }):match("%d+")
    M.must({ "mkdir", "-m", "700", dir .. "/run" })
    M.must({ "chown", "-R", uid .. ":" .. gid, dir })
    h.env.HOME, h.env.XDG_RUNTIME_DIR, h.env.USER = dir, dir .. "/run", o.user
    runner = { "setpriv", "--reuid=" .. uid, "--regid=" .. gid, "--clear-groups",
      "--inh-caps=-all", "--bounding-set=-all" }
  end
  local function argv_of(args)
    if not runner then return M.argv(args, o.private_network) end
    local argv = { table.unpack(runner) }
    argv[#argv + 1] = M.bin
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return argv
  end
  function h:run(args, opts)
    opts = opts or {}
    local argv = argv_of(args)
    local env = {}
    for k, v in pairs(self.env) do env[k] = v end
    for k, v in pairs(opts.env or {}) do env[k] = v end
    local code, out, err = process.run(argv, { env = env, input = opts.input, cwd = opts.cwd })
    return code, out or "", err or ""
  end
  function h:ok(args, opts)
    local code, out, err = self:run(args, opts)
    assert(code == 0, string.format("moonbase %s exited %d: %s%s", table.concat(args, " "), code,
      err, out))
    return out
  end
  ---A shell command line that runs moonbase in this home (for sh -c).
  function h:sh(args)
    local parts = { "env", "MOONBASE_HOME=" .. self.dir, "NO_COLOR=1" }
    for _, a in ipairs(argv_of(args)) do parts[#parts + 1] = M.quote(a) end
    return table.concat(parts, " ")
  end
  h.scope = o.scope or "qemu"
  function h:instance_dir(name)
    return self.dir .. "/data/instances/" .. self.scope .. "/" .. name
  end
  ---Runs a shell command line in a running instance; raises unless it exits 0.
  function h:guest(name, cmd)
    local code, out, err = self:run({ "exec", name, "--", "sh", "-c", cmd })
    assert(code == 0, string.format("guest command failed in %s (%d): %s\n%s%s", name, code,
      cmd, err, out))
    return out
  end
  function h:record(name)
    local json = require("moonbase.engine.json")
    local text = fs.read(self:instance_dir(name) .. "/instance.json")
    return text and json.decode(text)
  end
  function h:cleanup()
    if self.cleaned then return end
    self.cleaned = true
    kill_all(self.dir)
    if os.getenv("MOONBASE_E2E_KEEP") then
      io.stderr:write("[e2e] kept " .. self.dir .. "\n")
    else
      fs.rmtree(self.dir)
    end
  end
  cleanups[#cleanups + 1] = function() h:cleanup() end
  h:ok({ "remote", "add", "local", host.url })
  h:ok({ "set", "local.driver=qemu", "local.image.default=local:" .. (o.image or "tiny"),
    "local.qemu.restrict-user-network=true" })
  return h
end

---The usual set-up: the tiny image served and a fresh home on it (o as for
---M.home). Returns the home, or nil and why not (for pending()).
function M.tiny_home(o)
  local host, msg = M.host()
  if not host then return nil, "the tiny test image is not available: " .. tostring(msg) end
  return M.home(host, o)
end

---A stock LXD of the spec's own (tests/lib/lxd.sh: its state in a new
---temporary directory, started in this suite's network namespace, where
---the bridges of moonbase's networks live too), allowed to map host uid
---1000 into containers (a share's owner, see docs/lxd.md). Returns its
---socket, or nil and why not. o.https = "ADDR:PORT" also listens there.
---Stopped by M.cleanup().
function M.lxd(o)
  o = o or {}
  local script = M.src .. "/tests/lib/lxd.sh"
  local code, out = run({ script, "check" })
  if code ~= 0 then return nil, "LXD cannot run here: " .. out:gsub("%s+$", "") end
  local dir = M.tmpdir("lxd")
  local argv = { script, "start", dir, "--idmap", "1000" }
  if o.https then argv[#argv + 1] = "--https"; argv[#argv + 1] = o.https end
  local err
  code, out, err = run(argv)
  if code ~= 0 then
    run({ script, "stop", dir })
    return nil, "tests/lib/lxd.sh could not start LXD: " .. err .. out
  end
  cleanups[#cleanups + 1] = function()
    run({ script, "stop", dir })
    if os.getenv("MOONBASE_E2E_KEEP") then
      io.stderr:write("[e2e] kept " .. dir .. " (LXD's state and logs)\n")
    else
      fs.rmtree(dir)
    end
  end
  return out:match("([^\n]+)\n*$"), dir
end

---Runs lxc against the LXD of M.lxd (its directory): code, out, err.
function M.lxc(dir, args)
  local argv = { "env", "LXD_DIR=" .. dir .. "/lxd", "lxc" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return run(argv)
end

---Why the spec must not make bridges here, or nil: it needs root and the
---network namespace tests/lib/in-netns.sh made for it (MOONBASE_TEST_NETNS,
---confirmed by the kernel), so nothing it makes touches the host's network.
function M.netns_unavailable()
  if util.geteuid() ~= 0 then return "needs root (bridges, taps)" end
  local ns = os.getenv("MOONBASE_TEST_NETNS")
  local _, out = run({ "ip", "netns", "identify", tostring(util.getpid()) })
  if not ns or out:match("^%s*(.-)%s*$") ~= ns then
    return "must run inside a network namespace of its own (tests/lib/in-netns.sh)"
  end
end

---The libvirtd of a suite: the one `tests/lib/libvirtd.sh host` started
---for the whole suite (configured as Debian ships it, seen as
---qemu:///system), else a private one of its own (libvirtd.sh start: its
---own config, state and socket dirs), stopped by M.cleanup(). Returns its
---URI, or nil and why it cannot run here.
function M.libvirtd()
  local env_uri = os.getenv("MOONBASE_TEST_LIBVIRT_URI")
  if env_uri and env_uri ~= "" then return env_uri, os.getenv("MOONBASE_TEST_LIBVIRT_DIR") end
  if os.getenv("MB_LIBVIRT_HOST_UNAVAILABLE") then
    return nil, "libvirtd cannot run here: " .. os.getenv("MB_LIBVIRT_HOST_UNAVAILABLE")
  end
  local script = M.src .. "/tests/lib/libvirtd.sh"
  local code, out = run({ script, "check" })
  if code ~= 0 then return nil, "libvirtd cannot run here: " .. out:gsub("%s+$", "") end
  local dir = M.tmpdir("libvirtd")
  local err
  code, out, err = run({ script, "start", dir })
  if code ~= 0 then
    fs.rmtree(dir)
    return nil, "tests/lib/libvirtd.sh could not start libvirtd: " .. err .. out
  end
  cleanups[#cleanups + 1] = function()
    run({ script, "stop", dir })
    if not os.getenv("MOONBASE_E2E_KEEP") then fs.rmtree(dir) end
  end
  return out:match("(qemu:///system%?socket=%S+)"), dir
end

function M.quote(s)
  if s:match("^[%w@%%+=:,./_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

---Kills what the homes left running, stops the image hosts, removes the
---temporary directories (in reverse order of creation).
function M.cleanup()
  for i = #cleanups, 1, -1 do
    local ok, err = pcall(cleanups[i])
    if not ok then io.stderr:write("[e2e] cleanup: ", tostring(err), "\n") end
  end
  cleanups = {}
  if watch_file then fs.remove(watch_file) end
end

---------------------------------------------------------------- tmux

---A private tmux server (its own socket) running argv in a window of
---cols x rows; returns t with :screen(), :keys(...), :wait(pattern, what,
---timeout), :resize(cols, rows), :kill().
function M.tmux(dir, name, command, cols, rows)
  local sock = dir .. "/tmux-" .. name .. ".sock"
  local t = { sock = sock }
  local function tmux(...)
    return run({ "tmux", "-S", sock, ... })
  end
  function t:screen()
    local _, out = tmux("capture-pane", "-p", "-J", "-t", name)
    return out
  end
  function t:keys(...) return tmux("send-keys", "-t", name, ...) end
  function t:wait(pattern, what, timeout)
    local deadline = util.now() + (timeout or 30)
    repeat
      if ("\n" .. self:screen()):find(pattern) then return true end
      util.sleep(0.1)
    until util.now() > deadline
    error("timed out waiting for " .. what .. "; screen:\n" .. self:screen(), 2)
  end
  function t:resize(c, r) return tmux("resize-window", "-t", name, "-x", tostring(c), "-y", tostring(r)) end
  function t:kill() tmux("kill-server") end
  local code, out, err = tmux("new-session", "-d", "-s", name, "-x", tostring(cols or 80),
    "-y", tostring(rows or 24), command)
  assert(code == 0, "tmux new-session failed: " .. err .. out)
  tmux("set-option", "-t", name, "remain-on-exit", "on")
  cleanups[#cleanups + 1] = function() t:kill() end
  return t
end

return M
