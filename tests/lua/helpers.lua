-- Shared helpers for the CLI specs: run the real moonbase binary with
-- MOONBASE_HOME in a fresh temp dir.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")

local M = {}

M.bin = os.getenv("MOONBASE_BIN") or "build/moonbase"
M.src = os.getenv("MOONBASE_SRC") or "."

function M.tmpdir(tag)
  local _, out = process.run({ "mktemp", "-d", "/tmp/mb-" .. (tag or "spec") .. "-XXXXXX" })
  return (out:gsub("%s+$", ""))
end

---With MOONBASE_SPEC_SERVER=unix (ctest's lua/busted-daemon), every home
---gets its own `moonbase daemon` on a unix socket, and every command of the
---spec goes through it: the same specs, the same assertions. The client
---runs with a MOONBASE_HOME of its own that shares only config/ (user
---commands, aliases and client.* settings are the client's) and has empty
---data/ and cache/, so no instance operation can silently happen in the
---client instead of the daemon.
M.server_mode = os.getenv("MOONBASE_SPEC_SERVER")

---Waits until a daemon answers a ping on its unix socket: the socket file
---appears at bind(), a moment before the daemon listens on it (a connection
---then is refused). extra(): optional, true when more must be ready too.
function M.wait_daemon(sock, log, extra)
  local util = require("moonbase.engine.util")
  for _ = 1, 500 do
    if fs.exists(sock) and process.run({ "curl", "-sf", "-o", "/dev/null", "--max-time", "2",
        "--unix-socket", sock, "http://moonbase/v1/ping" }) == 0 and (not extra or extra()) then
      return
    end
    util.sleep(0.01)
  end
  error("the daemon did not start: " .. (fs.read(log) or ""))
end

function M.start_daemon(home, env)
  local sock = home .. "/daemon.sock"
  local denv = { MOONBASE_SERVER = false }
  for k, v in pairs(env) do denv[k] = v end
  local pid = assert(process.spawn({ M.bin, "daemon", "--quiet", "--listen", "unix:" .. sock },
    { env = denv, stdout = home .. "/daemon.log", stderr = home .. "/daemon.log" }))
  M.wait_daemon(sock, home .. "/daemon.log")
  return pid, "unix://" .. sock
end

function M.stop_daemon(pid)
  process.kill(pid, 15)
  process.wait(pid)
end

-- The specs' image host: a simplestreams tree of small images (tiny, other,
-- a, b: a few hundred KiB each), made once and served on 127.0.0.1 by
-- tests/lib/imagehost.sh, so that a launch on the test driver resolves,
-- downloads, verifies and caches its image as it does on every driver,
-- offline. Every home knows it as the remote "local"; local:tiny is its
-- default image.
M.IMAGES = { "tiny", "other", "a", "b" }
-- The server is shared by every run on the machine and lives for
-- imagehost.sh's lifetime (30 min): a run longer than that, or one that
-- found it near its end, would lose it. So it is looked at again once a
-- minute and, if it is gone, started again on the same port (homes made
-- earlier keep a working URL).
local remote_url, checked = nil, 0
function M.remote()
  if remote_url and os.time() - checked < 60 then return remote_url end
  local root = "/tmp/moonbase-spec-images"
  if not fs.exists(root .. "/streams/v1/index.json") then
    local work = M.tmpdir("streams")
    local args = {}
    for i, name in ipairs(M.IMAGES) do
      local d = work .. "/" .. name
      assert(fs.mkdirs(d))
      assert(fs.write(d .. "/metadata.json", string.format('{\n  "os": "testos",\n  ' ..
        '"release": "%s",\n  "release_title": "Test %s",\n  "aliases": "%s",\n  ' ..
        '"arch": "amd64"\n}\n', name, name, name)))
      local code, _, err = process.run({ "qemu-img", "create", "-q", "-f", "qcow2",
        d .. "/disk.qcow2", (16 + i) .. "M" }) -- sizes differ: digests differ
      assert(code == 0, "qemu-img create: " .. tostring(err))
      args[#args + 1] = d .. "=2024010" .. i
    end
    local argv = { M.src .. "/tests/images/make-streams.sh", work .. "/out" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local code, _, err = process.run(argv)
    assert(code == 0, "make-streams.sh: " .. tostring(err))
    if not fs.exists(root .. "/streams/v1/index.json") then -- another run may have made it
      fs.rmtree(root)
      assert(fs.rename(work .. "/out", root))
    end
    fs.rmtree(work)
  end
  local port = remote_url and remote_url:match(":(%d+)/$")
  local code, out, err = process.run({ M.src .. "/tests/lib/imagehost.sh", "start", root,
    port })
  assert(code == 0, "imagehost.sh: " .. tostring(err))
  remote_url, checked = out:gsub("%s+$", "") .. "/", os.time()
  return remote_url
end

---A fresh MOONBASE_HOME; returns an object with :run(...) and :cleanup().
function M.home(o)
  o = o or {}
  local home = M.tmpdir("home")
  local h = { dir = home, env = { MOONBASE_HOME = home, NO_COLOR = "1" } }
  for k, v in pairs(o.env or {}) do h.env[k] = v end
  if M.server_mode then
    h.client_home = M.tmpdir("client")
    fs.mkdirs(home .. "/config")
    fs.symlink(home .. "/config", h.client_home .. "/config")
    -- (and its log of bugs: where a user would find the client's)
    fs.mkdirs(home .. "/data/logs")
    fs.mkdirs(h.client_home .. "/data")
    fs.symlink(home .. "/data/logs", h.client_home .. "/data/logs")
  end
  ---Runs moonbase with args; returns code, stdout, stderr.
  function h:run(args, opts)
    opts = opts or {}
    local argv = { M.bin }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local env = {}
    for k, v in pairs(self.env) do env[k] = v end
    for k, v in pairs(opts.env or {}) do env[k] = v end
    if M.server_mode and env.MOONBASE_SERVER == nil then
      -- the daemon runs with the home's environment as it is now (specs add
      -- to h.env after home(), e.g. MOONBASE_NET_FAKE): restarted when it changes
      local key = {}
      for k, v in pairs(self.env) do key[#key + 1] = k .. "=" .. tostring(v) end
      table.sort(key)
      key = table.concat(key, "\n")
      if self.daemon_env ~= key then
        if self.daemon_pid then M.stop_daemon(self.daemon_pid) end
        self.daemon_pid, self.server = M.start_daemon(home, self.env)
        self.daemon_env = key
      end
      -- the driver runs in the daemon: a command with its own environment
      -- (MOONBASE_TEST_FAIL, ...) gets a daemon of its own with it
      local pid
      env.MOONBASE_SERVER = self.server
      if next(opts.env or {}) and env.MOONBASE_HOME == home then
        local dir = M.tmpdir("daemon")
        local denv = {}
        for k, v in pairs(env) do denv[k] = v end
        denv.MOONBASE_SERVER = nil
        pid, env.MOONBASE_SERVER = M.start_daemon(dir, denv)
        local code, out, err = self:run_client(argv, env, opts)
        M.stop_daemon(pid)
        fs.rmtree(dir)
        return code, out, err
      end
      return self:run_client(argv, env, opts)
    end
    return process.run(argv, { env = env, input = opts.input, cwd = opts.cwd })
  end
  function h:run_client(argv, env, opts)
    if env.MOONBASE_HOME == home then env.MOONBASE_HOME = self.client_home end
    local code, out, err = process.run(argv, { env = env, input = opts.input, cwd = opts.cwd })
    -- the client's own files (its error log) are named under its home: for a user,
    -- the same home as the daemon's; here a second one, so say the first
    local pat = self.client_home:gsub("%p", "%%%0")
    return code, out and (out:gsub(pat, home)), err and (err:gsub(pat, home))
  end
  ---Runs and asserts success; returns stdout.
  function h:ok(args, opts)
    local code, out, err = self:run(args, opts)
    assert(code == 0, string.format("moonbase %s exited %d: %s%s", table.concat(args, " "), code,
      err, out))
    return out
  end
  function h:cleanup()
    if self.daemon_pid then
      M.stop_daemon(self.daemon_pid)
      self.daemon_pid = nil
    end
    if self.client_home then fs.rmtree(self.client_home) end
    fs.rmtree(home)
  end
  ---Makes the specs' image host the remote "local" and local:tiny the
  ---default image (cached, so launches print no progress).
  function h:use_images()
    assert(fs.mkdirs(home .. "/config"))
    assert(fs.write(home .. "/config/remotes.json",
      string.format('{"local": {"url": "%s"}}', M.remote())))
    self:ok({ "set", "local.image.default=local:tiny" })
    self:ok({ "images", "pull", "--quiet", "local:tiny" })
  end
  if o.driver ~= false then
    h:ok({ "set", "local.driver=" .. (o.driver or "test") })
    h:use_images()
  end
  return h
end

---A directory only we can write to (drivers in a group- or world-writable
---one are refused), with files: name -> a source path to copy, or the text.
---@param files table<string, string>
---@return string
function M.driver_dir(files)
  local d = M.tmpdir("drivers")
  assert(process.run({ "chmod", "755", d }) == 0)
  for name, src in pairs(files) do
    if src:find("\n") then assert(fs.write(d .. "/" .. name, src))
    else assert(process.run({ "cp", src, d .. "/" .. name }) == 0) end
    assert(process.run({ "chmod", "755", d .. "/" .. name }) == 0)
  end
  return d
end

---Lists the entries of a directory tree (relative paths), sorted.
function M.tree(dir)
  local out = {}
  local function walk(d, rel)
    for _, n in ipairs(fs.list(d) or {}) do
      local p, r = d .. "/" .. n, rel and (rel .. "/" .. n) or n
      out[#out + 1] = r
      if fs.exists(p) == "directory" then walk(p, r) end
    end
  end
  walk(dir)
  table.sort(out)
  return out
end

---Snapshot of a tree: paths and file contents, for "nothing changed" checks.
function M.snapshot(dir)
  local snap = {}
  for _, r in ipairs(M.tree(dir)) do
    local p = dir .. "/" .. r
    local st = fs.stat(p, true)
    if st.type ~= "file" then
      snap[r] = "<" .. st.type .. ">"
    elseif st.size > 1024 * 1024 then -- sparse disks: size and mtime stand for content
      snap[r] = string.format("<%d bytes, mtime %.6f>", st.size, st.mtime)
    else
      snap[r] = fs.read(p) or ""
    end
  end
  return snap
end

---What a command killed halfway may leave in a home: temporary files of
---atomic writes (.NAME.tmp.PID.N), staging (.new-*) and trash (.trash-*)
---folders. Relative paths, sorted.
function M.leftovers(dir)
  local out = {}
  for _, rel in ipairs(M.tree(dir)) do
    local base = rel:match("([^/]+)$")
    if base:match("^%..+%.tmp%.%d+%.%d+$") or base:match("^%.new%-") or
        base:match("^%.trash%-") then
      out[#out + 1] = rel
    end
  end
  return out
end

---Every JSON state file under dir that does not parse, or (instance.json)
---does not have a record's shape: { "path: why", ... }.
function M.unparsable(dir)
  local store = require("moonbase._core.store")
  local instances = require("moonbase._core.instances")
  local problems = {}
  for _, rel in ipairs(M.tree(dir)) do
    local base = rel:match("([^/]+)$")
    if base:match("%.json$") and not base:match("^%.") then
      local v = store.read(dir .. "/" .. rel)
      local why = type(v) ~= "table" and "does not parse" or
        (base == "instance.json" and store.check(v, instances.RECORD))
      if why then problems[#problems + 1] = rel .. ": " .. why end
    end
  end
  return problems
end

---Runs h:run(args) and asserts a refusal: exit status `code`, nothing on
---stdout, one line on stderr containing `pattern` (plain text), no traceback.
function M.fails(h, args, code, pattern, opts)
  local c, out, err = h:run(args, opts)
  assert(c == code, string.format("moonbase %s exited %d, not %d: %s", table.concat(args, " "),
    c, code, err))
  assert(out == "", "nothing on stdout: " .. out)
  local n = select(2, err:gsub("\n", "")) + ((err ~= "" and err:sub(-1) ~= "\n") and 1 or 0)
  assert(n == 1, "one line: " .. err)
  assert(err:find(pattern, 1, true), "no \"" .. pattern .. "\" in: " .. err)
  assert(not err:find("traceback", 1, true), err)
  return err
end

function M.lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

return M
