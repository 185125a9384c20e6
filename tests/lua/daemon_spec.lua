-- The daemon as the parties it serves see it (test driver, 127.0.0.1 and unix
-- sockets only): who is let in on the unix socket and over TLS, revocation,
-- throttling, tokens, and requests that are wrong on purpose (traversal,
-- oversized and malformed bodies, slow clients) answered with 4xx or a
-- bounded timeout while the daemon keeps serving others.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local function sh(cmd, opts)
  return process.run({ "sh", "-c", cmd }, opts)
end

-- A home with the test driver and a daemon on a socket in a directory
-- everyone may traverse (so other users reach it), optionally on TLS too.
local function daemon(o)
  o = o or {}
  local h = o.home or helpers.home()
  if h.sockdir then fs.rmtree(h.sockdir) end
  local dir = helpers.tmpdir("sock")
  assert(sh("chmod 755 " .. dir) == 0)
  local sock = dir .. "/moonbase.sock"
  local argv = { helpers.bin, "daemon", "--listen", "unix:" .. sock }
  for _, a in ipairs(o.args or {}) do argv[#argv + 1] = a end
  if o.shell then -- through sh, to set its limits first
    local q = {}
    for i, a in ipairs(argv) do q[i] = "'" .. a .. "'" end
    argv = { "sh", "-c", o.shell .. "; exec " .. table.concat(q, " ") }
  end
  if o.port then argv[#argv + 1] = "--listen"; argv[#argv + 1] = "https://127.0.0.1:" .. o.port end
  local env = { MOONBASE_SERVER = false }
  for k, v in pairs(h.env) do env[k] = v end
  for k, v in pairs(o.env or {}) do env[k] = v end
  local log = h.dir .. "/daemon.out"
  h.pid = assert(process.spawn(argv, { env = env, stdout = log, stderr = log }))
  helpers.wait_daemon(sock, log, o.port and function()
    return (fs.read(log) or ""):find("https://") ~= nil
  end)
  h.sock, h.sockdir, h.log = sock, dir, log
  h.url = "unix://" .. sock
  function h:client(args, opts)
    opts = opts or {}
    local env2 = { MOONBASE_SERVER = opts.server or self.url, MOONBASE_HOME = opts.home or
      (self.dir .. "/client") }
    for k, v in pairs(opts.env or {}) do env2[k] = v end
    local argv2 = { helpers.bin }
    for _, a in ipairs(args) do argv2[#argv2 + 1] = a end
    return process.run(argv2, { env = env2, input = opts.input })
  end
  function h:stop()
    if self.pid then
      process.kill(self.pid, 15)
      process.wait(self.pid)
      self.pid = nil
    end
    if self.sockdir then fs.rmtree(self.sockdir) end
    self:cleanup()
  end
  return h
end

local function free_port()
  return util.free_tcp_port()
end

-- curl against the unix socket: returns HTTP status and body
local function curl(h, args)
  local argv = { "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", h.sock }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local _, out = process.run(argv)
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

describe("daemon: the unix socket", function()
  local h
  before_each(function()
    h = daemon()
    h:ok({ "set", "local.driver=test" })
  end)
  after_each(function() h:stop() end)

  it("serves root, and the daemon's own user", function()
    local code, out, err = h:client({ "list" })
    assert.equal(0, code, err)
    assert.equal("No instances found.\n", out)
  end)

  it("lists as the daemon's host does, whatever the client's own local.driver", function()
    h:ok({ "launch", "--name", "web" })
    -- the client's home says local.driver=qemu (the default); the daemon's says test
    local code, out, err = h:client({ "list" })
    assert.equal(0, code, err)
    assert.equal(h:ok({ "list" }), out)
    assert.falsy(out:find("Driver", 1, true), out)
  end)

  it("answers list itself and sees what other processes changed since", function()
    -- (list is answered in the daemon's own process: nothing it kept may go stale)
    local function list()
      local code, out, err = h:client({ "list", "--format", "csv" })
      assert.equal(0, code, err)
      assert.equal(h:ok({ "list", "--format", "csv" }), out) -- as the host's own CLI says
      return out
    end
    assert.is_nil(list():find("\n.", 1))
    h:ok({ "launch", "--name", "web" }) -- a local CLI, not the daemon
    assert.truthy(list():find("\nweb,running,", 1, true))
    h:ok({ "stop", "web" })
    assert.truthy(list():find("\nweb,stopped,", 1, true))
    h:ok({ "set", "local.driver=qemu" }) -- another scope: the test driver's instances hidden
    assert.is_nil(list():find("web", 1, true))
    h:ok({ "set", "local.driver=test" })
    assert.truthy(list():find("\nweb,stopped,", 1, true))
  end)

  it("refuses a user outside the group moonbase, and lets a member in", function()
    if util.geteuid() ~= 0 then return pending("needs root to run clients as other users") end
    assert(sh("getent group moonbase >/dev/null || groupadd --system moonbase") == 0)
    for _, u in ipairs({ "mb-outsider", "mb-member" }) do
      sh("id " .. u .. " >/dev/null 2>&1 || useradd --system --no-create-home " ..
        "--shell /usr/sbin/nologin " .. u)
    end
    assert(sh("usermod -aG moonbase mb-member") == 0)
    local chome = helpers.tmpdir("chome")
    assert(sh("chmod 777 " .. chome) == 0)
    local function as(user)
      return process.run({ "setpriv", "--reuid=" .. user, "--regid=" .. user, "--init-groups",
        "env", "MOONBASE_SERVER=" .. h.url, "MOONBASE_HOME=" .. chome, helpers.bin, "list" })
    end
    local code, out, err = as("mb-outsider")
    assert.equal(2, code, out)
    -- the socket is root:moonbase 0660: the kernel refuses before the daemon sees a request
    assert.truthy(err:find("cannot reach the moonbase daemon", 1, true) or
      err:find('not in the group "moonbase"', 1, true), err)
    code, out, err = as("mb-member")
    assert.equal(0, code, err)
    assert.equal("No instances found.\n", out)
    -- and with the socket's mode opened up, the daemon itself still says no
    assert(sh("chmod 666 " .. h.sock) == 0)
    code, _, err = as("mb-outsider")
    assert.equal(2, code)
    assert.equal('list: permission denied: user "mb-outsider" is not in the group "moonbase" ' ..
      "(try: sudo usermod -aG moonbase mb-outsider, then log in again)\n", err)
    fs.rmtree(chome)
  end)

  it("lets clients mount host folders only while local.privileged-mounts is true", function()
    local src = h.dir .. "/share"
    assert(fs.mkdirs(src))
    h:ok({ "launch", "--name", "m" })
    h:ok({ "set", "local.privileged-mounts=false" })
    local want = "local.privileged-mounts is false, so clients may not mount host folders"
    local code, _, err = h:client({ "mount", src, "m" })
    assert.equal(2, code)
    assert.truthy(err:find(want, 1, true), err)
    code, _, err = h:client({ "launch", "--name", "n", "--mount", src })
    assert.equal(2, code)
    assert.truthy(err:find(want, 1, true), err)
    assert.falsy(h:ok({ "list" }):find("\nn ", 1, true))
    h:ok({ "set", "local.privileged-mounts=true" })
    code, _, err = h:client({ "mount", src, "m" })
    assert.equal(0, code, err)
  end)

  it("passes stdin larger than a pipe holds, to its end", function()
    h:ok({ "launch", "--name", "big" })
    local code, out, err = h:client({ "exec", "big", "--", "wc", "-c" },
      { input = string.rep("y", 300000) })
    assert.equal(0, code, err)
    assert.equal("300000", out:match("%d+"))
  end)

  it("answers path traversal, unknown routes and methods with 4xx", function()
    local code = curl(h, { "http://x/v1/instances/../../../etc/passwd" })
    assert.truthy(code == 404 or code == 400, tostring(code))
    code = curl(h, { "http://x/v1/instances/%2e%2e%2f%2e%2e%2fetc%2fpasswd" })
    assert.truthy(code == 404 or code == 400, tostring(code))
    code = curl(h, { "http://x/etc/passwd" })
    assert.equal(404, code)
    local body
    code, body = curl(h, { "-X", "DELETE", "http://x/v1/instances" })
    assert.equal(405, code)
    assert.truthy(body:find("DELETE is not allowed", 1, true), body)
  end)

  it("refuses malformed JSON and oversized bodies, and keeps serving", function()
    local code, body = curl(h, { "-X", "POST", "-H", "Content-Type: application/json",
      "--data", "{not json", "http://x/v1/instances" })
    assert.equal(400, code)
    assert.truthy(json.decode(body).error.message:find("malformed JSON", 1, true), body)
    local big = h.dir .. "/big.json"
    assert(fs.write(big, '{"options":"' .. string.rep("x", 2 * 1024 * 1024) .. '"}'))
    code, body = curl(h, { "-X", "POST", "-H", "Content-Type: application/json",
      "--data-binary", "@" .. big, "http://x/v1/instances" })
    assert.equal(413, code)
    assert.truthy(body:find("too large", 1, true), body)
    local rc, out, err = h:client({ "list" })
    assert.equal(0, rc, err)
    assert.equal("No instances found.\n", out)
  end)

  it("answers POSTs without a body and keeps serving", function()
    -- (libwebsockets reports the end of an empty body too: it was dispatched twice)
    for _ = 1, 3 do
      local code, body = curl(h, { "-X", "POST", "--data", "", "http://x/v1/instances/no/restart" })
      assert.equal(404, code, body)
    end
    local rc, out, err = h:client({ "list" })
    assert.equal(0, rc, err)
    assert.equal("No instances found.\n", out)
  end)

  it("queues calls beyond --max-workers and keeps its listener under 100 at once", function()
    h:stop()
    -- a soft limit of 64 descriptors: 100 connections at once would run out
    h = daemon({ args = { "--max-workers", "2" }, shell = "ulimit -Sn 64" })
    h:ok({ "set", "local.driver=test" })
    local limits = fs.read("/proc/" .. h.pid .. "/limits")
    local soft, hard = limits:match("Max open files%s+(%S+)%s+(%S+)")
    assert.is_not.equal("64", soft, limits) -- raised (to the hard limit, at most 65536)
    assert.truthy(soft == hard or soft == "65536", limits)
    local fds = #fs.list("/proc/" .. h.pid .. "/fd")
    -- 100 calls at once; the workers (children of the daemon) are counted meanwhile
    local out = h.dir .. "/codes"
    local code, _, err = sh(string.format([[
      seq 100 | xargs -P 100 -I{} curl -s -o /dev/null -w '%%{http_code}
' --max-time 60         --unix-socket %s http://x/v1/settings/local.driver > %s &
      burst=$!; most=0
      while kill -0 $burst 2>/dev/null; do
        n=$(pgrep -c -P %d); [ "$n" -gt "$most" ] && most=$n; sleep 0.05
      done
      echo "$most" > %s.most]], h.sock, out, h.pid, out))
    assert.equal(0, code, err)
    local codes = helpers.lines(fs.read(out))
    assert.equal(100, #codes)
    for _, c in ipairs(codes) do assert.equal("200", c) end
    assert.truthy(tonumber(fs.read(out .. ".most")) <= 2, fs.read(out .. ".most"))
    -- still listening, and nothing kept open
    local rc, o2, e2 = h:client({ "get", "local.driver" })
    assert.equal(0, rc, e2)
    assert.equal("test\n", o2)
    assert.truthy(#fs.list("/proc/" .. h.pid .. "/fd") <= fds + 2)
  end)

  it("reports a running instance's CPU and memory use (the dashboard's plot)", function()
    h:ok({ "launch", "local:tiny", "--name", "u1", "--memory", "512M" })
    local code, body = curl(h, { "http://x/v1/instances/u1/usage" })
    assert.equal(200, code, body)
    local u = json.decode(body).result[1]
    assert.truthy(u.cpu_ns >= 0 and u.cpu_ns == math.floor(u.cpu_ns), body)
    assert.truthy(u.memory_bytes > 0 and u.memory_bytes <= 512 * 1024 * 1024 + 16 * 2 ^ 20, body)
    h:ok({ "stop", "u1" })
    code, body = curl(h, { "http://x/v1/instances/u1/usage" })
    assert.equal(409, code, body)
    assert.equal('usage: instance "u1" is stopped (try: moonbase start u1)',
      json.decode(body).error.message)
  end)

  it("times a slow client out without blocking the others", function()
    local t0 = util.now()
    -- half a request, then silence
    local pid = assert(process.spawn({ "sh", "-c", "{ printf 'GET /v1/instances HTTP/1.1\\r\\n" ..
      "Host: x\\r\\n'; sleep 60; } | nc -U " .. h.sock .. " > " .. h.dir .. "/slow.out" }))
    util.sleep(0.3)
    local code, out, err = h:client({ "list" })
    assert.equal(0, code, err)
    assert.equal("No instances found.\n", out)
    assert.truthy(util.now() - t0 < 5, "list waited for the slow client")
    -- the daemon hangs up on it within its timeout (10 s), long before the client's 60
    local gone
    for _ = 1, 300 do
      local st = fs.read("/proc/" .. pid .. "/stat")
      if not st or st:match("^%d+ %b() Z") then gone = true break end
      local children = sh("pgrep -P " .. pid .. " nc >/dev/null")
      if children ~= 0 then gone = true break end
      util.sleep(0.1)
    end
    process.kill(pid, 9)
    process.wait(pid)
    assert.truthy(gone, "the slow connection was still open after 30 s")
  end)

  it("after a kill -9 mid-launch: an honest state, and the next daemon serves it", function()
    -- a daemon whose driver takes 2 s to start an instance
    h:stop()
    h = daemon({ env = { MOONBASE_TEST_DELAY_MS = "2000" } })
    local pid = assert(process.spawn({ helpers.bin, "launch", "--name", "slow" },
      { env = { MOONBASE_SERVER = h.url, MOONBASE_HOME = h.dir .. "/client" } }))
    util.sleep(1)
    process.kill(h.pid, 9)
    process.wait(h.pid)
    local code = process.wait(pid)
    assert.equal(2, code) -- the client says the daemon went away
    util.sleep(2.5) -- the worker finishes or stops on its own
    h.pid = nil
    fs.remove(h.sock)
    local h2 = daemon({ home = h })
    local rc, out, err = h2:client({ "list", "--format", "json" })
    assert.equal(0, rc, err)
    local rows = json.decode(out)
    -- either it was assembled (and is running or stopped) or nothing is there
    for _, r in ipairs(rows) do
      assert.equal("slow", r.name)
      assert.truthy(r.state == "running" or r.state == "stopped", r.state)
    end
    if #rows == 1 then
      rc, _, err = h2:client({ "delete", "--purge", "slow" })
      assert.equal(0, rc, err)
    end
    rc, out, err = h2:client({ "launch", "--name", "slow" })
    assert.equal(0, rc, err)
    assert.equal("Launched: slow\n", out)
  end)

  it("keeps serving after a client hangs up in the middle of a call", function()
    local pid = assert(process.spawn({ helpers.bin, "exec", "x", "--", "true" },
      { env = { MOONBASE_SERVER = h.url, MOONBASE_HOME = h.dir .. "/client" } }))
    process.kill(pid, 9)
    process.wait(pid)
    h:ok({ "launch", "--name", "a" })
    local code, out = h:client({ "list", "--format", "json" })
    assert.equal(0, code)
    assert.equal("a", json.decode(out)[1].name)
  end)
end)

describe("moonbase watch", function()
  local h
  before_each(function()
    h = daemon()
    h:ok({ "set", "local.driver=test" })
  end)
  after_each(function() h:stop() end)

  local function watch(server)
    local out = h.dir .. "/watch-" .. (server and "daemon" or "local") .. ".out"
    local env = { MOONBASE_HOME = server and (h.dir .. "/client") or h.dir,
      MOONBASE_SERVER = server or false }
    local pid = assert(process.spawn({ helpers.bin, "watch", "--format", "json", "--count", "5",
      "--timeout", "60" }, { env = env, stdout = out }))
    return pid, out
  end

  it("streams lifecycle events as JSON lines, from the daemon and from the state directory",
    function()
      local p1, o1 = watch(h.url)
      local p2, o2 = watch(nil)
      util.sleep(1)
      h:ok({ "launch", "--name", "a" })
      util.sleep(0.4)
      h:ok({ "stop", "a" })
      util.sleep(0.4)
      h:ok({ "delete", "a" })
      util.sleep(0.4)
      h:ok({ "purge" })
      for _, p in ipairs({ p1, p2 }) do assert.equal(0, process.wait(p)) end
      for _, o in ipairs({ o1, o2 }) do
        local seen = {}
        for l in fs.read(o):gmatch("[^\n]+") do
          local e = json.decode(l)
          assert.equal("a", e.instance)
          assert.truthy(e.time:match("^%d+%-%d+%-%d+T"))
          seen[#seen + 1] = e.event
        end
        assert.same({ "launching", "running", "stopped", "deleted", "purged" }, seen)
      end
    end)
end)

describe("daemon: TLS clients", function()
  local h, port
  before_each(function()
    port = free_port()
    h = daemon({ port = port })
    h:ok({ "set", "local.driver=test" })
  end)
  after_each(function() h:stop() end)

  local function server() return "https://127.0.0.1:" .. port end
  -- the daemon's CA fingerprint, as it printed it when it started
  local function ca_fp()
    for _ = 1, 500 do
      local fp = (fs.read(h.log) or ""):match("CA fingerprint (%x+)")
      if fp then return fp end
      util.sleep(0.01)
    end
    error("the daemon printed no CA fingerprint: " .. (fs.read(h.log) or ""))
  end

  it("shows the daemon's CA before sending a passphrase, and pins it only when checked",
    function()
      h:ok({ "set", "local.passphrase=pw" })
      local fp = ca_fp()
      local pins = h.dir .. "/client/config/client/servers"
      -- no terminal to ask on and no --fingerprint: refused before the (wrong) passphrase goes
      local code, _, err = h:client({ "authenticate", "not-the-passphrase" }, { server = server() })
      assert.equal(2, code)
      assert.equal("authenticate: the daemon at " .. server() .. " has CA fingerprint " .. fp ..
        " and this client does not know it yet; check it on the daemon's host (moonbase " ..
        "daemon prints it when it starts) and run again with --fingerprint " .. fp ..
        "; nothing was sent or saved\n", err)
      assert.same({}, fs.list(pins) or {})
      -- a fingerprint that is not the daemon's: refused, nothing pinned
      local other = ("0"):rep(64)
      code, _, err = h:client({ "authenticate", "pw", "--fingerprint", other },
        { server = server() })
      assert.equal(2, code)
      assert.truthy(err:find("has CA fingerprint " .. fp .. ", not " .. other, 1, true), err)
      assert.same({}, fs.list(pins) or {})
      -- the right one (as printed, any case, with colons): trusted and pinned
      local colons = fp:upper():gsub("(%x%x)", "%1:"):sub(1, -2)
      local out
      code, out, err = h:client({ "authenticate", "pw", "--fingerprint", colons },
        { server = server() })
      assert.equal(0, code, err)
      assert.truthy(out:find("Daemon CA fingerprint: " .. fp, 1, true), out)
      assert.equal(1, #fs.list(pins))
      -- a wrong passphrase after that leaves the pin as it was
      code, _, err = h:client({ "authenticate", "nope" }, { server = server() })
      assert.equal(2, code)
      assert.equal("authenticate: wrong passphrase\n", err)
      assert.equal(1, #fs.list(pins))
    end)

  it("refuses a client without a certificate, with the reason", function()
    local _, out = process.run({ "curl", "-sk", "-o", "-", "-w", "\n%{http_code}",
      server() .. "/v1/instances" })
    local body, code = out:match("^(.*)\n(%d+)$")
    assert.equal("401", code)
    assert.equal("this client presented no certificate (try: moonbase authenticate)",
      json.decode(body).error.message)
  end)

  it("refuses an untrusted certificate, trusts it after authenticate, refuses it revoked",
    function()
      local chome = h.dir .. "/client"
      -- before any authenticate the client does not even know the daemon's CA
      local code, _, err = h:client({ "list" }, { server = server() })
      assert.equal(2, code)
      assert.equal("list: this client does not know the daemon at " .. server() ..
        " yet (try: moonbase authenticate)\n", err)
      -- the passphrase is stored hashed
      h:ok({ "set", "local.passphrase=correct horse" })
      local settings = fs.read(h.dir .. "/config/settings.json")
      assert.falsy(settings:find("correct horse", 1, true))
      assert.truthy(settings:find("pbkdf2-sha256$", 1, true))
      code, _, err = h:client({ "authenticate", "wrong", "--fingerprint", ca_fp() }, { server = server() })
      assert.equal(2, code)
      assert.equal("authenticate: wrong passphrase\n", err)
      local out
      code, out, err = h:client({ "authenticate", "correct horse", "--fingerprint", ca_fp() }, { server = server() })
      assert.equal(0, code, err)
      assert.truthy(out:find("trusts this client", 1, true), out)
      code, out, err = h:client({ "launch", "--name", "web" }, { server = server() })
      assert.equal(0, code, err)
      assert.equal("Launched: web\n", out)
      code, out = h:client({ "list" }, { server = server() })
      assert.equal(0, code)
      assert.truthy(out:find("web", 1, true))
      -- an untrusted certificate: another client home with its own key
      code, _, err = h:client({ "list" }, { server = server(), home = h.dir .. "/other" })
      assert.equal(2, code)
      -- (it has no pinned CA either; give it this one's, so the daemon itself answers)
      fs.mkdirs(h.dir .. "/other/config/client/servers")
      local pinned = fs.list(chome .. "/config/client/servers")[1]
      assert(fs.write(h.dir .. "/other/config/client/servers/" .. pinned,
        fs.read(chome .. "/config/client/servers/" .. pinned)))
      code, _, err = h:client({ "list" }, { server = server(), home = h.dir .. "/other" })
      assert.equal(2, code)
      assert.equal("list: this client's certificate is not trusted by the daemon (try: " ..
        "moonbase authenticate)\n", err)
      -- trust list on the daemon's host shows the first client; remove revokes it
      local list = json.decode(h:ok({ "trust", "list", "--format", "json" }))
      assert.equal(1, #list)
      out = h:ok({ "trust", "remove", list[1].fingerprint:sub(1, 12) })
      assert.truthy(out:find("Revoked:", 1, true), out)
      code, _, err = h:client({ "list" }, { server = server() })
      assert.equal(2, code)
      assert.truthy(err:find("^list: this client's certificate was revoked %(revoked "), err)
    end)

  it("throttles wrong passphrases, even a right one after too many", function()
    h:ok({ "set", "local.passphrase=right" })
    for i = 1, 5 do
      local code, _, err = h:client({ "authenticate", "wrong" .. i, "--fingerprint", ca_fp() }, { server = server() })
      assert.equal(2, code)
      assert.equal("authenticate: wrong passphrase\n", err)
    end
    local code, _, err = h:client({ "authenticate", "right", "--fingerprint", ca_fp() }, { server = server() })
    assert.equal(2, code)
    assert.truthy(err:find("too many failed attempts from this client; try again in %d+ s"),
      err)
  end)

  it("logs a browser in with a one-time link: cookie, CSRF, same origin, revocation", function()
    h:ok({ "set", "local.passphrase=pw" })
    local code, _, err = h:client({ "authenticate", "pw", "--fingerprint", ca_fp() }, { server = server() })
    assert.equal(0, code, err)
    local chome = h.dir .. "/client/config/client"
    local ca = chome .. "/servers/" .. fs.list(chome .. "/servers")[1]
    local jar = h.dir .. "/cookies"
    local function browser(method, path, extra, with_cert)
      local argv = { "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--cacert", ca,
        "-b", jar, "-c", jar, "-X", method }
      if with_cert then
        for _, a in ipairs({ "--cert", chome .. "/client.crt", "--key",
          chome .. "/client.key" }) do
          argv[#argv + 1] = a
        end
      end
      for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
      argv[#argv + 1] = server() .. path
      local _, out = process.run(argv)
      local body, st = out:match("^(.*)\n(%d+)$")
      return tonumber(st), body
    end
    -- the trusted client asks for a link; the browser has no certificate
    local st, body = browser("POST", "/v1/sessions/link", {}, true)
    assert.equal(200, st, body)
    local path = json.decode(body).result[1].path
    assert.equal(401, (browser("GET", "/v1/instances")))
    st = browser("GET", path)
    assert.equal(303, st)
    assert.truthy(fs.read(jar):find("#HttpOnly_127.0.0.1", 1, true), fs.read(jar))
    assert.equal(403, (browser("GET", path))) -- the link worked once
    st, body = browser("GET", "/v1/instances")
    assert.equal(200, st, body)
    -- state changes need the session's CSRF token, and a same-origin request
    local csrf = json.decode(select(2, browser("GET", "/v1/session"))).result[1].csrf
    st, body = browser("POST", "/v1/instances", { "--data", '{"options":{"name":"b"}}' })
    assert.equal(403, st)
    assert.truthy(body:find("X-Moonbase-Csrf", 1, true), body)
    st = browser("POST", "/v1/instances", { "--data", '{"options":{"name":"b"}}', "-H",
      "X-Moonbase-Csrf: " .. csrf, "-H", "Origin: https://evil.example" })
    assert.equal(403, st)
    st, body = browser("POST", "/v1/instances", { "--data", '{"options":{"name":"b"}}', "-H",
      "X-Moonbase-Csrf: " .. csrf })
    assert.equal(200, st, body)
    assert.truthy(h:ok({ "list" }):find("b ", 1, true))
    -- revoking the client ends its browser sessions
    local fp = json.decode(h:ok({ "trust", "list", "--format", "json" }))[1].fingerprint
    h:ok({ "trust", "remove", fp })
    st, body = browser("GET", "/v1/instances")
    assert.equal(403, st, body)
  end)

  it("trusts a client with a one-time token, once", function()
    local token = h:ok({ "trust", "token" }):gsub("%s+$", "")
    assert.truthy(token:match("^mbt1_%x+_%x+$"), token)
    local code, out, err = h:client({ "authenticate", token }, { server = server() })
    assert.equal(0, code, err)
    assert.truthy(out:find("Daemon CA fingerprint: " .. token:match("_(%x+)$"), 1, true), out)
    code, _, err = h:client({ "list" }, { server = server() })
    assert.equal(0, code, err)
    code, _, err = h:client({ "authenticate", token }, { server = server(),
      home = h.dir .. "/other" })
    assert.equal(2, code)
    assert.equal("authenticate: the trust token is not valid (used already, or never issued)\n",
      err)
  end)
end)

describe("daemon: the web dashboard's listener", function()
  local h, port
  before_each(function()
    port = util.free_tcp_port()
    h = helpers.home()
    h:ok({ "set", "local.driver=test" })
    local log = h.dir .. "/daemon.out"
    local env = { MOONBASE_SERVER = false }
    for k, v in pairs(h.env) do env[k] = v end
    h.sock = h.dir .. "/d.sock"
    h.pid = assert(process.spawn({ helpers.bin, "daemon", "--listen", "unix:" .. h.sock,
      "--listen", "http://127.0.0.1:" .. port }, { env = env, stdout = log, stderr = log }))
    for _ = 1, 500 do
      if (fs.read(log) or ""):find("http://127.0.0.1", 1, true) then break end
      util.sleep(0.01)
    end
  end)
  after_each(function()
    process.kill(h.pid, 15)
    process.wait(h.pid)
    h:cleanup()
  end)

  local function get(path, headers)
    local argv = { "curl", "-s", "-D", "-", "-o", "/dev/null", "-w", "%{size_download}" }
    for _, x in ipairs(headers or {}) do argv[#argv + 1] = "-H"; argv[#argv + 1] = x end
    argv[#argv + 1] = "http://127.0.0.1:" .. port .. path
    local _, out = process.run(argv)
    return tonumber(out:match("^HTTP/1.1 (%d+)")), out:lower()
  end

  it("takes loopback addresses only", function()
    local code, _, err = h:run({ "daemon", "--listen", "http://192.0.2.1:8470" })
    assert.equal(1, code)
    assert.truthy(err:find("on this host only: give 127.0.0.1, ::1 or localhost", 1, true), err)
  end)

  it("serves the page compressed, cached by its tag, with a strict policy", function()
    local code, head = get("/")
    assert.equal(200, code)
    assert.truthy(head:find("content-type: text/html", 1, true), head)
    assert.truthy(head:find("content-security-policy: default-src 'self'", 1, true), head)
    local tag = head:match('etag: ("%x+")')
    assert.truthy(tag, head)
    local zipped
    code, zipped = get("/ui/js/instances.js", { "Accept-Encoding: gzip" })
    assert.equal(200, code)
    assert.truthy(zipped:find("content-encoding: gzip", 1, true), zipped)
    local plain = select(2, get("/ui/js/instances.js"))
    assert.truthy(tonumber(zipped:match("(%d+)$")) < tonumber(plain:match("(%d+)$")) / 2)
    assert.equal(304, (get("/", { "If-None-Match: " .. tag })))
    -- (normalised to /etc/passwd: not a file of the dashboard, and no session for the API)
    local c2, h2 = get("/ui/../../etc/passwd")
    assert.truthy(c2 == 404 or c2 == 401, h2)
    assert.equal(404, (get("/ui/nothing.js")))
  end)

  it("serves the API to browser sessions only, for its own name", function()
    local code, head = get("/v1/instances")
    assert.equal(401, code, head)
    -- a page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding)
    assert.equal(421, (get("/", { "Host: evil.example:" .. port })))
    assert.equal(421, (get("/v1/session", { "Host: evil.example:" .. port })))
    -- a link from the unix socket's user opens a session here
    local rc, link = process.run({ helpers.bin, "gui", "--print" }, { env = {
      MOONBASE_HOME = h.dir, MOONBASE_SERVER = "unix://" .. h.sock } })
    assert.equal(0, rc, link)
    link = link:gsub("%s+$", "")
    assert.truthy(link:match("^http://127%.0%.0%.1:" .. port .. "/login%?token=%x+$"), link)
    local _, out = process.run({ "curl", "-s", "-D", "-", "-o", "/dev/null", link })
    local cookie = out:match("[Ss]et%-[Cc]ookie: (mb_session=%x+)")
    assert.truthy(cookie, out)
    assert.equal(200, (get("/v1/instances", { "Cookie: " .. cookie })))
  end)
end)
