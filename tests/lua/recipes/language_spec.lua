-- The recipe language on the test driver: every mistake is found by `plan`
-- (and `up`) before anything is launched, with its file:line and a hint, and
-- nothing changes on disk; parameters are typed by their defaults.
local helpers = require("helpers")
local common = require("recipes.common")
local fs = require("moonbase.engine.fs")

describe("recipe language #recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  -- each case: a recipe, then the lines its errors must contain (file:line: text)
  local cases = {
    { "an unknown key, with a suggestion", [[
instance "db" {
  image = "local:tiny",
  cpu = 2,
}
]], { 'app.lua:3: instance "db": unknown key "cpu" (did you mean "cpus"?)' } },
    { "a key that is nothing like a known one", [[
instance "db" { colour = "blue" }
]], { 'app.lua:1: instance "db": unknown key "colour" (keys: image, cpus, memory' } },
    { "wrong types", [[
instance "db" {
  image = 5,
  cpus = "2",
  cloud_init = 12,
  provision = { "echo hi" },
  ready = "yes",
  depends_on = 5,
  timeout = "soon",
}
]], { 'app.lua:2: instance "db": image must be a string like "local:tiny"',
      'app.lua:3: instance "db": cpus must be a whole number from 1 to 256, got 2',
      'app.lua:4: instance "db": cloud_init must be a string',
      'app.lua:5: instance "db": provision step 1 is a bare string: wrap it, sh [[...]]',
      'app.lua:6: instance "db": ready must be a probe: probe.tcp(5432)',
      'app.lua:7: instance "db": depends_on must be a list of instance names',
      'app.lua:8: instance "db": timeout must be a duration' } },
    { "bad sizes", [[
instance "a" {
  memory = "lots",
  disk = 100,
}
instance "b" { memory = "1M", disk = "100M" }
]], { 'app.lua:2: instance "a": memory: not a size "lots"',
      'app.lua:3: instance "a": disk: use a size with a unit, like "2G" or "512M"',
      'app.lua:5: instance "b": memory must be at least 128M, got 1M',
      'app.lua:5: instance "b": disk must be at least 512M, got 100M' } },
    { "a depends_on that names no instance", [[
instance "db" {}
instance "web" {
  depends_on = { "dbb" },
}
]], { 'app.lua:3: instance "web": depends_on names no instance "dbb" (did you mean "db"?)' } },
    { "a dependency cycle", [[
instance "a" { depends_on = { "c" } }
instance "b" {
  depends_on = { "a" },
}
instance "c" {
  depends_on = { "b" },
}
]], { "dependency cycle: a -> c -> b -> a" } },
    { "a cycle through a ref", [[
instance "a" { provision = { sh("echo " .. ref("b").ipv4) } }
instance "b" { depends_on = { "a" } }
]], { "app.lua:1: dependency cycle: a -> b -> a" } },
    { "an instance that depends on itself", [[
instance "a" { depends_on = { "a" } }
]], { 'app.lua:1: instance "a" depends on itself' } },
    { "two instances with one name", [[
instance "db" {}
instance "web" {}
instance "db" { cpus = 2 }
]], { 'app.lua:3: instance "db" is declared twice (first at app.lua:1; names must be unique)' } },
    { "a mount source that does not exist", [[
instance "web" {
  mounts = { { "./site", "/srv/site" } },
}
]], { 'app.lua:2: instance "web": mount source "./site" does not exist' } },
    { "a host port forwarded twice", [[
instance "a" { forwards = { [8080] = 80 } }
instance "b" {
  forwards = { "8080:81" },
}
]], { 'app.lua:3: instance "b": host port 8080/tcp is already forwarded to "a"' } },
    { "a forward of another protocol", [[
instance "a" { forwards = { ["5353/sctp"] = 53, [70000] = 1 } }
]], { 'app.lua:1: instance "a": forwards: the protocol is tcp or udp, got sctp',
      'app.lua:1: instance "a": forwards: 70000 -> 1: ports are whole numbers from 1 to 65535' } },
    { "bridged that is not a boolean", [[
instance "a" { bridged = "yes" }
]], { 'app.lua:1: instance "a": bridged must be true or false' } },
    { "a host that is not a remote host's URI", [[
instance "a" { host = "qemu:///system" }
]], { 'app.lua:1: instance "a": host must be "local" or a remote host\'s URI such as ' ..
      '"qemu+ssh://user@host/system" (libvirt) or "lxd+https://host:8443" (LXD)' } },
    { "a ref to no instance", [[
instance "web" {}
output("x", ref("webb").ipv4)
]], { 'app.lua:2: ref("webb"): no instance "webb" in this recipe (did you mean "web"?)' } },
    { "a ref field that does not exist", [[
instance "web" {}
local x = ref("web").address
]], { 'app.lua:2: ref("web"): no field "address" (fields: name, ipv4, ssh, exec)' } },
    { "a ref used as a plain string", [[
instance "web" {}
local x = ref("web").ipv4:upper()
]], { "app.lua:2: a ref's value" } },
    { "a cloud_init that uses its own address", [[
instance "web" { cloud_init = "#cloud-config\nhostname: " .. ref("web").ipv4 }
]], { 'app.lua:1: instance "web": its cloud_init uses its own ipv4' } },
    { "invalid cloud-init YAML", [[
instance "web" {
  cloud_init = "#cloud-config\nruncmd: [ unclosed\n",
}
]], { 'app.lua:2: instance "web": cloud_init is not valid YAML' } },
    { "a missing file", [[
instance "web" {
  cloud_init = file "nope.yaml",
}
]], { 'app.lua:2: file: "nope.yaml" does not exist in ' } },
    { "a copy source that does not exist", [[
instance "web" { provision = {
  copy { src = "conf/", dst = "/etc/app/" },
} }
]], { 'app.lua:2: copy: "conf/" does not exist in ' } },
    { "a relative copy destination", [[
instance "web" { provision = { copy { "app.lua", "etc/app" } } }
]], { 'app.lua:1: copy: dst "etc/app" must be an absolute path in the guest' } },
    { "an unknown probe", [[
instance "web" { ready = probe.http(80) }
]], { "app.lua:1: probe.http does not exist (probes: tcp, exec, file)" } },
    { "a bad port", [[
instance "web" { ready = probe.tcp(70000) }
]], { "app.lua:1: probe.tcp: the port must be a whole number from 1 to 65535" } },
    { "an unknown global", [[
instnce "web" {}
]], { 'app.lua:1: unknown global "instnce" (did you mean "instance"?)' } },
    { "a Lua syntax error", [[
instance "web" {
  cpus = 2
  memory = "1G",
}
]], { "app.lua:3: '}' expected (to close '{' at line 1) near 'memory'" } },
    { "project after instances", [[
instance "web" {}
project "shop"
]], { "app.lua:2: project must come before instances" } },
    { "a project name that is not a name", [[
project "My Shop"
]], { 'app.lua:1: project "My Shop": use lowercase letters' } },
    { "an instance name that is not a name", [[
instance "Web_1" {}
]], { 'app.lua:1: instance "Web_1": use lowercase letters, digits and dashes' } },
    { "a name too long with the project prefix", [[
project "a-rather-long-project-name-for-this"
instance "and-a-rather-long-instance-name-too-yes" {}
]], { 'app.lua:2: instance "and-a-rather-long-instance-name-too-yes": its name with the ' ..
      'project prefix: invalid instance name' } },
    { "an error in a module of the recipe's folder", [[
local lib = require("lib.web")
lib.web(1)
]], { "lib/web.lua:3: instance \"web1\": unknown key \"cpu\"" },
      { ["lib/web.lua"] = "local M = {}\nfunction M.web(i)\n  instance (\"web\" .. i) { cpu = 1 }\nend\nreturn M\n" } },
  }
  for _, case in ipairs(cases) do
    if #case[3] > 0 then
      it("refuses " .. case[1] .. ", with file:line, changing nothing", function()
        for name, text in pairs(case[4] or {}) do r:write(name, text) end
        r:write("app.lua", case[2])
        local before = helpers.snapshot(r.home)
        for _, cmd in ipairs({ "plan", "up" }) do
          local code, out, err = r:run({ cmd, "app.lua" })
          assert.equal(1, code, cmd .. ": " .. err .. out)
          assert.equal("", out)
          for _, want in ipairs(case[3]) do
            assert.truthy(err:find(want, 1, true), cmd .. ": want " .. want .. "\ngot: " .. err)
          end
        end
        assert.same(before, helpers.snapshot(r.home))
      end)
    end
  end

  it("refuses networks, mounts and forwards while this build lacks them, and says so", function()
    local features = require("moonbase.instance").features
    r:write("site/index.html", "hi\n")
    r:write("app.lua", [[
network "back" { subnet = "10.77.0.0/24" }
instance "web" {
  networks = { "back" },
  forwards = { [8080] = 80, "8443:443/tcp" },
  mounts = { { "site", "/srv/site" } },
}
output("caps", (has("networks") and "n" or "-") .. (has("mounts") and "m" or "-") ..
  (has("forwards") and "f" or "-"))
]])
    local code, _, err = r:run({ "plan", "app.lua" })
    local want = {}
    if not features.networks then
      want[#want + 1] = 'app.lua:1: network "back": networks are not available yet in this build'
      want[#want + 1] = 'app.lua:3: instance "web": networks are not available yet in this build'
    end
    if not features.forwards then
      want[#want + 1] = 'app.lua:4: instance "web": forwards are not available yet in this build'
    end
    if not features.mounts then
      want[#want + 1] = 'app.lua:5: instance "web": mounts are not available yet in this build'
    end
    if #want == 0 then
      assert.equal(0, code, err)
    else
      assert.equal(1, code)
      for _, w in ipairs(want) do assert.truthy(err:find(w, 1, true), w .. "\ngot: " .. err) end
    end
  end)

  it("reports every mistake of a recipe at once, in line order", function()
    r:write("app.lua", [[
instance "db" { cpu = 1 }
instance "web" { depends_on = { "nope" } }
instance "db" {}
]])
    local code, _, err = r:run({ "plan", "app.lua" })
    assert.equal(1, code)
    local lines = helpers.lines(err)
    assert.equal(3, #lines, err)
    assert.truthy(lines[1]:find("^plan: app.lua:1: "), err)
    assert.truthy(lines[2]:find("^app.lua:2: "), err)
    assert.truthy(lines[3]:find("^app.lua:3: "), err)
  end)

  it("types --param by the parameter's default and refuses unknown ones", function()
    r:write("app.lua", [[
local n = param("n", 2)
local big = param("big", false)
local img = param("img", "local:tiny")
local ratio = param("ratio", 1.5)
assert(math.type(n) == "integer" and type(big) == "boolean" and type(ratio) == "number")
for i = 1, n do instance ("vm" .. i) { image = img, memory = big and "2G" or "512M" } end
]])
    local actions = r:actions("app.lua", { "--param", "n=3", "--param", "big=yes",
      "--param", "ratio=2.5" })
    assert.same({ ["app-vm1"] = "create", ["app-vm2"] = "create", ["app-vm3"] = "create" },
      actions)
    local _, plan = r:actions("app.lua", { "-p", "img=other:image" })
    assert.truthy(plan.instances[1].details:find("other:image", 1, true))
    local code, _, err = r:run({ "plan", "app.lua", "--param", "n=two" })
    assert.equal(1, code)
    assert.truthy(err:find('app.lua:1: param "n": --param n=two is not a whole number', 1, true),
      err)
    code, _, err = r:run({ "plan", "app.lua", "--param", "big=maybe" })
    assert.equal(1, code)
    assert.truthy(err:find("--param big=maybe is not true or false", 1, true), err)
    code, _, err = r:run({ "plan", "app.lua", "--param", "count=3" })
    assert.equal(1, code)
    assert.truthy(err:find('app.lua: --param count: the recipe declares no parameter "count" ' ..
      "(it declares: n, big, img, ratio)", 1, true), err)
    code, _, err = r:run({ "plan", "app.lua", "--param", "n" })
    assert.equal(1, code)
    assert.truthy(err:find('--param needs NAME=VALUE, got "n"', 1, true), err)
  end)

  it("prefixes instance names with the project: the file's stem, or project \"name\"", function()
    r:write("shop.lua", 'instance "web" {}\n')
    assert.same({ ["shop-web"] = "create" }, (r:actions("shop.lua")))
    r:write("named.lua", 'project "store"\ninstance "web" {}\n')
    assert.same({ ["store-web"] = "create" }, (r:actions("named.lua")))
    r:write("My_Cloud.lua", 'instance "web" {}\n')
    assert.same({ ["my-cloud-web"] = "create" }, (r:actions("My_Cloud.lua")))
    -- a directory holding moonbase.lua: the directory's name
    r:write("blog/moonbase.lua", 'instance "web" {}\n')
    assert.same({ ["blog-web"] = "create" }, (r:actions("blog")))
    assert.same({ ["blog-web"] = "create" }, (r:actions("blog/moonbase.lua")))
    -- and without an argument: ./moonbase.lua
    local plan = r:json({ "plan" }, { cwd = r.dir .. "/blog" })
    assert.equal("blog", plan.project)
  end)

  it("says which recipe is missing", function()
    local code, _, err = r:run({ "plan", "nope.lua" })
    assert.equal(1, code)
    assert.equal("plan: recipe nope.lua does not exist\n", err)
    code, _, err = r:run({ "plan" })
    assert.equal(1, code)
    assert.truthy(err:find("recipe moonbase.lua does not exist (give the recipe file", 1, true))
  end)

  it("reads files of its folder with file, io.open and require", function()
    r:write("ci.yaml", "#cloud-config\nruncmd:\n  - echo hi\n")
    r:write("lib/sizes.lua", "return { small = \"512M\" }\n")
    r:write("app.lua", [[
local sizes = require("lib.sizes")
local f = assert(io.open("ci.yaml"))
local first = f:read("l")
f:close()
assert(first == "#cloud-config")
local n = 0
for _ in io.lines("ci.yaml") do n = n + 1 end
assert(n == 3)
assert(require("moonbase.units").format_size(2^30) == "1G")
instance "web" { memory = sizes.small, cloud_init = file "ci.yaml" }
]])
    local _, plan = r:actions("app.lua")
    assert.truthy(plan.instances[1].details:find("512M memory", 1, true))
  end)
end)

describe("recipe sandbox #recipes", function()
  local r
  before_each(function() r = common.new() end)
  after_each(function() r:cleanup() end)

  local function refused(text, want, env)
    r:write("app.lua", text)
    local code, out, err = r:run({ "plan", "app.lua" }, { env = env })
    assert.equal(1, code, err .. out)
    assert.truthy(err:find(want, 1, true), "want: " .. want .. "\ngot: " .. err)
    return err
  end

  it("refuses os.execute, io.popen and os.remove, and runs nothing", function()
    local marker = r.dir .. "/pwned"
    refused('os.execute("touch ' .. marker .. '")',
      "app.lua:1: os.execute is not available in recipes (allowed: os.clock, os.date")
    refused('io.popen("touch ' .. marker .. '")', "app.lua:1: io.popen is not available")
    refused('os.remove("app.lua")', "app.lua:1: os.remove is not available")
    refused('os.exit(0)', "app.lua:1: os.exit is not available")
    assert.is_nil(fs.exists(marker))
  end)

  it("refuses io.open outside the recipe's folder, through .. or a symlink, and writes", function()
    refused('assert(io.open("/etc/passwd"))',
      'app.lua:1: io.open: "/etc/passwd" is outside the recipe\'s folder')
    refused('assert(io.open("../../../etc/passwd"))', "is outside the recipe's folder")
    fs.symlink("/etc/passwd", r.dir .. "/link")
    refused('assert(io.open("link"))', 'io.open: "link" is outside the recipe\'s folder')
    refused('io.open("app.lua", "w")', 'app.lua:1: io.open: recipes may only read files ' ..
      '(mode "r"), not "w"')
    refused('io.open("new.txt", "a+")', "recipes may only read files")
    refused('file "/etc/passwd"', 'app.lua:1: file: "/etc/passwd" is outside')
    refused('io.write("x")', "app.lua:1: io.write is not available")
    refused('io.stdout:write("x")', "app.lua:1: io.stdout is not available")
  end)

  it("refuses bytecode: string.dump, load of binary chunks, the string metatable", function()
    refused('local f = load(string.dump(function() return 1 end))',
      "app.lua:1: string.dump is not available in recipes")
    refused('local d = ("").dump; assert(d, "no dump")', "app.lua:1: no dump")
    refused('assert(getmetatable("") ~= nil, "no string metatable")', "no string metatable")
    refused('load("\\27Lua\\x54\\0")', "app.lua:1: load: recipes may only load text chunks, " ..
      "not bytecode")
    refused('load("return 1", "x", "b")', 'load: recipes may only load text chunks (mode "t")')
    refused('load("return 1", "x", "bt")', 'load: recipes may only load text chunks (mode "t")')
    -- text chunks load into the sandbox, not into moonbase's globals
    refused('load("os.execute(\'true\')")()', "os.execute is not available")
    refused('load("return debug")()', 'unknown global "debug"')
  end)

  it("refuses debug, package.loadlib, dofile, loadfile, collectgarbage", function()
    refused("debug.sethook()", 'app.lua:1: unknown global "debug" (debug is not available')
    refused('package.loadlib("libc.so.6", "system")', 'app.lua:1: unknown global "package"')
    refused('dofile("/etc/passwd")', 'app.lua:1: unknown global "dofile"')
    refused('loadfile("app.lua")', 'app.lua:1: unknown global "loadfile"')
    refused('collectgarbage("stop")', 'app.lua:1: unknown global "collectgarbage"')
    refused('require("os")', 'app.lua:1: require: no module "os" in the recipe\'s folder')
    refused('require("debug")', 'require: no module "debug"')
    refused('require("moonbase.instance")', 'require: no module "moonbase.instance"')
    refused('require("moonbase.engine.process")', 'require: no module "moonbase.engine.process"')
    refused('require("../escape")', 'require: "../escape" is not a module of the recipe\'s folder')
    refused('setmetatable({}, { __gc = function() end })',
      "app.lua:1: setmetatable: __gc metamethods are not allowed in recipes")
    refused('instance = nil', 'app.lua:1: cannot assign to "instance": it is a recipe function')
    refused('print = nil', 'app.lua:1: cannot assign to "print": it is a built-in')
  end)

  it("public modules are copies: a recipe cannot change moonbase's own", function()
    r:write("app.lua", [[
local units = require("moonbase.units")
units.format_size = function() return "hacked" end
assert(require("moonbase.units").format_size == units.format_size)
instance "web" { memory = "512M" }
]])
    local _, plan = r:actions("app.lua")
    assert.truthy(plan.instances[1].details:find("512M memory", 1, true), plan.instances[1].details)
  end)

  it("stops an endless loop at the time budget, even under pcall or in a coroutine", function()
    local env = { MOONBASE_RECIPE_BUDGET = "0.3" }
    local t0 = require("moonbase.engine.util").now()
    refused("\n\nwhile true do end", "app.lua:3: loading app.lua took longer than 0.3 s " ..
      "(an endless loop?)", env)
    refused("for i = 1, 10 do pcall(function() while true do end end) end\nwhile true do end",
      "took longer than 0.3 s", env)
    refused("local ok = xpcall(function() while true do end end, function(e) return e end)\n" ..
      "instance 'web' {}", "took longer than 0.3 s", env)
    refused("coroutine.wrap(function() while true do end end)()", "took longer than 0.3 s", env)
    refused("local co = coroutine.create(function() while true do end end)\n" ..
      "print(coroutine.resume(co))", "took longer than 0.3 s", env)
    refused("local function f() return f() end\nf()", "took longer than 0.3 s", env)
    assert.truthy(require("moonbase.engine.util").now() - t0 < 10)
  end)

  it("stops a recipe that eats memory", function()
    refused("local t = {}\nfor i = 1, 64 do t[i] = ('x'):rep(2^20) .. i end\n" ..
      "for i = 1, 1e6 do end",
      "uses more than 16 MiB of memory", { MOONBASE_RECIPE_MEMORY = "16" })
  end)

  it("prints to stderr with file:line, so plan --format json stays JSON", function()
    r:write("app.lua", 'print("hello", 42)\ninstance "web" {}\n')
    local code, out, err = r:run({ "plan", "app.lua", "--format", "json" })
    assert.equal(0, code, err)
    assert.equal("app.lua:1: hello\t42\n", err)
    assert.truthy(require("moonbase.engine.json").decode(out))
  end)
end)
