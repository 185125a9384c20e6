-- moonbase images / remote / find without an image server: file:// images,
-- the cache listing in every format, prune keeping in-use images, remotes,
-- and bad input (one line, exit 2 or 1 for usage, nothing changed). The only
-- address contacted is 127.0.0.1 port 1, where nothing listens.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")

local function sh(cmd)
  local code, out, err = process.run({ "sh", "-c", cmd })
  assert(code == 0, cmd .. ": " .. tostring(err))
  return out
end

local function one_line(err)
  assert.equal(1, #helpers.lines(err), err)
  assert.truthy(err:match("\n$"), err)
end

describe("images (file:// sources)", function()
  local h, src
  before_each(function()
    h = helpers.home({ driver = false })
    src = helpers.tmpdir("imgsrc")
    sh("qemu-img create -q -f qcow2 " .. src .. "/a.qcow2 64M")
    sh("head -c 1048576 /dev/urandom > " .. src .. "/b.raw")
  end)
  after_each(function()
    h:cleanup()
    fs.rmtree(src)
  end)

  local function images_json()
    return json.decode(h:ok({ "images", "--format", "json" }))
  end

  it("caches a qcow2 once and a raw image converted to qcow2", function()
    local out = h:ok({ "images", "pull", "--quiet", "file://" .. src .. "/a.qcow2" })
    assert.equal("", out)
    out = h:ok({ "images", "pull", "file://" .. src .. "/a.qcow2" })
    assert.truthy(out:find("^Already cached: file://"), out)
    h:ok({ "images", "pull", "-q", "file://" .. src .. "/b.raw" })
    local list = images_json()
    assert.equal(2, #list)
    for _, img in ipairs(list) do
      assert.equal(64, #img.id)
      local dir = h.dir .. "/cache/images/" .. img.id
      local info = json.decode(sh("qemu-img info --output=json " .. dir .. "/disk.qcow2"))
      assert.equal("qcow2", info.format)
      local meta = json.decode(fs.read(dir .. "/metadata.json"))
      assert.equal(img.id, meta.sha256)
      assert.equal("file://" .. src .. "/", meta.source:sub(1, #src + 8))
      assert.is_number(meta.last_used)
      assert.is_nil(fs.exists(dir .. "/disk.img"))
    end
    local raw = sh("sha256sum " .. src .. "/b.raw"):match("^%x+")
    assert.truthy(fs.exists(h.dir .. "/cache/images/" .. raw .. "/disk.qcow2"),
      "a raw image is keyed by the digest of the source")
  end)

  it("lists cached images in every format", function()
    h:ok({ "images", "pull", "-q", "file://" .. src .. "/a.qcow2" })
    local id = images_json()[1].id
    local t = h:ok({ "images" })
    local lines = helpers.lines(t)
    assert.truthy(lines[1]:find("^ID +Image +OS +Release +Version +Size +Last used +Used by$"),
      lines[1])
    assert.truthy(lines[2]:find("^" .. id:sub(1, 12) .. "  file://", 1), lines[2])
    assert.truthy(lines[2]:find("just now", 1, true))
    local y = h:ok({ "images", "--format", "yaml" })
    assert.truthy(y:find("- id: " .. id, 1, true), y)
    local c = h:ok({ "images", "--format", "csv" })
    assert.equal("id,image,os,release,version,size,last_used,used_by", helpers.lines(c)[1])
    -- CSV carries the full id, bytes and an ISO time, as JSON does; the table abbreviates
    assert.truthy(helpers.lines(c)[2]:find("^" .. id .. ",file://"), c)
    assert.truthy(helpers.lines(c)[2]:find(",%d+,%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ,$"), c)
    local empty = helpers.home({ driver = false })
    assert.equal("No cached images.\n", empty:ok({ "images" }))
    assert.equal("[]\n", empty:ok({ "images", "--format", "json" }))
    empty:cleanup()
  end)

  it("prune keeps images that instances use, and recent ones with --older-than", function()
    h:ok({ "images", "pull", "-q", "file://" .. src .. "/a.qcow2" })
    h:ok({ "images", "pull", "-q", "file://" .. src .. "/b.raw" })
    local list = images_json()
    local used, unused = list[1].id, list[2].id
    -- an instance record of any driver scope naming the image keeps it
    local rec = h.dir .. "/data/instances/qemu/vm1"
    sh("mkdir -p " .. rec)
    assert(fs.write(rec .. "/instance.json", json.encode({ name = "vm1", image_id = used })))
    local out = h:ok({ "images", "prune", "--older-than", "14d" })
    assert.truthy(out:find("0 images removed", 1, true), out)
    assert.equal(2, #images_json())
    out = h:ok({ "images", "prune" })
    assert.truthy(out:find("Removed " .. unused:sub(1, 12), 1, true), out)
    assert.truthy(out:find("Kept " .. used:sub(1, 12) .. " %(.-%): used by vm1"), out)
    assert.truthy(out:find("1 image removed", 1, true), out)
    list = images_json()
    assert.equal(1, #list)
    assert.equal(used, list[1].id)
    assert.same({ "vm1" }, list[1].used_by)
    assert.is_nil(fs.exists(h.dir .. "/cache/images/" .. unused))
    -- once the instance is gone, the image goes too
    fs.rmtree(rec)
    h:ok({ "images", "prune" })
    assert.same({}, images_json())
  end)

  it("prune leaves an image alone while another process holds it", function()
    h:ok({ "images", "pull", "-q", "file://" .. src .. "/a.qcow2" })
    local id = images_json()[1].id
    local lockf = h.dir .. "/cache/images/.locks/" .. id .. ".lock"
    local pid = assert(process.spawn({ "flock", "-s", lockf, "sleep", "30" }))
    for _ = 1, 100 do
      if process.run({ "flock", "-n", "-x", lockf, "true" }) ~= 0 then break end
      require("moonbase.engine.util").sleep(0.05)
    end
    local out = h:ok({ "images", "prune" })
    process.kill(pid, 9)
    process.wait(pid)
    assert.truthy(out:find(": busy", 1, true), out)
    assert.equal(1, #images_json())
  end)
end)

describe("remotes", function()
  local h
  before_each(function() h = helpers.home({ driver = false }) end)
  after_each(function() h:cleanup() end)

  it("lists the built-in remotes and adds and removes user remotes", function()
    local out = h:ok({ "remote", "list" })
    assert.truthy(out:find("ubuntu +https://cloud%-images%.ubuntu%.com/releases/ +built%-in"), out)
    assert.truthy(out:find("ubuntu%-daily +https://cloud%-images%.ubuntu%.com/daily/"), out)
    local code, o, err = h:run({ "remote", "add", "local", "https://127.0.0.1:8443/images" })
    assert.equal(0, code, err)
    assert.equal('Added remote "local": https://127.0.0.1:8443/images/\n', o)
    assert.equal("", err)
    code, o, err = h:run({ "remote", "add", "plain", "http://127.0.0.1:8080/" })
    assert.equal(0, code)
    one_line(err)
    assert.truthy(err:find("^remote: warning: remote \"plain\" uses plain http://"), err)
    local list = json.decode(h:ok({ "remote", "list", "--format", "json" }))
    local names = {}
    for _, r in ipairs(list) do names[#names + 1] = r.name .. "=" .. r.kind end
    assert.same({ "local=user", "plain=user", "ubuntu=built-in", "ubuntu-daily=built-in" },
      names)
    local stored = json.decode(fs.read(h.dir .. "/config/remotes.json"))
    assert.equal("http://127.0.0.1:8080/", stored.plain.url)
    assert.equal("name,url,kind", helpers.lines(h:ok({ "remote", "list", "--format", "csv" }))[1])
    assert.truthy(h:ok({ "remote", "list", "--format", "yaml" }):find("- name: local", 1, true))
    h:ok({ "remote", "remove", "plain" })
    stored = json.decode(fs.read(h.dir .. "/config/remotes.json"))
    assert.is_nil(stored.plain)
    assert.is_table(stored["local"])
  end)

  local bad = {
    { { "remote", "add", "x", "notaurl" }, 1, 'remote: invalid remote URL "notaurl"' },
    { { "remote", "add", "x", "ftp://host/" }, 1, 'remote: invalid remote URL "ftp://host/"' },
    { { "remote", "add", "x", "https://" }, 1, 'remote: invalid remote URL "https://"' },
    { { "remote", "add", "Bad_Name", "https://h/" }, 1, 'invalid remote name "Bad_Name"' },
    { { "remote", "add", "file", "https://h/" }, 1, 'invalid remote name "file"' },
    { { "remote", "add", "ubuntu", "https://h/" }, 2, 'remote "ubuntu" is built in' },
    { { "remote", "remove", "ubuntu" }, 2, 'remote "ubuntu" is built in and cannot be removed' },
    { { "remote", "remove", "nope" }, 2, 'unknown remote "nope"' },
    { { "remote", "frob" }, 1, 'unknown subcommand "frob"' },
    { { "remote", "add", "x" }, 1, "remote add takes 2 arguments" },
    { { "remote" }, 1, "missing arguments" },
    { { "images", "pull", "file:///nonexistent/disk.qcow2" }, 2,
      'images: image file "/nonexistent/disk.qcow2" does not exist' },
    { { "images", "pull", "file://relative.img" }, 1, "needs an absolute path" },
    { { "images", "pull", "no such" }, 1, 'invalid image reference "no such"' },
    { { "images", "pull", "nowhere:tiny" }, 2, 'unknown remote "nowhere"' },
    { { "images", "pull" }, 1, "images pull needs an IMAGE" },
    { { "images", "frob" }, 1, 'unknown subcommand "frob"' },
    { { "images", "prune", "--older-than", "soon" }, 1, "--older-than" },
    { { "find", "Bad Remote:x" }, 1, 'invalid remote name "Bad Remote"' },
    { { "find", "nowhere:" }, 2, 'unknown remote "nowhere"' },
  }
  for _, case in ipairs(bad) do
    it("fails on '" .. table.concat(case[1], " ") .. "' in one line, exit " .. case[2] ..
      ", changing nothing", function()
      h:ok({ "remote", "add", "kept", "https://127.0.0.1:9/" })
      local before = helpers.snapshot(h.dir)
      local code, out, err = h:run(case[1])
      assert.equal(case[2], code, err)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find(case[3], 1, true), err)
      assert.same(before, helpers.snapshot(h.dir))
    end)
  end

  it("names every remote with its error when none can be read", function()
    h:ok({ "remote", "add", "down", "https://127.0.0.1:1/" })
    h:ok({ "remote", "add", "gone", "http://127.0.0.1:1/images/" })
    -- find with no REMOTE: asks every remote; the built-in ones are on the
    -- internet, which a test never contacts, so only the user's are listed
    local script = h.dir .. "/find-all.lua"
    assert(fs.write(script, [[
      local remotes = require("moonbase._core.remotes")
      local list = remotes.list
      remotes.list = function()
        local out = {}
        for _, r in ipairs(list()) do if not r.builtin then out[#out + 1] = r end end
        return out
      end
      local ok, err = pcall(require("moonbase.images").find, nil, {})
      io.write(ok and "found\n" or (err.message .. "\n"))
    ]]))
    local code, out, err = process.run({ helpers.bin, "--lua", script }, { env = h.env })
    assert.equal(0, code, err)
    assert.truthy(out:find('^no remote could be read: "down": remote unreachable: ' ..
      "https://127%.0%.0%.1:1/streams/v1/index%.json %b(); \"gone\": remote unreachable: " ..
      "http://127%.0%.0%.1:1/images/streams/v1/index%.json %b() %(check the network, or " ..
      "the remotes' URLs: moonbase remote list%)\n$"), out)
    assert.equal(1, #helpers.lines(out), out)
  end)

  it("reports an unreachable remote in one line, exit 2, cache unchanged", function()
    h:ok({ "remote", "add", "down", "https://127.0.0.1:1/" })
    local before = helpers.snapshot(h.dir)
    for _, args in ipairs({ { "find", "down:" }, { "images", "pull", "down:tiny" },
      { "find", "down:", "--force-update" } }) do
      local code, out, err = h:run(args)
      assert.equal(2, code, err)
      assert.equal("", out)
      one_line(err)
      assert.truthy(err:find('cannot read remote "down": remote unreachable: ' ..
        "https://127.0.0.1:1/streams/v1/index.json", 1, true), err)
      assert.same(before, helpers.snapshot(h.dir))
    end
  end)
end)
