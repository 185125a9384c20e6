-- The command line as a user meets it: help, usage errors, exit codes, version.
local helpers = require("helpers")

describe("moonbase CLI", function()
  local h
  before_each(function() h = helpers.home({ driver = false }) end)
  after_each(function() h:cleanup() end)

  it("lists every bundled command with a summary", function()
    local out = h:ok({ "help" })
    for _, c in ipairs({ "launch", "list", "info", "start", "stop", "restart", "suspend",
      "delete", "recover", "purge", "get", "set", "unset", "alias", "aliases", "unalias",
      "version", "exec" }) do
      assert.truthy(out:find("\n  " .. c .. " +%S"), c .. " missing from help:\n" .. out)
    end
    assert.equal(out, h:ok({}))
    assert.equal(out, h:ok({ "--help" }))
  end)

  it("prints a command's usage with help CMD and CMD --help", function()
    local a = h:ok({ "help", "launch" })
    local b = h:ok({ "launch", "--help" })
    assert.equal(a, b)
    assert.truthy(a:find("^Usage: moonbase launch"))
    assert.truthy(a:find("--memory SIZE", 1, true))
  end)

  it("suggests the closest command for a typo, exit 1", function()
    local code, out, err = h:run({ "lsit" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal('moonbase: unknown command "lsit" (did you mean "list"? try: moonbase help)\n',
      err)
    code, _, err = h:run({ "frobnicate" })
    assert.equal(1, code)
    assert.equal('moonbase: unknown command "frobnicate" (try: moonbase help)\n', err)
  end)

  it("reports bad options on one line with exit 1", function()
    local code, _, err = h:run({ "list", "--bogus" })
    assert.equal(1, code)
    assert.equal("list: unknown option --bogus (try: moonbase list --help)\n", err)
    code, _, err = h:run({ "launch", "--memory", "lots" })
    assert.equal(1, code)
    assert.truthy(err:find('^launch: %-%-memory: invalid size "lots"'))
    assert.equal(1, #helpers.lines(err))
  end)

  it("takes -v, --verbose and --debug before or after the command; -v alone is no command",
    function()
      local code, out, err = h:run({ "-v" })
      assert.equal(1, code)
      assert.equal("", out)
      assert.equal("moonbase: -v needs a command after it, e.g. moonbase -v list (try: " ..
        "moonbase help)\n", err)
      code, _, err = h:run({ "-x", "list" })
      assert.equal(1, code)
      assert.equal('moonbase: unknown option "-x": moonbase\'s own options are -v, --verbose, ' ..
        "--debug, --server, --help and --version, before the command (try: moonbase help)\n",
        err)
      local plain = h:ok({ "list" })
      for _, args in ipairs({ { "-v", "list" }, { "-vv", "list" }, { "--verbose", "list" },
        { "list", "-v" }, { "list", "--debug" }, { "--debug", "list" } }) do
        code, out, err = h:run(args)
        assert.equal(0, code, err)
        assert.equal(plain, out, table.concat(args, " "))
      end
    end)

  it("never prints a Lua traceback: a bug is one line and where its details are", function()
    -- a bug planted in a copy of the source tree (MOONBASE_LUA_DEV)
    local dev = helpers.tmpdir("dev")
    local process = require("moonbase.engine.process")
    process.run({ "cp", "-r", helpers.src .. "/lua", helpers.src .. "/cli", dev })
    local fs = require("moonbase.engine.fs")
    local text = fs.read(dev .. "/cli/aliases.lua")
    fs.write(dev .. "/cli/aliases.lua", text:gsub("run = function%(opts%)",
      "run = function(opts) local x = nil; x.boom()", 1))
    local code, out, err = h:run({ "aliases" }, { env = { MOONBASE_LUA_DEV = dev } })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal(1, #helpers.lines(err), err)
    assert.is_nil(err:find("traceback", 1, true))
    assert.truthy(err:find("^aliases: internal error: .*aliases%.lua:%d+: attempt to index a " ..
      "nil value %(local 'x'%) %(a bug: details in " .. h.dir:gsub("%p", "%%%0") ..
      "/data/logs/errors%.log%)\n$"), err)
    fs.rmtree(dev)
  end)

  it("prints versions of moonbase and the linked libraries", function()
    local out = h:ok({ "version" })
    for _, k in ipairs({ "moonbase", "lua", "libcurl", "libssh2", "libvirt", "libyaml" }) do
      assert.truthy(out:find("\n?" .. k .. " +%d"), k .. " missing:\n" .. out)
    end
    local json = require("moonbase.engine.json")
    local v = json.decode(h:ok({ "version", "--format", "json" }))
    assert.truthy(v.lua:match("^5%.4%.%d+$"), v.lua)
    assert.truthy(v.libssh2:match("^%d+%.%d+"))
  end)

  it("loads Lua from the source tree with MOONBASE_LUA_DEV", function()
    local dev = helpers.tmpdir("dev")
    local process = require("moonbase.engine.process")
    process.run({ "cp", "-r", helpers.src .. "/lua", helpers.src .. "/cli", dev })
    local fs = require("moonbase.engine.fs")
    local text = fs.read(dev .. "/cli/version.lua")
    fs.write(dev .. "/cli/version.lua", text:gsub('summary = "[^"]*"', 'summary = "DEV COPY"'))
    local out = h:ok({ "help" }, { env = { MOONBASE_LUA_DEV = dev } })
    assert.truthy(out:find("DEV COPY", 1, true))
    assert.is_nil(h:ok({ "help" }):find("DEV COPY", 1, true))
    fs.rmtree(dev)
  end)

  it("shows tracebacks with moonbase/ chunknames", function()
    local code, _, err = h:run({ "--lua", "/dev/null" })
    assert.equal(0, code)
    local process = require("moonbase.engine.process")
    local c2, out = process.run({ helpers.bin, "--lua", helpers.src .. "/tests/lua/fixtures/traceback.lua" })
    assert.equal(0, c2)
    assert.truthy(out:find("@moonbase/args.lua", 1, true), out)
    assert.equal("", err)
  end)
end)
