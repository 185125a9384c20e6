-- Extending moonbase: user Lua commands, moonbase-<name> executables on PATH,
-- and aliases that run a command in an instance.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")

describe("user commands", function()
  local h
  before_each(function() h = helpers.home() end)
  after_each(function() h:cleanup() end)

  local function user_command(name, body)
    fs.mkdirs(h.dir .. "/config/commands")
    fs.write(h.dir .. "/config/commands/" .. name .. ".lua", body)
  end

  it("runs a Lua script with arg and the moonbase API", function()
    user_command("hello", [[
local instance = require("moonbase.instance")
print("hello " .. table.concat(arg, "+") .. " from " .. arg[0]:match("[^/]+$"))
print(#instance.records() .. " instances")
return 7
]])
    h:ok({ "launch", "--name", "a" })
    local code, out = h:run({ "hello", "x", "--y" })
    assert.equal(7, code)
    assert.equal("hello x+--y from hello.lua\n1 instances\n", out)
  end)

  it("runs a command module with options, help and usage errors like bundled ones", function()
    user_command("greet", [[
return {
  summary = "Greets someone",
  usage = "moonbase greet NAME [--loud]",
  options = { { "loud", "l", type = "flag", help = "shout" } },
  min_args = 1,
  run = function(opts)
    local s = "hi " .. opts[1]
    print(opts.loud and s:upper() or s)
  end,
}
]])
    assert.equal("HI BOB\n", h:ok({ "greet", "bob", "-l" }))
    assert.truthy(h:ok({ "greet", "--help" }):find("Usage: moonbase greet NAME", 1, true))
    local code, _, err = h:run({ "greet", "--quiet" })
    assert.equal(1, code)
    assert.equal("greet: unknown option --quiet (try: moonbase greet --help)\n", err)
    local help = h:ok({ "help" })
    assert.truthy(help:find("User commands:\n  greet", 1, true), help)
  end)

  it("finds commands under XDG_CONFIG_HOME when MOONBASE_HOME is unset", function()
    local xdg = helpers.tmpdir("xdg")
    fs.mkdirs(xdg .. "/moonbase/commands")
    fs.write(xdg .. "/moonbase/commands/where.lua", 'print("xdg")')
    local process = require("moonbase.engine.process")
    local code, out = process.run({ helpers.bin, "where" },
      { env = { MOONBASE_HOME = false, XDG_CONFIG_HOME = xdg, XDG_DATA_HOME = xdg .. "/d",
        XDG_CACHE_HOME = xdg .. "/c" } })
    assert.equal(0, code)
    assert.equal("xdg\n", out)
    fs.rmtree(xdg)
  end)

  it("lets a user command shadow a bundled one only with a warning", function()
    user_command("list", 'print("mine")')
    local code, out, err = h:run({ "list" })
    assert.equal(0, code)
    assert.equal("mine\n", out)
    assert.truthy(err:find('warning: your command .*list.lua shadows the bundled command "list"'),
      err)
  end)

  it("reports a bug in a user command as one line with where its details are", function()
    user_command("buggy", 'local t = nil\nreturn t.field')
    local code, out, err = h:run({ "buggy" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal(1, #helpers.lines(err), err)
    local log = err:match("^buggy: internal error: .*buggy%.lua:2: attempt to index a nil " ..
      "value %(local 't'%) %(a bug: details in (.-)%)\n$")
    assert.truthy(log, err)
    assert.equal(h.dir .. "/data/logs/errors.log", log)
    local details = fs.read(log)
    assert.truthy(details:find("stack traceback:", 1, true), details)
    assert.truthy(details:find("moonbase buggy", 1, true), details)
    -- --debug shows the traceback as well
    code, _, err = h:run({ "--debug", "buggy" })
    assert.equal(2, code)
    assert.truthy(err:find("stack traceback:", 1, true), err)
  end)

  it("reports errors raised in a user command as one line, exit 2", function()
    user_command("boom", 'require("moonbase.errors").raise("it broke (try: fixing it)")')
    local code, _, err = h:run({ "boom" })
    assert.equal(2, code)
    assert.equal("boom: it broke (try: fixing it)\n", err)
  end)
end)

describe("moonbase-<name> executables", function()
  local h, bindir
  before_each(function()
    h = helpers.home()
    bindir = helpers.tmpdir("bin")
    fs.write(bindir .. "/moonbase-ext", "#!/bin/sh\necho \"ext:$*\"\necho \"$MOONBASE\" >&2\nexit 4\n",
      tonumber("755", 8))
    fs.write(bindir .. "/moonbase-version", "#!/bin/sh\necho fake\n", tonumber("755", 8))
    h.env.PATH = bindir .. ":" .. os.getenv("PATH")
  end)
  after_each(function()
    h:cleanup()
    fs.rmtree(bindir)
  end)

  it("runs them with the arguments and passes the exit status", function()
    local code, out, err = h:run({ "ext", "a", "--b" })
    assert.equal(4, code)
    assert.equal("ext:a --b\n", out)
    assert.truthy(err:find("moonbase", 1, true)) -- $MOONBASE points to the binary
    assert.truthy(h:ok({ "help" }):find("User commands:\n  ext", 1, true))
  end)

  it("never lets one shadow a bundled command silently", function()
    local code, out, err = h:run({ "version" })
    assert.equal(0, code)
    assert.truthy(out:find("^moonbase"))
    assert.truthy(err:find("moonbase-version is ignored", 1, true), err)
  end)

  it("lists an ignored one once in help, marked as shadowed", function()
    local out = h:ok({ "help" })
    local lines = {}
    for l in out:gmatch("[^\n]+") do
      if l:find("moonbase-version", 1, true) then lines[#lines + 1] = l end
    end
    assert.equal(1, #lines, out)
    assert.truthy(lines[1]:find("^  version +" .. bindir:gsub("%p", "%%%0") ..
      "/moonbase%-version  %(ignored: shadowed by the bundled command%)$"), lines[1])
  end)

  -- the rule for drivers: nothing another user could have changed is run
  local function refused_case(label, prepare, why)
    it("refuses one " .. label .. ", with the reason, and runs nothing", function()
      local marker = bindir .. "/ran"
      local path = prepare(marker)
      local code, out, err = h:run({ "evil", "x" })
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.equal("moonbase: refusing to run the user command " .. path .. ": " .. why(path)
        .. "\n", err)
      assert.is_nil((fs.exists(marker)))
      local help = h:ok({ "help" })
      assert.truthy(help:find("  evil +" .. path:gsub("%p", "%%%0") .. "  %(refused: "), help)
    end)
  end
  local function evil(dir, marker, mode)
    local path = dir .. "/moonbase-evil"
    fs.write(path, "#!/bin/sh\ntouch " .. marker .. "\n", tonumber(mode, 8))
    assert(os.execute("chmod " .. mode .. " " .. path))
    return path
  end
  refused_case("writable by other users", function(marker)
    return evil(bindir, marker, "777")
  end, function(p) return "writable by other users (try: chmod go-w " .. p .. ")" end)
  refused_case("owned by another user", function(marker)
    local p = evil(bindir, marker, "755")
    assert(os.execute("chown 65534 " .. p))
    return p
  end, function() return "owned by another user (uid 65534)" end)
  local shared
  refused_case("in a world-writable directory (even a sticky one, as /tmp)", function(marker)
    shared = helpers.tmpdir("shared")
    assert(os.execute("chmod 1777 " .. shared))
    h.env.PATH = shared .. ":" .. h.env.PATH
    return evil(shared, marker, "755")
  end, function() return "in a world-writable directory (" .. shared .. ")" end)
end)

describe("a user Lua command another user could change", function()
  it("is refused with the reason and not run", function()
    local h = helpers.home()
    fs.mkdirs(h.dir .. "/config/commands")
    local path = h.dir .. "/config/commands/evil.lua"
    fs.write(path, "io.open(" .. string.format("%q", h.dir .. "/ran") .. ", 'w'):close()\n")
    assert(os.execute("chmod 666 " .. path))
    local code, out, err = h:run({ "evil" })
    local ran = fs.exists(h.dir .. "/ran") == true
    h:cleanup()
    assert.falsy(ran)
    assert.equal(2, code, err)
    assert.equal("", out)
    assert.equal("moonbase: refusing to run the user command " .. path
      .. ": writable by other users (try: chmod go-w " .. path .. ")\n", err)
  end)
end)

describe("aliases", function()
  local h
  before_each(function()
    h = helpers.home()
    h:ok({ "launch", "--name", "box" })
  end)
  after_each(function() h:cleanup() end)

  it("creates, lists, runs and removes an alias", function()
    h:ok({ "alias", "box:echo", "say" })
    assert.equal("Alias  Instance  Command\nsay    box       echo\n", h:ok({ "aliases" }))
    local json = require("moonbase.engine.json")
    local list = json.decode(h:ok({ "aliases", "--format", "json" }))
    assert.same({ { alias = "say", instance = "box", command = "echo" } }, list)
    assert.equal("hello world\n", h:ok({ "say", "hello", "world" }))
    assert.truthy(h:ok({ "help" }):find("Aliases:\n  say  box:echo", 1, true))
    h:ok({ "unalias", "say" })
    assert.equal("No aliases defined.\n", h:ok({ "aliases" }))
    local code = h:run({ "say" })
    assert.equal(1, code)
  end)

  it("names an alias after the command by default and passes exit codes", function()
    h:ok({ "alias", "box:/bin/false" })
    local code = h:run({ "false" })
    assert.equal(1, code)
  end)

  local bad = {
    { { "alias", "nocolon" }, 1, 'expected INSTANCE:COMMAND, got "nocolon"' },
    { { "alias", "ghost:ls" }, 2, 'instance "ghost" does not exist' },
    { { "alias", "box:ls", "list" }, 1, '"list" is a moonbase command' },
    { { "alias", "box:ls", "Bad!" }, 1, 'invalid alias name "Bad!"' },
    { { "unalias", "nope" }, 2, 'no alias "nope"' },
  }
  for _, case in ipairs(bad) do
    it("refuses " .. table.concat(case[1], " "), function()
      local before = helpers.snapshot(h.dir)
      local code, _, err = h:run(case[1])
      assert.equal(case[2], code, err)
      assert.truthy(err:find(case[3], 1, true), err)
      assert.same(before, helpers.snapshot(h.dir))
    end)
  end

  it("refuses a duplicate alias", function()
    h:ok({ "alias", "box:ls" })
    local code, _, err = h:run({ "alias", "box:ls" })
    assert.equal(2, code)
    assert.truthy(err:find('"ls" already exists (try: moonbase unalias ls)', 1, true), err)
  end)
end)
