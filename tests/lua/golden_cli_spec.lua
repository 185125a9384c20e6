-- One data model in every format: each listing command's output in table,
-- JSON, YAML and CSV against a golden file in tests/golden/cli/ (run with
-- MB_UPDATE_GOLDEN=1 to rewrite them; review the diff before committing).
-- What varies from run to run is replaced before comparing: times, the temp
-- home, an uptime, library versions. Then the formats must agree with each
-- other: the same fields under the same names, full values in JSON/YAML/CSV.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")

local golden_dir = helpers.src .. "/tests/golden/cli/"
local FORMATS = { "table", "json", "yaml", "csv" }
local TIME = "2000-01-01T00:00:00Z"

-- the fields of CSV lines (quoted ones kept quoted)
local function csv_split(line)
  local out, i = {}, 1
  while i <= #line + 1 do
    local f
    if line:sub(i, i) == '"' then
      local j = i + 1
      while true do
        local q = line:find('"', j, true)
        if line:sub(q + 1, q + 1) == '"' then j = q + 2 else f = line:sub(i, q); i = q + 2; break end
      end
    else
      local c = line:find(",", i, true) or (#line + 1)
      f = line:sub(i, c - 1)
      i = c + 1
    end
    out[#out + 1] = f
  end
  return out
end

-- CSV: the values of the named columns replaced
local function csv_fields(text, fields)
  local lines = helpers.lines(text)
  local head = csv_split(lines[1] or "")
  for n = 2, #lines do
    local f = csv_split(lines[n])
    for i, k in ipairs(head) do
      if fields[k] and f[i] ~= "" then f[i] = fields[k] end
    end
    lines[n] = table.concat(f, ",")
  end
  return #lines > 0 and (table.concat(lines, "\n") .. "\n") or text
end

local function normalise(text, home, dir, src)
  text = text:gsub("%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ", "2000-01-01T00:00:00.000Z")
  text = text:gsub("%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ", TIME)
  text = text:gsub(home:gsub("%p", "%%%0"), "$HOME")
  if dir then text = text:gsub(dir:gsub("%p", "%%%0"), "$RECIPES") end
  if src then text = text:gsub(src:gsub("%p", "%%%0"), "$SRC") end
  -- the specs' image host (the remote "local") listens on a port of its own
  text = text:gsub(helpers.remote():gsub("%p", "%%%0"), "http://127.0.0.1:PORT/")
  if text:match("^[%w_,]+\n") and text:find(",uptime,", 1, true) or
      text:find(",ready_secs,", 1, true) then
    text = csv_fields(text, { uptime = "0", ready_secs = "0" })
  end
  -- an uptime and the time a worker took
  text = text:gsub('("uptime": )%d+', "%10"):gsub("(uptime: )%d+", "%10")
    :gsub("(Uptime:%s+)%d+s", "%10s")
  text = text:gsub('("ready_secs": )[%d.]+', "%10"):gsub("(ready_secs: )[%d.]+", "%10")
  text = text:gsub(" in %d+%.%ds", " in 0.0s"):gsub(" after %d+%.%ds", " after 0.0s")
    :gsub("Summary %(%d+%.%ds%)", "Summary (0.0s)")
  return text
end

local function golden(name, got)
  local path = golden_dir .. name
  if os.getenv("MB_UPDATE_GOLDEN") then
    assert(fs.mkdirs(golden_dir))
    assert(fs.write(path, got))
  end
  local want = fs.read(path)
  assert(want, "no golden file " .. path .. " (run with MB_UPDATE_GOLDEN=1)")
  assert.equal(want, got, name)
end

-- the CSV header and JSON keys name the same fields
local function same_fields(csv, structured)
  local header = helpers.lines(csv)[1]
  local rows = structured
  if rows[1] == nil then
    local first = next(rows)
    rows = first and { rows[first] } or {}
  end
  if #rows == 0 then return end
  local keys = {}
  for k in pairs(rows[1]) do keys[#keys + 1] = k end
  table.sort(keys)
  local cols = {}
  for c in header:gmatch("[^,]+") do cols[#cols + 1] = c end
  table.sort(cols)
  assert.same(cols, keys)
end

describe("every listing command, every format", function()
  local h, dir, src
  local function run(args, o)
    o = o or {}
    local code, out, err = h:run(args, { cwd = dir, env = o.env })
    assert(code == (o.code or 0), table.concat(args, " ") .. " exited " .. code .. ": " ..
      err .. out)
    return normalise(out, h.dir, dir, src)
  end

  lazy_setup(function()
    h = helpers.home()
    dir = helpers.tmpdir("golden")
    src = helpers.tmpdir("goldensrc")
    -- instances: web running with a forward, db stopped with a mount
    h:ok({ "launch", "--name", "web", "--cpus", "2", "--memory", "2G", "-q" })
    h:ok({ "launch", "--name", "db", "--memory", "512M", "--disk", "10G", "-q" })
    h:ok({ "stop", "db" })
    local rec_path = h.dir .. "/data/instances/test/web/instance.json"
    local rec = json.decode(fs.read(rec_path))
    rec.forwards = { { address = "127.0.0.1", host_port = 8080, guest_port = 80, proto = "tcp" },
      { address = "127.0.0.1", host_port = 5353, guest_port = 53, proto = "udp" } }
    assert(fs.write(rec_path, json.encode(rec)))
    rec_path = h.dir .. "/data/instances/test/db/instance.json"
    rec = json.decode(fs.read(rec_path))
    rec.mounts = { { source = "/srv/data", target = "/data", type = "classic", readonly = true } }
    rec.labels = { team = "db", ["tier"] = "back" }
    assert(fs.write(rec_path, json.encode(rec)))
    h:ok({ "snapshot", "web", "--name", "base", "--comment", "before the change" })
    h:ok({ "alias", "web:ls", "wls" })
    h:ok({ "alias", "db:cat /etc/os-release", "osr" })
    -- a cached image (qemu-img's empty qcow2 is the same bytes every time)
    process.run({ "qemu-img", "create", "-q", "-f", "qcow2", src .. "/tiny.qcow2", "1M" })
    h:ok({ "images", "pull", "-q", "file://" .. src .. "/tiny.qcow2" })
    -- a remote whose catalogue is cached (nothing is fetched: fresh for 15 min)
    h:ok({ "remote", "add", "example", "https://images.example.org/streams/" })
    local arch = require("moonbase._core.simplestreams").host_arch()
    assert(fs.mkdirs(h.dir .. "/cache/manifests"))
    assert(fs.write(h.dir .. "/cache/manifests/example.json", json.encode({
      url = "https://images.example.org/streams/", arch = arch,
      fetched_at = require("moonbase.engine.util").time(),
      images = {
        { product = "com.example:alpha", aliases = { "alpha", "default" }, os = "testos",
          release = "alpha", release_title = "Alpha 1", version = "20240301" },
        { product = "com.example:alpha", aliases = {}, os = "testos",
          release = "alpha", release_title = "Alpha 1", version = "20240101" },
        { product = "com.example:beta", aliases = { "beta" }, os = "testos",
          release = "beta", release_title = "Beta 2", version = "20240202" },
      } })))
    -- moonbase0 with leases: the test driver's network is simulated (its
    -- subnet and addresses are the same in every run; nothing is brought up)
    -- a recipe, brought up
    assert(fs.write(dir .. "/shop.lua", [[
local webs = param("webs", 1)
instance "db" { memory = "512M", provision = { write { "/etc/motd", "db\n" } } }
for i = 1, webs do
  instance ("web" .. i) { depends_on = { "db" } }
end
output("db", ref("db").name)
output("all", function(c) return { db = c.instances.db.name, n = webs, up = true } end)
output("broken", function(c) return c.exec("db", "exit 3") end)
]]))
    h:ok({ "up", "shop.lua", "-q" }, { cwd = dir }) -- quiet: outputs are not evaluated
    -- both cached images used in the same second: listed in the order of their ids
    local now = math.floor(require("moonbase.engine.util").time())
    for _, id in ipairs(fs.list(h.dir .. "/cache/images") or {}) do
      local meta_path = h.dir .. "/cache/images/" .. id .. "/metadata.json"
      local meta = fs.read(meta_path) and json.decode(fs.read(meta_path))
      if meta then
        meta.last_used = now
        assert(fs.write(meta_path, json.encode(meta)))
      end
    end
  end)

  lazy_teardown(function()
    h:cleanup()
    fs.rmtree(dir)
    fs.rmtree(src)
  end)

  local commands = {
    { "list", { "list" } },
    { "list-snapshots", { "list", "--snapshots" } },
    { "info", { "info", "web", "db" } },
    { "images", { "images" } },
    { "find", { "find", "example:" } },
    { "aliases", { "aliases" } },
    { "forward", { "forward", "web", "--list" } },
    { "get", { "get" } },
    { "get-key", { "get", "local.driver" } },
    { "get-keys", { "get", "--keys" } },
    { "remote", { "remote", "list" } },
    { "version", { "version" } },
    { "plan", { "plan", "shop.lua", "--param", "webs=2" } },
    { "status", { "status", "shop.lua" } },
    { "outputs", { "outputs", "shop.lua" }, 2 },
    { "hosts", { "hosts" } },
  }
  for _, c in ipairs(commands) do
    for _, f in ipairs(FORMATS) do
      it(table.concat(c[2], " ") .. " --format " .. f, function()
        local args = { table.unpack(c[2]) }
        args[#args + 1] = "--format"
        args[#args + 1] = f
        local out = run(args, { code = c[3] })
        if c[1] == "version" then out = out:gsub("%d+%.%d+%.%d+", "1.2.3") end
        golden(c[1] .. "." .. f, out)
      end)
    end
    if c[1] ~= "get-key" and c[1] ~= "get" and c[1] ~= "version" and c[1] ~= "get-keys" then
      it(c[1] .. ": CSV and JSON name the same fields", function()
        local function with(f)
          local args = { table.unpack(c[2]) }
          args[#args + 1] = "--format"
          args[#args + 1] = f
          return run(args, { code = c[3] })
        end
        local csv = with("csv")
        local doc = json.decode(with("json"))
        if doc.instances then doc = doc.instances end
        same_fields(csv, doc)
      end)
    end
  end

  it("networks in every format (the host faked: no real links)", function()
    local fake = h.dir .. "/fakehost.json"
    assert(fs.write(fake, json.encode({ privileged = false,
      links = { { name = "lo", index = 1, loopback = true, up = true },
        { name = "eth0", index = 2, mac = "52:54:00:99:99:99", up = true },
        { name = "br0", index = 3, kind = "bridge", mac = "52:54:00:99:99:98", up = true } },
      addresses = { { dev = "eth0", address = "192.168.1.20", prefix = 24 } },
      routes = {} })))
    for _, f in ipairs(FORMATS) do
      golden("networks." .. f, run({ "networks", "--format", f },
        { env = { MOONBASE_NET_FAKE = fake } }))
    end
  end)

  it("up in every format: the summary with the outputs' rows", function()
    for _, f in ipairs(FORMATS) do
      local code, out, err = h:run({ "up", "shop.lua", "--param", "webs=2", "--format", f },
        { cwd = dir })
      assert.equal(2, code, err) -- the broken output
      golden("up." .. f, normalise(out, h.dir, dir))
      h:ok({ "down", "shop.lua", "--param", "webs=2", "--purge", "-q" }, { cwd = dir })
      h:ok({ "up", "shop.lua", "-q" }, { cwd = dir })
    end
  end)
end)
