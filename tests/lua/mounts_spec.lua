-- mount / umount / launch --mount on the test driver: records and info, where
-- DST goes by default, and bad input (one-line errors, exit codes, nothing
-- changed on disk). The real guests are in tests/e2e/mounts_spec.lua.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")

local function mounts_of(h, name)
  return json.decode(h:ok({ "info", name, "--format", "json" }))[name].mounts
end

local function by_target(list)
  local t = {}
  for _, m in ipairs(list) do t[m.target] = m end
  return t
end

describe("mounts (test driver)", function()
  local h, tmp, src
  before_each(function()
    h = helpers.home()
    tmp = helpers.tmpdir("mnt")
    src = tmp .. "/src"
    assert(fs.mkdirs(src .. "/deep"))
    assert(fs.write(tmp .. "/file", "not a folder"))
    h:ok({ "launch", "--name", "a" })
    h:ok({ "launch", "--name", "s" })
    h:ok({ "stop", "s" })
  end)
  after_each(function()
    h:cleanup()
    fs.rmtree(tmp)
  end)

  -- Runs a command that must fail with exit code `code` and a one-line
  -- message matching `pattern`, and changes nothing in MOONBASE_HOME.
  local function refused(args, code, pattern, opts)
    local before = helpers.snapshot(h.dir)
    local rc, out, err = h:run(args, opts)
    assert.equal(code, rc, table.concat(args, " ") .. ": " .. err .. out)
    assert.equal("", out)
    assert.truthy(err:find(pattern), err)
    assert.equal(1, #helpers.lines(err), err)
    assert.same(before, helpers.snapshot(h.dir))
  end

  it("launch --mount records native mounts (the test driver has them) and info shows them",
    function()
      h:ok({ "launch", "--name", "m", "--mount", src, "--mount", src .. "/deep:/srv/deep" })
      local ms = mounts_of(h, "m")
      assert.equal(2, #ms)
      assert.same({ source = src, target = src, type = "native", readonly = false,
        tag = "moonbase0" }, ms[1])
      assert.same({ source = src .. "/deep", target = "/srv/deep", type = "native",
        readonly = false, tag = "moonbase1" }, ms[2])
      local info = h:ok({ "info", "m" })
      assert.truthy(info:find("Mounts: +" .. src:gsub("%p", "%%%0") .. " => " ..
        src:gsub("%p", "%%%0") .. ", " .. src:gsub("%p", "%%%0") .. "/deep => /srv/deep\n"),
        info)
      -- the driver was asked for each share
      local log = fs.read(h.dir .. "/data/instances/test/m/serial.log")
      assert.truthy(log:find("mount moonbase0 " .. src, 1, true), log)
      assert.truthy(log:find("mount moonbase1 " .. src .. "/deep", 1, true), log)
    end)

  it("DST defaults to SRC, or under the guest user's home for folders under $HOME",
    function()
      local home = tmp .. "/home"
      assert(fs.mkdirs(home .. "/code/app"))
      local env = { HOME = home }
      h:ok({ "mount", src, "a" }, { env = env })
      h:ok({ "mount", home .. "/code/app", "a" }, { env = env })
      h:ok({ "mount", home, "a" }, { env = env })
      -- relative SRC against the current directory, "." included
      h:ok({ "mount", "deep", "a:/rel" }, { env = env, cwd = src })
      h:ok({ "mount", ".", "a:/dot" }, { env = env, cwd = home .. "/code" })
      -- a symlinked SRC is served as the folder it points to
      assert(fs.symlink(home .. "/code", tmp .. "/link"))
      h:ok({ "mount", tmp .. "/link", "a:/linked" }, { env = env })
      local t = by_target(mounts_of(h, "a"))
      assert.equal(src, t[src].source)
      assert.equal(home .. "/code/app", t["/home/moonbase/code/app"].source)
      assert.equal(home, t["/home/moonbase"].source)
      assert.equal(src .. "/deep", t["/rel"].source)
      assert.equal(home .. "/code", t["/dot"].source)
      assert.equal(home .. "/code", t["/linked"].source)
    end)

  it("normalizes DST and keeps a mount's type, readonly flag and id maps", function()
    h:ok({ "mount", "--type", "classic", "--readonly", "--uid-map", "1000:501",
      "--uid-map", "0:0", "--gid-map", "1000:20", src, "a://srv//data/./x/" })
    local m = mounts_of(h, "a")[1]
    assert.same({ source = src, target = "/srv/data/x", type = "classic", readonly = true,
      uid_map = { "1000:501", "0:0" }, gid_map = { "1000:20" } }, m)
  end)

  it("mounts one folder into several instances, all or nothing", function()
    h:ok({ "mount", src, "a:/one", "s:/two" })
    assert.equal("/one", mounts_of(h, "a")[1].target)
    assert.equal("/two", mounts_of(h, "s")[1].target)
    refused({ "mount", src, "a:/three", "nosuch:/x" }, 2, "instance \"nosuch\" does not exist")
    refused({ "mount", src, "a:/three", "s:/two" }, 1, "already has a mount at /two")
    refused({ "mount", src, "a:/four", "a:/four" }, 1, "a:/four given twice")
  end)

  it("a native mount on a stopped instance applies at its next start", function()
    local rc, out, err = h:run({ "mount", src, "s:/later" })
    assert.equal(0, rc, err)
    assert.equal("", out)
    assert.truthy(err:find("applies when s starts", 1, true), err)
    h:ok({ "start", "s" })
    assert.equal("/later", mounts_of(h, "s")[1].target)
  end)

  it("refuses bad input with one line and changes nothing", function()
    h:ok({ "mount", src, "a:/taken" })
    refused({ "mount", tmp .. "/nonexistent", "a:/x" }, 1,
      "^mount: source \"[^\"]*/nonexistent\" does not exist\n$")
    refused({ "mount", tmp .. "/file", "a:/x" }, 1, "is not a directory")
    refused({ "mount", src, "a:relative/dir" }, 1,
      "^mount: target \"relative/dir\" must be an absolute path in the guest\n$")
    refused({ "mount", src, "a:/srv/../etc" }, 1, "must not contain \"..\"")
    refused({ "mount", src, "a:/" }, 1, "would hide the guest's root")
    refused({ "mount", src, "a:/taken" }, 1,
      "^mount: \"a\" already has a mount at /taken %(try: moonbase umount a:/taken%)\n$")
    refused({ "mount", src, "a://taken/" }, 1, "already has a mount at /taken")
    refused({ "mount", src, "ghost:/x" }, 2,
      "^mount: instance \"ghost\" does not exist %(try: moonbase list%)\n$")
    refused({ "mount", "--type", "classic", src, "s:/x" }, 2,
      "instance \"s\" is stopped %(classic mounts need a running instance")
    refused({ "mount", "--uid-map", "1000:1000", src, "a:/x" }, 1,
      "apply to classic mounts")
    refused({ "mount", "--type", "classic", "--uid-map", "1000", src, "a:/x" }, 1,
      "needs HOST:GUEST ids, got \"1000\"")
    refused({ "mount", "--type", "sideways", src, "a:/x" }, 1, "not one of: native, classic")
    refused({ "mount", src }, 1, "missing arguments")
    refused({ "mount", src, ":/x" }, 1, "no instance name")
    h:ok({ "suspend", "a" })
    refused({ "mount", src, "a:/x" }, 2, "instance \"a\" is suspended")
    h:ok({ "start", "a" })
    h:ok({ "delete", "s" })
    refused({ "mount", src, "s:/x" }, 2, "instance \"s\" is deleted")
  end)

  it("launch --mount with a bad mount creates nothing", function()
    refused({ "launch", "--name", "n", "--mount", tmp .. "/nonexistent" }, 1,
      "^launch: source \"[^\"]*/nonexistent\" does not exist\n$")
    refused({ "launch", "--name", "n", "--mount", src .. ":rel" }, 1,
      "must be an absolute path in the guest")
    refused({ "launch", "--name", "n", "--mount", src .. ":/x", "--mount", src .. "/deep:/x" },
      1, "two mounts at /x")
    assert.is_nil(fs.exists(h.dir .. "/data/instances/test/n"))
  end)

  it("umount removes one mount or all of them, and refuses what is not there", function()
    h:ok({ "mount", src, "a:/one" })
    h:ok({ "mount", src .. "/deep", "a:/two" })
    h:ok({ "mount", "--type", "classic", src, "a:/three" })
    h:ok({ "umount", "a:/two" })
    local t = by_target(mounts_of(h, "a"))
    assert.is_nil(t["/two"])
    assert.truthy(t["/one"] and t["/three"])
    local log = fs.read(h.dir .. "/data/instances/test/a/serial.log")
    assert.truthy(log:find("umount moonbase1", 1, true), log)
    refused({ "umount", "a:/two" }, 1,
      "^umount: \"a\" has no mount at /two %(try: moonbase info a%)\n$")
    refused({ "umount", "a:rel" }, 1, "must be an absolute path")
    refused({ "umount", "ghost" }, 2, "instance \"ghost\" does not exist")
    h:ok({ "umount", "a" })
    assert.same({}, mounts_of(h, "a"))
    refused({ "umount", "a" }, 1, "^umount: \"a\" has no mounts\n$")
    -- a freed tag is used again
    h:ok({ "mount", src, "a:/again" })
    assert.equal("moonbase0", mounts_of(h, "a")[1].tag)
  end)

  it("mounts survive stop/start and show in info --format json of every instance",
    function()
      h:ok({ "mount", src, "a:/kept" })
      h:ok({ "stop", "a" })
      h:ok({ "start", "a" })
      assert.equal("/kept", mounts_of(h, "a")[1].target)
      local all = json.decode(h:ok({ "info", "--all", "--format", "json" }))
      assert.equal("/kept", all.a.mounts[1].target)
      assert.same({}, all.s.mounts)
    end)
end)

describe("mounts (module)", function()
  local mounts = require("moonbase.mounts")

  it("splits NAME[:DST] and SRC[:DST]", function()
    assert.same({ "vm", "/x" }, { mounts.split_instance_target("vm:/x") })
    assert.same({ "vm" }, { mounts.split_instance_target("vm") })
    assert.same({ "vm", "/a:b" }, { mounts.split_instance_target("vm:/a:b") })
    assert.same({ "/src", "/dst" }, { mounts.split_source_target("/src:/dst") })
    assert.same({ "/src" }, { mounts.split_source_target("/src") })
    assert.same({ "/a:b", "/dst" }, { mounts.split_source_target("/a:b:/dst") })
  end)

  it("turns a driver without native mounts into the dispatcher's unsupported error",
    function()
      local fake = {
        has = function() return false end,
        supports = function(_, cap, what)
          assert.equal("native_mounts", cap)
          return nil, "unsupported: " .. what .. " is not supported by the fake driver",
            "unsupported"
        end,
        mount_native = function() error("not asked: the capability says it") end,
      }
      assert.equal("classic", mounts.default_type(fake))
      local ok, err = pcall(mounts.for_launch, { { source = "/tmp", type = "native" } }, fake)
      assert.is_false(ok)
      assert.equal("unsupported", err.code)
      assert.equal("launch: unsupported: mount_native is not supported by the fake driver " ..
        "(try: --type classic)", err.message)
      -- classic needs nothing from the driver
      local list = mounts.for_launch({ "/tmp:/host-tmp" }, fake)
      assert.same({ { source = fs.realpath("/tmp"), target = "/host-tmp", type = "classic",
        readonly = false } }, list)
    end)

  it("builds guest commands that quote and escape paths", function()
    local m = { source = "/h", target = "/mnt/it's here", tag = "moonbase3", type = "native",
      readonly = true }
    local cmd = mounts.native_mount_command(m)
    assert.truthy(cmd:find("'/mnt/it'\\''s here'", 1, true), cmd)
    assert.truthy(cmd:find("'/mnt/it'\\''s\\040here'", 1, true), cmd)
    assert.truthy(cmd:find("msize=524288,ro", 1, true), cmd)
    local fstab = mounts.fstab_command({ m })
    assert.truthy(fstab:find("moonbase3 /mnt/it'\\''s\\040here 9p ", 1, true), fstab)
    local c = mounts.classic_command({ target = "/srv/x", readonly = true })
    assert.truthy(c:find("slave,allow_other,default_permissions,ro", 1, true), c)
    assert.truthy(c:find(mounts.NO_SSHFS, 1, true), c)
    local req = mounts.agent_request({ source = "/h", target = "/srv/x" }, { uid = 1000,
      gid = 1001 })
    assert.truthy(req.uid_map:match("^%d+:1000$"), req.uid_map)
    assert.truthy(req.gid_map:match("^%d+:1001$"), req.gid_map)
    req = mounts.agent_request({ source = "/h", target = "/x", uid_map = { "5:6", "7:8" } },
      { uid = 1, gid = 2 })
    assert.equal("5:6,7:8", req.uid_map)
    assert.same({ uid = 1000, gid = 1001 }, mounts.parse_ids("1000\n1001\n"))
    assert.is_nil(mounts.parse_ids("sh: id: not found"))
  end)
end)
