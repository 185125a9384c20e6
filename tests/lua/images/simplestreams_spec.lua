-- The simplestreams client on documents: the hand-written Ubuntu-format
-- fixtures (tests/images/fixtures) and small inline documents for the edge
-- cases; the manifest cache's TTL with a stubbed fetch. No network at all.
local ss = require("moonbase._core.simplestreams")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local paths = require("moonbase._core.paths")
local helpers = require("helpers")

local src = os.getenv("MOONBASE_SRC") or "."
local fixtures = src .. "/tests/images/fixtures"

local function sha(c) return string.rep(c, 64) end

local function item(path, c, size, ftype)
  return { path = path, sha256 = sha(c), size = size or 100, ftype = ftype }
end

local function products(p)
  return json.encode({ content_id = "x:download", datatype = "image-downloads",
    format = "products:1.0", products = p })
end

describe("simplestreams index", function()
  it("follows the image-downloads entry", function()
    local text = json.encode({ format = "index:1.0", index = {
      ["a:aws"] = { datatype = "image-ids", path = "streams/v1/aws.json" },
      ["a:download"] = { datatype = "image-downloads", path = "streams/v1/download.json" },
    } })
    assert.equal("streams/v1/download.json", ss.parse_index(text, "index"))
  end)

  it("says what is wrong with a broken index, in one line", function()
    local cases = {
      { "{not json", "index is not valid JSON (" },
      { "[1,2]", 'index has no "index" object' },
      { '{"index": {"a": {"datatype": "image-ids", "path": "x"}}}',
        'index has no "image-downloads" entry' },
      { '{"index": {"a": {"datatype": "image-downloads"}}}', 'entry "a" has no "path"' },
    }
    for _, c in ipairs(cases) do
      local path, msg = ss.parse_index(c[1], "index")
      assert.is_nil(path)
      assert.truthy(msg:find(c[2], 1, true), msg)
      assert.is_nil(msg:find("\n"))
    end
  end)
end)

describe("simplestreams products", function()
  local doc = products({
    ["os:tiny:amd64"] = { arch = "amd64", os = "tinyos", release = "tiny", version = "1",
      release_title = "Tiny 1", aliases = "tiny,default", supported = true,
      kernel_cmdline = "console=ttyS0",
      versions = {
        ["20240101"] = { items = { ["disk1.img"] = item("old.img", "a") } },
        ["20240301"] = { items = {
          ["disk1.img"] = item("new.img", "b", 200, "disk1.img"),
          ["lxd.tar.xz"] = item("lxd.tar.xz", "f"),
          ["vmlinuz"] = item("vmlinuz", "c", 10, "vmlinuz"),
          ["initrd"] = item("initrd", "d", 20, "initrd"),
        } },
      } },
    ["os:tiny:arm64"] = { arch = "arm64", os = "tinyos", release = "tiny", aliases = "tiny",
      versions = { ["20240401"] = { items = { ["disk1.img"] = item("arm.img", "e") } } } },
    ["os:eol:amd64"] = { arch = "amd64", os = "tinyos", release = "eol", aliases = "eol",
      supported = false,
      versions = { ["20200101"] = { items = { ["disk1.img"] = item("eol.img", "9") } } } },
    ["os:noitems:amd64"] = { arch = "amd64", os = "tinyos", release = "noitems",
      aliases = "noitems",
      versions = { ["1"] = { items = { ["root.tar.xz"] = item("r", "1") } } } },
  })

  it("keeps supported products of the arch, newest version first, aliases on the newest",
    function()
      local imgs = assert(ss.parse_products(doc, "products", "amd64"))
      assert.equal(2, #imgs)
      assert.same({ "20240301", "20240101" }, { imgs[1].version, imgs[2].version })
      assert.same({ "tiny", "default" }, imgs[1].aliases)
      assert.same({}, imgs[2].aliases)
      assert.equal("new.img", imgs[1].disk.path)
      assert.equal(sha("b"), imgs[1].disk.sha256)
      assert.equal(200, imgs[1].disk.size)
      assert.equal("vmlinuz", imgs[1].kernel.path)
      assert.equal("initrd", imgs[1].initrd.path)
      assert.equal("console=ttyS0", imgs[1].cmdline)
      assert.is_nil(imgs[2].kernel)
      assert.equal("Tiny 1", imgs[1].release_title)
    end)

  it("filters by arch (arm64 sees its own product only)", function()
    local imgs = assert(ss.parse_products(doc, "products", "arm64"))
    assert.equal(1, #imgs)
    assert.equal("arm.img", imgs[1].disk.path)
    local none, msg = ss.parse_products(doc, "products", "s390x")
    assert.is_nil(none)
    assert.equal("products has no supported images for s390x (4 for other architectures)", msg)
  end)

  it("keeps unsupported products only when asked", function()
    local imgs = assert(ss.parse_products(doc, "products", "amd64", { all = true }))
    assert.equal(3, #imgs)
    assert.is_false(imgs[1].supported)
  end)

  it("resolves aliases, product keys, releases and alias@version", function()
    local imgs = assert(ss.parse_products(doc, "products", "amd64"))
    assert.equal("20240301", ss.lookup(imgs, "tiny").version)
    assert.equal("20240301", ss.lookup(imgs, "default").version)
    assert.equal("20240301", ss.lookup(imgs, "os:tiny:amd64").version)
    assert.equal("20240101", ss.lookup(imgs, "tiny@20240101").version)
    assert.is_nil(ss.lookup(imgs, "eol"))
    assert.is_nil(ss.lookup(imgs, "tiny@19990101"))
    assert.is_nil(ss.lookup(imgs, "nothing"))
  end)

  it("prefers disk1.img over other disk items, by key or by ftype", function()
    local d = products({ p = { arch = "amd64", aliases = "p", versions = { v = { items = {
      ["uefi1.img"] = item("uefi.img", "1"), ["disk1.img"] = item("disk1.img", "2"),
    } } } }, q = { arch = "amd64", aliases = "q", versions = { v = { items = {
      ["img-a"] = item("a.img", "3", 1, "uefi1.img"),
      ["img-b"] = item("b.img", "4", 1, "disk1.img"),
    } } } } })
    local imgs = assert(ss.parse_products(d, "products", "amd64"))
    assert.equal("disk1.img", ss.lookup(imgs, "p").disk.path)
    assert.equal("b.img", ss.lookup(imgs, "q").disk.path)
  end)

  it("reports missing fields in one line when nothing is usable", function()
    local cases = {
      { "{", "products is not valid JSON (" },
      { "{}", 'products has no "products"' },
      { products({ p = { arch = "amd64", versions = { v = { items = {
        ["disk1.img"] = { path = "x.img", size = 1 } } } } } }),
        'products has no usable images: product "p" version "v" item "disk1.img" has no ' ..
        'valid "sha256"' },
      { products({ p = { arch = "amd64", versions = { v = { items = {
        ["disk1.img"] = { sha256 = sha("a"), size = 1 } } } } } }), 'has no "path"' },
      { products({ p = { arch = "amd64", versions = { v = { items = {
        ["disk1.img"] = { sha256 = sha("a"), path = "x" } } } } } }), 'has no valid "size"' },
      { products({ p = { arch = "amd64", versions = { v = { items = {} } } } }),
        'product "p" version "v" has no disk image item' },
    }
    for _, c in ipairs(cases) do
      local imgs, msg = ss.parse_products(c[1], "products", "amd64")
      assert.is_nil(imgs)
      assert.truthy(msg:find(c[2], 1, true), msg)
      assert.is_nil(msg:find("\n"))
    end
  end)

  it("skips a broken version when others are usable", function()
    local d = products({ p = { arch = "amd64", aliases = "p", versions = {
      ["2"] = { items = { ["disk1.img"] = { path = "x" } } },
      ["1"] = { items = { ["disk1.img"] = item("ok.img", "a") } },
    } } })
    local imgs = assert(ss.parse_products(d, "products", "amd64"))
    assert.equal(1, #imgs)
    assert.equal("1", imgs[1].version)
  end)

  it("picks LXD's items: squashfs over root.tar.xz, disk-kvm.img for VMs, with the " ..
    "fingerprints lxd.tar.xz names", function()
    local meta = item("m.tar.xz", "1", 400, "lxd.tar.xz")
    meta.combined_squashfs_sha256 = sha("2")
    meta["combined_disk-kvm-img_sha256"] = sha("3")
    meta.combined_rootxz_sha256 = sha("4")
    local d = products({
      ["p:both:amd64"] = { arch = "amd64", aliases = "both", versions = { ["1"] = { items = {
        ["disk1.img"] = item("d.img", "a"), ["lxd.tar.xz"] = meta,
        ["root.tar.xz"] = item("r.tar.xz", "b", 50, "root.tar.xz"),
        squashfs = item("r.squashfs", "c", 60, "squashfs"),
        ["disk-kvm.img"] = item("k.img", "d", 70, "disk-kvm.img"),
      } } } },
      -- LXD only: no disk1.img at all (as images.linuxcontainers.org's containers)
      ["p:lxdonly:amd64"] = { arch = "amd64", aliases = "lxdonly", versions = { ["1"] = {
        items = { ["lxd.tar.xz"] = { path = "m2", sha256 = sha("5"), size = 1,
          combined_rootxz_sha256 = sha("6") }, ["root.tar.xz"] = item("r2", "7") } } } },
      -- an lxd.tar.xz that does not say the fingerprint: no LXD image
      ["p:nofp:amd64"] = { arch = "amd64", aliases = "nofp", versions = { ["1"] = { items = {
        ["disk1.img"] = item("n.img", "8"), ["lxd.tar.xz"] = item("m3", "9"),
        squashfs = item("r3", "a") } } } },
    })
    local imgs = assert(ss.parse_products(d, "products", "amd64"))
    local both = ss.lookup(imgs, "both")
    assert.equal("d.img", both.disk.path)
    assert.same({ "m.tar.xz", "r.squashfs", "squashfs", sha("2") }, { both.lxd.metadata.path,
      both.lxd.rootfs.path, both.lxd.rootfs_item, both.lxd.fingerprint })
    assert.same({ "k.img", "disk-kvm.img", sha("3") }, { both.lxd_vm.rootfs.path,
      both.lxd_vm.rootfs_item, both.lxd_vm.fingerprint })
    local only = ss.lookup(imgs, "lxdonly")
    assert.is_nil(only.disk)
    assert.same({ "r2", "root.tar.xz", sha("6") }, { only.lxd.rootfs.path,
      only.lxd.rootfs_item, only.lxd.fingerprint })
    assert.is_nil(only.lxd_vm)
    local nofp = ss.lookup(imgs, "nofp")
    assert.equal("n.img", nofp.disk.path)
    assert.is_nil(nofp.lxd)
  end)

  it("maps the host arch (x86_64 is amd64)", function()
    assert.equal("amd64", ss.arches.x86_64)
    assert.equal("arm64", ss.arches.aarch64)
  end)
end)

describe("simplestreams Ubuntu fixtures", function()
  local index = assert(fs.read(fixtures .. "/ubuntu-index.json"))
  local prods = assert(fs.read(fixtures .. "/ubuntu-products.json"))

  it("finds the products file through the index", function()
    local path = assert(ss.parse_index(index, "fixture index"))
    assert.truthy(path:find("download", 1, true), path)
  end)

  it("parses the products for amd64 and arm64", function()
    for _, arch in ipairs({ "amd64", "arm64" }) do
      local imgs = assert(ss.parse_products(prods, "fixture products", arch))
      assert.truthy(#imgs >= 2)
      local seen = {}
      for _, img in ipairs(imgs) do
        assert.equal(arch, img.arch)
        assert.truthy(img.supported)
        assert.equal(64, #img.disk.sha256)
        assert.truthy(img.disk.size > 0)
        assert.truthy(#img.aliases == 0 or not seen[img.product])
        seen[img.product] = true
      end
    end
  end)

  it("resolves Ubuntu aliases to the newest version", function()
    local imgs = assert(ss.parse_products(prods, "fixture products", "amd64"))
    local doc = json.decode(prods)
    for key, p in pairs(doc.products) do
      if p.arch == "amd64" and p.supported ~= false and type(p.aliases) == "string" then
        local newest
        for v in pairs(p.versions) do
          if not newest or v > newest then newest = v end
        end
        for a in p.aliases:gmatch("[^,]+") do
          local img = ss.lookup(imgs, a)
          assert.is_table(img, a)
          assert.equal(key, img.product, a)
          assert.equal(newest, img.version, a)
          assert.truthy(img.disk.path:find("%.img$"), img.disk.path)
        end
      end
    end
  end)

  it("finds Ubuntu's LXD images (container and VM) with their fingerprints", function()
    local imgs = assert(ss.parse_products(prods, "fixture products", "amd64"))
    local jammy = ss.lookup(imgs, "22.04")
    assert.equal("squashfs", jammy.lxd.rootfs_item)
    assert.truthy(jammy.lxd.metadata.path:find("%-lxd%.tar%.xz$"), jammy.lxd.metadata.path)
    assert.truthy(jammy.lxd.rootfs.path:find("%.squashfs$"), jammy.lxd.rootfs.path)
    assert.equal("disk-kvm.img", jammy.lxd_vm.rootfs_item)
    local doc = json.decode(prods)
    local meta = doc.products[jammy.product].versions[jammy.version].items["lxd.tar.xz"]
    assert.equal(meta.combined_squashfs_sha256, jammy.lxd.fingerprint)
    assert.equal(meta["combined_disk-kvm-img_sha256"], jammy.lxd_vm.fingerprint)
  end)

  it("leaves unsupported releases out", function()
    local imgs = assert(ss.parse_products(prods, "fixture products", "amd64"))
    local doc = json.decode(prods)
    local unsupported = 0
    for key, p in pairs(doc.products) do
      if p.supported == false then
        unsupported = unsupported + 1
        for _, img in ipairs(imgs) do assert.not_equal(key, img.product) end
      end
    end
    assert.truthy(unsupported > 0, "the fixture should have an unsupported product")
  end)
end)

describe("manifest cache", function()
  local saved_cache, saved_fetch, dir, calls
  before_each(function()
    dir = helpers.tmpdir("ss")
    saved_cache, saved_fetch = paths.cache, ss.fetch
    paths.cache = dir
    calls = 0
    ss.fetch = function(base, arch)
      calls = calls + 1
      if base:find("down") then return nil, "remote unreachable: " .. base, "unreachable" end
      return { { product = "p", version = tostring(calls), aliases = { "p" }, arch = arch,
        disk = { path = "x", sha256 = sha("a"), size = 1 } } }
    end
  end)
  after_each(function()
    paths.cache, ss.fetch = saved_cache, saved_fetch
    fs.rmtree(dir)
  end)

  it("serves the cached manifest for 15 minutes, then fetches again", function()
    local t0 = 1700000000
    assert.equal("1", ss.catalogue("r", "http://h/", { now = t0 })[1].version)
    assert.equal("1", ss.catalogue("r", "http://h/", { now = t0 + 60 })[1].version)
    assert.equal("1", ss.catalogue("r", "http://h/", { now = t0 + 899 })[1].version)
    assert.equal(1, calls)
    assert.equal("2", ss.catalogue("r", "http://h/", { now = t0 + 900 })[1].version)
    assert.equal(2, calls)
    assert.truthy(fs.exists(dir .. "/manifests/r.json"))
  end)

  it("fetches again with force, for another URL, or for another arch", function()
    local t0 = 1700000000
    ss.catalogue("r", "http://h/", { now = t0 })
    ss.catalogue("r", "http://h/", { now = t0 + 1, force = true })
    ss.catalogue("r", "http://other/", { now = t0 + 2 })
    ss.catalogue("r", "http://other/", { now = t0 + 3, arch = "arm64" })
    assert.equal(4, calls)
  end)

  it("falls back to a stale copy only when the remote is unreachable", function()
    local t0 = 1700000000
    ss.fetch = function(base, arch)
      calls = calls + 1
      if calls > 1 then return nil, "remote unreachable: " .. base, "unreachable" end
      return { { product = "p", version = "1", aliases = {}, arch = arch,
        disk = { path = "x", sha256 = sha("a"), size = 1 } } }
    end
    ss.catalogue("r", "http://h/", { now = t0 })
    local imgs, msg, code, stale = ss.catalogue("r", "http://h/", { now = t0 + 3600 })
    assert.equal("1", imgs[1].version)
    assert.is_nil(msg)
    assert.is_nil(code)
    assert.is_true(stale)
    imgs, msg, code = ss.catalogue("r", "http://h/", { now = t0 + 3600, force = true })
    assert.is_nil(imgs)
    assert.equal("unreachable", code)
  end)

  it("has no stale copy to fall back to for a new remote", function()
    local imgs, msg, code = ss.catalogue("d", "http://down/", { now = 1 })
    assert.is_nil(imgs)
    assert.equal("remote unreachable: http://down/", msg)
    assert.equal("unreachable", code)
    assert.is_nil(fs.exists(dir .. "/manifests/d.json"))
  end)
end)
