-- The test driver behaves like a real driver where a user can tell, and never
-- runs anything on this host or touches its network: images are resolved and
-- checked, --network is honoured, addresses are never shared, images prune
-- keeps what instances use, exec/shell/transfer run in the sandbox, forward
-- and ssh-config are the dispatcher's "unsupported", and a recipe's step
-- writing /tmp/marker writes it in the guest.
local helpers = require("helpers")
local json = require("moonbase.engine.json")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
package.path = helpers.src .. "/tests/lua/?.lua;" .. package.path
local common = require("recipes.common")

local function one_line(err)
  assert.equal(1, #helpers.lines(err), err)
end

-- What this host's network looks like: links, addresses, routes, nft tables.
local function host_network()
  local out = {}
  for _, argv in ipairs({ { "ip", "-o", "link" }, { "ip", "-o", "addr" }, { "ip", "route" },
    { "nft", "list", "tables" } }) do
    local _, o = process.run(argv)
    out[#out + 1] = o or ""
  end
  return table.concat(out, "\n")
end

describe("test driver", function()
  local h
  before_each(function() h = helpers.home() end)
  after_each(function() h:cleanup() end)

  -- the home but its cache (a remote's manifest may be read again)
  local function state()
    local snap = helpers.snapshot(h.dir)
    for k in pairs(snap) do
      if k:match("^cache") then snap[k] = nil end
    end
    return snap
  end

  it("resolves and checks image references as every driver does", function()
    local before = state()
    for _, case in ipairs({
      { "local:nosuch", 2, 'image "nosuch" not found on remote "local"' },
      { "nowhere:tiny", 2, 'unknown remote "nowhere"' },
      { "Bad Ref!", 1, 'invalid image reference "Bad Ref!"' },
      { "file:///nonexistent/disk.qcow2", 2, "does not exist" },
    }) do
      local code, _, err = h:run({ "launch", case[1], "--name", "x" })
      assert.equal(case[2], code, err)
      assert.truthy(err:find(case[3], 1, true), err)
      one_line(err)
    end
    assert.same(before, state())
    h:ok({ "launch", "local:other", "--name", "x" })
    local info = json.decode(h:ok({ "info", "x", "--format", "json" })).x
    assert.equal("local:other", info.image)
  end)

  it("keeps the images its instances use when pruning", function()
    h:ok({ "launch", "local:other", "--name", "x" })
    h:ok({ "images", "pull", "-q", "local:a" })
    local out = h:ok({ "images", "prune" })
    local left = {}
    for _, img in ipairs(json.decode(h:ok({ "images", "--format", "json" }))) do
      left[img.image] = img.used_by
    end
    assert.same({ "x" }, left["local:other"], out)
    assert.is_nil(left["local:a"], out) -- used by nobody: pruned
  end)

  it("honours --network, never gives two instances one address, and changes no host network",
    function()
      local before = host_network()
      h:ok({ "network", "create", "back", "--subnet", "10.91.0.0/24" })
      h:ok({ "launch", "--name", "a", "--network", "name=back,ip=10.91.0.10" })
      h:ok({ "launch", "--name", "b", "--network", "back" })
      for i = 1, 6 do h:ok({ "launch", "--name", "n" .. i }) end
      local seen = {}
      for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
        for _, ip in ipairs(r.ipv4) do
          assert.is_nil(seen[ip], ip .. " given to " .. r.name .. " and " .. tostring(seen[ip]))
          seen[ip] = r.name
        end
      end
      assert.equal("a", seen["10.91.0.10"])
      local code, _, err = h:run({ "launch", "--name", "c", "--network", "name=back,ip=10.91.0.10" })
      assert.equal(1, code)
      one_line(err)
      code, _, err = h:run({ "launch", "--name", "c", "--network", "nosuch" })
      assert.equal(2, code)
      assert.truthy(err:find('there is no network "nosuch"', 1, true), err)
      local hosts = h:ok({ "hosts" })
      assert.truthy(hosts:find("10.91.0.10\ta.back.moonbase", 1, true), hosts)
      h:ok({ "networks", "--prune", "--force" })
      h:ok({ "delete", "--purge", "a", "b" })
      h:ok({ "network", "delete", "back" })
      assert.equal(before, host_network())
    end)

  it("runs exec, shell and transfer in its sandbox, not on this host", function()
    h:ok({ "launch", "--name", "box" })
    local code, out = h:run({ "exec", "box", "--", "sh", "-c",
      "id -u; hostname; cat /proc/1/cmdline | tr '\\0' ' '; ls /; test -e /etc/shadow || echo " ..
      "no-shadow; echo x > /tmp/marker" })
    assert.equal(0, code, out)
    local lines = helpers.lines(out)
    assert.equal("0", lines[1]) -- root inside, mapped to the caller outside
    assert.equal("box", lines[2]) -- its own UTS namespace
    assert.truthy(out:find("no-shadow", 1, true), out) -- none of the host's files
    assert.is_nil(fs.exists("/tmp/marker") and fs.read("/tmp/marker") == "x\n" or nil)
    assert.equal("x\n", fs.read(h.dir .. "/data/instances/test/box/rootfs/tmp/marker"))
    -- no network but loopback
    code, out = h:run({ "exec", "box", "--", "cat", "/proc/net/dev" })
    assert.equal(0, code)
    assert.is_nil(out:find("eth", 1, true), out)
    -- a shell reads its commands from stdin
    code, out = h:run({ "shell", "box" }, { input = "echo in-the-shell $HOME\nexit 4\n" })
    assert.equal(4, code)
    assert.truthy(out:find("in-the-shell /root", 1, true), out)
    -- transfer both ways
    local tmp = helpers.tmpdir("xfer")
    assert(fs.write(tmp .. "/up.txt", "up\n"))
    h:ok({ "transfer", tmp .. "/up.txt", "box:/root/up.txt" })
    assert.equal("up\n", h:ok({ "exec", "box", "--", "cat", "/root/up.txt" }))
    h:ok({ "transfer", "box:/etc/hostname", tmp .. "/hostname" })
    assert.equal("box\n", fs.read(tmp .. "/hostname"))
    fs.rmtree(tmp)
    -- nothing moonbase holds open reaches the guest: a descriptor of the
    -- caller's (7, a host file, inherited by moonbase) is not there
    local env = {}
    for k, v in pairs(h.env) do env[k] = v end
    local code2, fds = process.run({ "sh", "-c",
      'exec 7</etc/hostname; exec "$@"', "sh", helpers.bin, "exec", "box", "--", "sh", "-c",
      "ls /proc/$$/fd; true" }, { env = env })
    assert.equal(0, code2, fds)
    assert.same({ "0", "1", "2" }, helpers.lines((fds:gsub("%s+", "\n"))))
  end)

  it("refuses forward and ssh-config with the dispatcher's words, no traceback", function()
    h:ok({ "launch", "--name", "box" })
    local before = helpers.snapshot(h.dir)
    for _, case in ipairs({
      { { "forward", "box", "8080:80" }, "forward: unsupported: forward is not supported by " ..
        "the test driver\n" },
      { { "ssh-config", "box" }, "ssh-config: unsupported: SSH is not supported by the test " ..
        "driver\n" },
    }) do
      local code, _, err = h:run(case[1])
      assert.equal(2, code, err)
      assert.equal(case[2], err)
    end
    assert.same(before, helpers.snapshot(h.dir))
  end)
end)

describe("test driver recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  it("runs a sh step writing /tmp/marker in the guest, leaving nothing on the host", function()
    local marker = "/tmp/marker"
    local had = fs.read(marker)
    r:write("app.lua", 'instance "web" { provision = { sh "echo from-the-recipe > /tmp/marker" } }\n')
    r:ok({ "up", "app.lua", "-q" })
    assert.equal(had, fs.read(marker)) -- the host's /tmp is as it was
    assert.equal("from-the-recipe\n",
      fs.read(common.instance_dir(r, "app-web") .. "/rootfs/tmp/marker"))
    assert.equal("from-the-recipe\n", r:ok({ "exec", "app-web", "--", "cat", "/tmp/marker" }))
  end)
end)
