-- Images over HTTP for real: small synthetic images published with
-- tests/images/make-streams.sh and served on 127.0.0.1 by tests/lib/imagehost.sh
-- (nginx, Range support, an access log with the Range header). Proves: find in
-- every format, the manifest TTL, download + verify (kernel/initrd included),
-- a corrupt image rejected without a cache entry, a killed download resumed
-- with a Range request, two concurrent pulls downloading once, direct URLs,
-- and broken manifests failing in one line with nothing changed.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")

local src = os.getenv("MOONBASE_SRC") or "."
local imagehost = src .. "/tests/lib/imagehost.sh"
local make_streams = src .. "/tests/images/make-streams.sh"

local function sh(cmd)
  local code, out, err = process.run({ "sh", "-c", cmd })
  assert(code == 0, cmd .. ": " .. tostring(err) .. tostring(out))
  return out
end

local function sha256(path) return (sh("sha256sum '" .. path .. "'"):match("^%x+")) end

local function one_line(err)
  assert.equal(1, #helpers.lines(err), err)
end

-- an image directory as make-streams.sh reads it; disk is `mb` MiB of noise
local function make_image(dir, meta, mb, kernel)
  sh(string.format("mkdir -p %s && head -c %dM /dev/urandom > %s/raw && " ..
    "qemu-img convert -f raw -O qcow2 %s/raw %s/disk.qcow2 && rm %s/raw", dir, mb, dir, dir,
    dir, dir))
  if kernel then
    sh(string.format("head -c 65536 /dev/urandom > %s/vmlinuz && " ..
      "head -c 32768 /dev/urandom > %s/initrd.img", dir, dir))
  end
  local lines = {}
  for _, k in ipairs({ "os", "release", "release_title", "aliases", "arch", "kernel_cmdline" }) do
    if meta[k] then lines[#lines + 1] = string.format('  "%s": "%s"', k, meta[k]) end
  end
  assert(fs.write(dir .. "/metadata.json", "{\n" .. table.concat(lines, ",\n") .. "\n}\n"))
end

local function wait_exit(pid, secs)
  local deadline = util.now() + secs
  while util.now() < deadline do
    local code = process.wait(pid, true)
    if code then return code end
    util.sleep(0.05)
  end
  process.kill(pid, 9)
  process.wait(pid)
  error("process " .. pid .. " did not finish within " .. secs .. " s")
end

describe("images from a local image host", function()
  local root, url, log, h, work
  local alpha_img, beta_img -- served paths (relative to the tree) of the disk items

  local function products(tree)
    local dir = root .. "/" .. tree .. "/streams/v1"
    for _, n in ipairs(fs.list(dir)) do
      if n ~= "index.json" then return dir .. "/" .. n end
    end
  end

  local function access()
    local text = fs.read(log) or ""
    return helpers.lines(text)
  end

  local function requests(path_pattern)
    local out = {}
    for _, l in ipairs(access()) do
      if l:find(path_pattern) then out[#out + 1] = l end
    end
    return out
  end

  lazy_setup(function()
    work = helpers.tmpdir("imgwork")
    root = helpers.tmpdir("imgroot")
    make_image(work .. "/alpha1", { os = "testos", release = "alpha", release_title = "Alpha 1",
      aliases = "alpha,default", arch = "amd64", kernel_cmdline = "console=ttyS0 quiet" }, 1,
      true)
    make_image(work .. "/alpha2", { os = "testos", release = "alpha", release_title = "Alpha 1",
      aliases = "alpha,default", arch = "amd64", kernel_cmdline = "console=ttyS0 quiet" }, 8,
      true)
    make_image(work .. "/beta", { os = "testos", release = "beta", release_title = "Beta 2",
      aliases = "beta", arch = "amd64" }, 2)
    sh(string.format("%s %s/good %s/alpha1=20240101 %s/alpha2=20240301 %s/beta=20240202 " ..
      ">/dev/null", make_streams, root, work, work, work, work))
    sh(string.format("%s %s/corrupt %s/beta=20240202 >/dev/null", make_streams, root, work))
    -- the corrupt tree promises another digest for the same bytes
    local p = products("corrupt")
    local text = fs.read(p)
    local digest = text:match('"sha256": "(%x+)"')
    assert(fs.write(p, (text:gsub(digest, string.rep("0", 64)))))
    -- a products file that is not JSON, and one whose disk item lacks its sha256
    sh(string.format("%s %s/notjson %s/beta=20240202 >/dev/null", make_streams, root, work))
    assert(fs.write(products("notjson"), "<html>not json</html>\n"))
    sh(string.format("%s %s/missing %s/beta=20240202 >/dev/null", make_streams, root, work))
    p = products("missing")
    assert(fs.write(p, (fs.read(p):gsub('"sha256": "%x+",?', ""))))
    -- a directory that is no image host at all
    sh("mkdir -p " .. root .. "/empty")
    local doc = json.decode(fs.read(products("good")))
    for _, prod in pairs(doc.products) do
      for v, body in pairs(prod.versions) do
        local disk = body.items["disk1.img"].path
        if prod.release == "alpha" and v == "20240301" then alpha_img = disk end
        if prod.release == "beta" then beta_img = disk end
      end
    end
    url = sh(imagehost .. " start " .. root):gsub("%s+$", "")
    log = sh(imagehost .. " log " .. root):gsub("%s+$", "")
    assert.truthy(url:match("^http://127%.0%.0%.1:%d+$"), url)
  end)

  lazy_teardown(function()
    if root then
      process.run({ imagehost, "stop", root })
      fs.rmtree(root)
    end
    if work then fs.rmtree(work) end
  end)

  before_each(function()
    h = helpers.home({ driver = false })
    for _, tree in ipairs({ "good", "corrupt", "notjson", "missing", "empty" }) do
      local code, _, err = h:run({ "remote", "add", tree, url .. "/" .. tree .. "/" })
      assert.equal(0, code, err)
    end
    -- truncated in place (nginx keeps the file open): each test reads its own requests
    assert(io.open(log, "w")):close()
  end)

  after_each(function() h:cleanup() end)

  local function pull_bg(args, tag)
    local argv = { helpers.bin, "images", "pull" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local env = {}
    for k, v in pairs(h.env) do env[k] = v end
    local out, err = h.dir .. "/" .. tag .. ".out", h.dir .. "/" .. tag .. ".err"
    local pid = assert(process.spawn(argv, { env = env, stdout = out, stderr = err }))
    return pid, out, err
  end

  local function cache_entries()
    local out = {}
    for _, n in ipairs(fs.list(h.dir .. "/cache/images") or {}) do
      if n:match("^%x+$") then out[#out + 1] = n end
    end
    table.sort(out)
    return out
  end

  it("finds images in every format, newest version with its aliases", function()
    local t = helpers.lines(h:ok({ "find", "good:" }))
    assert.truthy(t[1]:find("^Image +Aliases +OS +Release +Version +Remote$"), t[1])
    assert.equal(3, #t)
    assert.truthy(t[2]:find("^good:alpha +alpha,default +testos +Alpha 1 +20240301 +good$"), t[2])
    assert.truthy(t[3]:find("^good:beta +beta +testos +Beta 2 +20240202 +good$"), t[3])
    local rows = json.decode(h:ok({ "find", "good:", "--format", "json" }))
    assert.same({ image = "good:alpha", aliases = { "alpha", "default" }, os = "testos",
      release = "Alpha 1", version = "20240301", remote = "good" }, rows[1])
    local y = h:ok({ "find", "good:", "--format", "yaml" })
    assert.truthy(y:find("- image: good:alpha\n  aliases:\n    - alpha\n    - default\n", 1, true),
      y)
    local c = helpers.lines(h:ok({ "find", "good:", "--format", "csv" }))
    assert.same({ "image,aliases,os,release,version,remote",
      'good:alpha,"alpha,default",testos,Alpha 1,20240301,good',
      "good:beta,beta,testos,Beta 2,20240202,good" }, c)
    rows = json.decode(h:ok({ "find", "good:bet", "--format", "json" }))
    assert.equal(1, #rows)
    assert.equal("good:beta", rows[1].image)
    rows = json.decode(h:ok({ "find", "good:", "--all", "--format", "json" }))
    assert.equal(3, #rows)
    assert.equal("good:alpha@20240101", rows[2].image)
    assert.equal('No images match "good:zzz".\n', h:ok({ "find", "good:zzz" }))
  end)

  it("caches manifests for 15 minutes; --force-update reads them again", function()
    h:ok({ "find", "good:" })
    h:ok({ "find", "good:alpha" })
    assert.equal(1, #requests("GET /good/streams/v1/index.json"))
    assert.equal(1, #requests("GET /good/streams/v1/com"))
    h:ok({ "find", "good:", "--force-update" })
    assert.equal(2, #requests("GET /good/streams/v1/index.json"))
    -- an expired cache entry is fetched again
    local cached = h.dir .. "/cache/manifests/good.json"
    local doc = json.decode(fs.read(cached))
    doc.fetched_at = doc.fetched_at - 901
    assert(fs.write(cached, json.encode(doc)))
    h:ok({ "find", "good:" })
    assert.equal(3, #requests("GET /good/streams/v1/index.json"))
  end)

  it("pulls, verifies and caches an image with its kernel and initrd", function()
    local code, out, err = h:run({ "images", "pull", "good:alpha" })
    assert.equal(0, code, err)
    local id = sha256(root .. "/good/" .. alpha_img)
    assert.truthy(out:find("^Pulled good:alpha %(" .. id:sub(1, 12) .. ", "), out)
    assert.truthy(err:find("good:alpha: 100%", 1, true), err) -- progress lines: not a tty
    assert.same({ id }, cache_entries())
    local dir = h.dir .. "/cache/images/" .. id
    assert.equal(id, sha256(dir .. "/disk.qcow2"))
    assert.truthy(fs.exists(dir .. "/vmlinuz"))
    assert.truthy(fs.exists(dir .. "/initrd.img"))
    local meta = json.decode(fs.read(dir .. "/metadata.json"))
    assert.equal("good", meta.remote)
    assert.equal("alpha", meta.alias)
    assert.equal("testos", meta.os)
    assert.equal("Alpha 1", meta.release)
    assert.equal("20240301", meta.version)
    assert.equal(url .. "/good/" .. alpha_img, meta.source)
    assert.is_number(meta.last_used)
    -- a cache hit downloads nothing
    assert.equal(1, #requests("GET /good/" .. alpha_img:gsub("%p", "%%%0")))
    out = h:ok({ "images", "pull", "good:default" })
    assert.truthy(out:find("^Already cached: good:default"), out)
    assert.equal(1, #requests("GET /good/" .. alpha_img:gsub("%p", "%%%0")))
    -- the Lua API that launch uses
    local script = h.dir .. "/resolve.lua"
    assert(fs.write(script, [[
      local img = require("moonbase.images").resolve("good:alpha", { quiet = true, hold = true })
      local lock = img.lock
      img.lock = nil
      io.write(require("moonbase.engine.json").encode(img))
      lock:close()
    ]]))
    local _, lua_out, lua_err = process.run({ helpers.bin, "--lua", script }, { env = h.env })
    local img = json.decode(lua_out ~= "" and lua_out or error(lua_err))
    assert.equal(id, img.id)
    assert.equal(dir .. "/disk.qcow2", img.path)
    assert.equal(dir .. "/vmlinuz", img.kernel)
    assert.equal(dir .. "/initrd.img", img.initrd)
    assert.equal("console=ttyS0 quiet", img.cmdline)
    assert.equal("good", img.remote)
    assert.equal("alpha", img.alias)
    assert.equal("20240301", img.version)
    assert.is_false(img.fetched)
  end)

  it("launches a cached alias while its remote is unreachable, with a warning", function()
    h:ok({ "images", "pull", "-q", "good:alpha" })
    local remotes = h.dir .. "/config/remotes.json"
    local doc = json.decode(fs.read(remotes))
    doc.good.url = "http://127.0.0.1:1/"
    assert(fs.write(remotes, json.encode(doc)))
    local code, out, err = h:run({ "images", "pull", "good:alpha" })
    assert.equal(0, code, err)
    assert.truthy(out:find("^Already cached: good:alpha"), out)
    assert.truthy(err:find('^warning: remote "good" is unreachable: using the cached ' ..
      "good:alpha %(version 20240301%)\n$"), err)
    code, out, err = h:run({ "images", "pull", "good:beta" })
    assert.equal(2, code)
    one_line(err)
    assert.truthy(err:find('cannot read remote "good": remote unreachable', 1, true), err)
  end)

  it("rejects an image whose sha256 does not match, leaving no cache entry", function()
    local code, out, err = h:run({ "images", "pull", "-q", "corrupt:beta" })
    assert.equal(2, code)
    assert.equal("", out)
    one_line(err)
    assert.truthy(err:find('^images: cannot download image "corrupt:beta": checksum mismatch ' ..
      "for " .. url:gsub("%p", "%%%0")), err)
    assert.truthy(err:find("the download was deleted", 1, true), err)
    assert.same({}, cache_entries())
    assert.same({}, json.decode(h:ok({ "images", "--format", "json" })))
  end)

  it("resumes a killed download with a Range request", function()
    local pid = pull_bg({ "-q", "--limit-rate", "1M", "good:alpha" }, "slow")
    local id = sha256(root .. "/good/" .. alpha_img)
    local part = h.dir .. "/cache/images/" .. id .. "/disk.img.part"
    local deadline = util.now() + 20
    while util.now() < deadline do
      local st = fs.stat(part)
      if st and st.size >= 1024 * 1024 then break end
      util.sleep(0.05)
    end
    process.kill(pid, 9)
    process.wait(pid)
    local kept = assert(fs.stat(part), "the partial download is kept").size
    assert.truthy(kept >= 1024 * 1024 and kept < 8 * 1024 * 1024, tostring(kept))
    assert.same({}, json.decode(h:ok({ "images", "--format", "json" })),
      "a partial download is no image")
    local code, _, err = h:run({ "images", "pull", "good:alpha" })
    assert.equal(0, code, err)
    assert.truthy(err:find("good:alpha: resuming at", 1, true), err)
    local served = requests("GET /good/" .. alpha_img:gsub("%p", "%%%0"))
    assert.equal(2, #served, table.concat(access(), "\n"))
    assert.truthy(served[1]:find('range="-"', 1, true), served[1])
    local from = served[2]:match('" 206 %d+ range="bytes=(%d+)%-"')
    assert.truthy(from, served[2])
    assert.truthy(tonumber(from) >= kept - 16 * 1024 * 1024, served[2])
    assert.equal(id, sha256(h.dir .. "/cache/images/" .. id .. "/disk.qcow2"))
    assert.is_nil(fs.exists(part))
  end)

  it("downloads once when two pulls of the same image race", function()
    local a = pull_bg({ "--limit-rate", "4M", "good:alpha" }, "a")
    -- b starts once a is downloading (a's .part exists, so a holds the lock)
    local part = h.dir .. "/cache/images/" .. sha256(root .. "/good/" .. alpha_img) ..
      "/disk.img.part"
    local deadline = util.now() + 20
    while not fs.exists(part) and util.now() < deadline do util.sleep(0.02) end
    local b = pull_bg({ "--limit-rate", "4M", "good:default" }, "b")
    assert.equal(0, wait_exit(a, 60), fs.read(h.dir .. "/a.err"))
    assert.equal(0, wait_exit(b, 60), fs.read(h.dir .. "/b.err"))
    local served = requests("GET /good/" .. alpha_img:gsub("%p", "%%%0"))
    assert.equal(1, #served, table.concat(access(), "\n"))
    assert.truthy(served[1]:find('" 200 %d+ range="%-"'), served[1])
    -- whichever took the lock first downloaded; the other waited and found it cached
    local a_out, b_out = fs.read(h.dir .. "/a.out") or "", fs.read(h.dir .. "/b.out") or ""
    local errs = (fs.read(h.dir .. "/a.err") or "") .. (fs.read(h.dir .. "/b.err") or "")
    local pulled = select(2, (a_out .. b_out):gsub("Pulled ", ""))
    local cached = select(2, (a_out .. b_out):gsub("Already cached: ", ""))
    assert.equal(1, pulled, a_out .. b_out)
    assert.equal(1, cached, a_out .. b_out)
    assert.truthy(errs:find("waiting for another moonbase to download it", 1, true), errs)
    assert.equal(1, #cache_entries())
  end)

  it("caches a direct http:// image once, warning about plain http", function()
    local ref = url .. "/good/" .. beta_img
    local code, out, err = h:run({ "images", "pull", ref })
    assert.equal(0, code, err)
    assert.truthy(out:find("^Pulled "), out)
    assert.truthy(err:find("^warning: " .. ref:gsub("%p", "%%%0") .. " is plain http://"), err)
    out = h:ok({ "images", "pull", "-q", ref })
    assert.equal("", out)
    assert.equal(1, #requests("GET /good/" .. beta_img:gsub("%p", "%%%0")))
    local list = json.decode(h:ok({ "images", "--format", "json" }))
    assert.equal(ref, list[1].image)
    assert.equal(sha256(root .. "/good/" .. beta_img), list[1].id)
  end)

  it("fails in one line with exit 2 on broken or missing manifests, changing nothing", function()
    local cases = {
      { { "find", "notjson:" }, 'find: cannot read remote "notjson": manifest ' .. url ..
        "/notjson/streams/v1/com.moonbase.local:download.json is not valid JSON" },
      { { "images", "pull", "notjson:beta" }, "is not valid JSON" },
      { { "find", "missing:" }, 'has no usable images: product "com.moonbase.local:beta:amd64" ' ..
        'version "20240202" item "disk1.img" has no valid "sha256"' },
      { { "find", "empty:" }, "not found on the server: " .. url ..
        "/empty/streams/v1/index.json (HTTP 404)" },
      { { "images", "pull", "good:nope" },
        'images: image "nope" not found on remote "good" (try: moonbase find good:)' },
    }
    h:ok({ "find", "good:" }) -- a manifest in the cache, which must stay as it is
    for _, c in ipairs(cases) do
      local before = helpers.snapshot(h.dir)
      local code, out, err = h:run(c[1])
      assert.equal(2, code, err)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find(c[2], 1, true), err)
      assert.same(before, helpers.snapshot(h.dir))
    end
  end)
end)
