-- The bad-input corpus (issue 18): every command given what an unlucky user
-- or a script types wrong. Each case asserts exit status 1 (the command line
-- is wrong) or 2 (the operation cannot be done), one line on stderr that
-- names the problem (never a traceback or an internal error), nothing on
-- stdout, and a state tree whose hash is the same before and after.
-- The cases share one home on the test driver: web (running), db (stopped),
-- old (deleted), the alias un, the remote mine, and a recipe folder.
-- docs/reliability.md reports the counts per category (printed at the end).
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")

local TOO_LONG = string.rep("a", 64)

-- { category, args, exit status, text the message must contain, options }
-- options: input (stdin), cwd ("recipe" for the recipe folder), env
local cases = {
  ------------------------------------------------------------ names
  { "names", { "info", "../test/web" }, 1, 'invalid instance name "../test/web"' },
  { "names", { "info", "web/" }, 1, 'invalid instance name "web/"' },
  { "names", { "info", "./web" }, 1, 'invalid instance name "./web"' },
  { "names", { "info", "../qemu/vm1" }, 1, 'invalid instance name "../qemu/vm1"' },
  { "names", { "delete", "web/" }, 1, 'invalid instance name "web/"' },
  { "names", { "delete", "../qemu/vm1" }, 1, 'invalid instance name "../qemu/vm1"' },
  { "names", { "delete", "--purge", "../test/db" }, 1, 'invalid instance name "../test/db"' },
  { "names", { "stop", "./web" }, 1, 'invalid instance name "./web"' },
  { "names", { "start", "Web" }, 1, 'invalid instance name "Web"' },
  { "names", { "suspend", "web-" }, 1, 'invalid instance name "web-"' },
  { "names", { "restart", "1web" }, 1, 'invalid instance name "1web"' },
  { "names", { "recover", "../old" }, 1, 'invalid instance name "../old"' },
  { "names", { "exec", "../test/web", "--", "true" }, 1, 'invalid instance name' },
  { "names", { "shell", "web/" }, 1, 'invalid instance name "web/"' },
  { "names", { "ssh-config", "../qemu/vm1" }, 1, 'invalid instance name' },
  { "names", { "info", TOO_LONG }, 1, "invalid instance name" },
  { "names", { "start", "all" }, 1, "reserved word" },
  { "names", { "launch", "--name", "Bad" }, 1, 'invalid instance name "Bad"' },
  { "names", { "launch", "--name", "../x" }, 1, 'invalid instance name "../x"' },
  { "names", { "launch", "--name", "default" }, 1, "reserved word" },
  { "names", { "launch", "--name", TOO_LONG }, 1, "invalid instance name" },
  { "names", { "launch", "--name", "web" }, 2, 'instance "web" already exists' },
  { "names", { "info", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "names", { "start", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "names", { "exec", "ghost", "--", "true" }, 2, 'instance "ghost" does not exist' },
  { "names", { "ssh-config", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "names", { "mount", "/tmp", "../test/web:/mnt" }, 1, "invalid instance name" },
  { "names", { "forward", "web/", "8080:80" }, 1, "invalid instance name" },
  { "names", { "umount", "./web" }, 1, "invalid instance name" },
  ------------------------------------------------------------ lists of names
  { "multi", { "delete", "web", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "multi", { "delete", "ghost", "web" }, 2, 'instance "ghost" does not exist' },
  { "multi", { "stop", "web", "../x" }, 1, 'invalid instance name "../x"' },
  { "multi", { "start", "db", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "multi", { "suspend", "web", "db" }, 2, 'instance "db" is stopped' },
  { "multi", { "restart", "web", "db" }, 2, 'instance "db" is stopped' },
  { "multi", { "recover", "old", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "multi", { "start", "db", "old" }, 2, 'instance "old" is deleted' },
  { "multi", { "unalias", "un", "ghost" }, 2, 'no alias "ghost"' },
  { "multi", { "stop", "--all", "web" }, 1, "give instance names or --all, not both" },
  { "multi", { "stop" }, 2, 'the primary instance "primary" does not exist' },
  { "multi", { "delete" }, 1, "delete needs an instance name" },
  ------------------------------------------------------------ sizes and numbers
  { "sizes", { "launch", "--name", "z", "--memory", "1M" }, 1, "memory must be at least 128M" },
  { "sizes", { "launch", "--name", "z", "--memory", "10Q" }, 1, 'unknown unit "Q"' },
  { "sizes", { "launch", "--name", "z", "--memory", "-1G" }, 1, 'invalid size "-1G"' },
  { "sizes", { "launch", "--name", "z", "--memory", "" }, 1, "invalid size" },
  { "sizes", { "launch", "--name", "z", "--disk", "9223372036854775807" }, 1, "too large" },
  { "sizes", { "launch", "--name", "z", "--disk", "99999999999T" }, 1, "too large" },
  { "sizes", { "launch", "--name", "z", "--disk", "1.5" }, 1, "whole number" },
  { "sizes", { "launch", "--name", "z", "--disk", "0x10" }, 1, 'invalid size "0x10"' },
  { "sizes", { "launch", "--name", "z", "--disk", "inf" }, 1, 'invalid size "inf"' },
  { "sizes", { "launch", "--name", "z", "--disk", "1M" }, 1, "disk must be at least 512M" },
  { "sizes", { "launch", "--name", "z", "--cpus", "0" }, 1, "cpus must be a whole number" },
  { "sizes", { "launch", "--name", "z", "--cpus", "257" }, 1, "cpus must be a whole number" },
  { "sizes", { "launch", "--name", "z", "--cpus", "two" }, 1, "--cpus" },
  { "sizes", { "launch", "--name", "z", "--cpus", "1.5" }, 1, "--cpus" },
  { "sizes", { "launch", "--name", "z", "--timeout", "5x" }, 1, "invalid duration" },
  { "sizes", { "launch", "--name", "z", "--timeout", "-1" }, 1, "invalid duration" },
  { "sizes", { "set", "local.db.memory=1M" }, 1, "memory must be at least 128M" },
  { "sizes", { "set", "local.db.memory=lots" }, 1, 'invalid size "lots"' },
  { "sizes", { "set", "local.db.disk=1G" }, 1, "the disk can only grow" },
  { "sizes", { "set", "local.db.cpus=0" }, 1, "cpus must be a whole number" },
  { "sizes", { "set", "local.db.cpus=1.5" }, 1, "use a whole number of cpus" },
  { "sizes", { "set", "local.web.cpus=2" }, 2, 'instance "web" is running' },
  { "sizes", { "set", "local.ghost.cpus=2" }, 2, 'instance "ghost" does not exist' },
  { "sizes", { "stop", "web", "--timeout", "soon" }, 1, "invalid duration" },
  { "sizes", { "images", "prune", "--older-than", "5x" }, 1, "invalid duration" },
  { "sizes", { "images", "pull", "local:tiny", "--limit-rate", "fast" }, 1, "invalid size" },
  ------------------------------------------------------------ options and formats
  { "formats", { "list", "--format", "xml" }, 1, "xml" },
  { "formats", { "info", "web", "--format", "toml" }, 1, "toml" },
  { "formats", { "images", "--format", "html" }, 1, "html" },
  { "formats", { "networks", "--format", "x" }, 1, "--format" },
  { "formats", { "get", "--format", "x" }, 1, "--format" },
  { "formats", { "aliases", "--format", "x" }, 1, "--format" },
  { "formats", { "remote", "list", "--format", "x" }, 1, "--format" },
  { "formats", { "list", "--bogus" }, 1, "--bogus" },
  { "formats", { "list", "extra" }, 1, "too many arguments" },
  { "formats", { "purge", "extra" }, 1, "too many arguments" },
  { "formats", { "version", "extra" }, 1, "too many arguments" },
  { "formats", { "launch", "--cpus" }, 1, "--cpus" },
  { "formats", { "nosuchcommand" }, 1, 'unknown command "nosuchcommand"' },
  { "formats", { "help", "nosuchcommand" }, 1, "nosuchcommand" },
  { "formats", { "completion", "tcsh" }, 1, "completion needs one of: bash, zsh, fish" },
  { "formats", { "info" }, 1, "info needs an instance name" },
  { "formats", { "hosts", "ghost" }, 2, "ghost" },
  { "formats", { "networks", "extra" }, 1, "too many arguments" },
  ------------------------------------------------------------ files
  { "files", { "launch", "--name", "z", "--cloud-init", "/nonexistent" }, 1,
    "cannot read cloud-init file" },
  { "files", { "launch", "--name", "z", "--cloud-init", "/" }, 1, "cloud-init" },
  { "files", { "transfer", "/nonexistent", "web:/tmp/" }, 1, "/nonexistent does not exist" },
  { "files", { "transfer", "/etc/hostname", "/tmp/x" }, 1, "one side must be NAME:path" },
  { "files", { "transfer", "ghost:/x", "/tmp/x" }, 1, "one side must be NAME:path" },
  { "files", { "transfer", "web:/nonexistent", "/tmp/mb-bad-input-copy" }, 2,
    "web:/nonexistent does not exist" },
  { "files", { "transfer", "db:/etc/hostname", "/tmp/x" }, 2, 'instance "db" is stopped' },
  { "files", { "mount", "/nonexistent", "web" }, 1, 'source "/nonexistent" does not exist' },
  { "files", { "mount", "FILE", "web" }, 1, "is not a directory" },
  { "files", { "sftp-server", "/nonexistent" }, 2, "/nonexistent" },
  ------------------------------------------------------------ cloud-init YAML
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "invalid cloud-init YAML",
    { input = "#cloud-config\nruncmd: [ unclosed\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "invalid cloud-init YAML",
    { input = "#cloud-config\n\truncmd: x\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "must be a YAML mapping",
    { input = "- a\n- b\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "must be a YAML mapping",
    { input = "42\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "invalid cloud-init YAML",
    { input = "a: \255\254\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "invalid cloud-init YAML",
    { input = "a: *undefined\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "invalid cloud-init YAML",
    { input = "a: 1\n---\nb: 2\n" } },
  { "yaml", { "launch", "--name", "z", "--cloud-init", "-" }, 1, "invalid cloud-init YAML",
    { input = "key: [a, b\n" } },
  ------------------------------------------------------------ recipes
  { "recipes", { "plan", "nonexistent.lua" }, 1, "recipe nonexistent.lua does not exist" },
  { "recipes", { "plan", "empty-dir" }, 1, "does not exist" },
  { "recipes", { "plan", "syntax.lua" }, 1, "syntax.lua:2: unexpected symbol" },
  { "recipes", { "plan", "badkey.lua" }, 1, 'unknown key "cpu" (did you mean "cpus"?)' },
  { "recipes", { "plan", "badcpus.lua" }, 1, "cpus must be a whole number" },
  { "recipes", { "plan", "badmem.lua" }, 1, "memory" },
  { "recipes", { "plan", "global.lua" }, 1, 'unknown global "instnce"' },
  { "recipes", { "plan", "exec.lua" }, 1, "os.execute is not available in recipes" },
  { "recipes", { "plan", "outside.lua" }, 1, "is outside the recipe's folder" },
  { "recipes", { "plan", "forged.lua" }, 1, "provision step 1 is a table, not a step" },
  { "recipes", { "plan", "loop.lua" }, 1, "took longer than 0.5 s",
    { env = { MOONBASE_RECIPE_BUDGET = "0.5" } } },
  { "recipes", { "plan", "hog.lua" }, 1, "uses more than 32 MiB of memory",
    { env = { MOONBASE_RECIPE_MEMORY = "32" } } },
  { "recipes", { "plan", "errnil.lua" }, 1, "errnil.lua:1: error raised with no message" },
  { "recipes", { "plan", "errtable.lua" }, 1, "error raised with a table value" },
  { "recipes", { "plan", "ok.lua", "--param", "nope=1" }, 1, "declares no parameter" },
  { "recipes", { "plan", "param.lua", "--param", "webs=two" }, 1, "is not a whole number" },
  { "recipes", { "plan", "ok.lua", "--param", "noequals" }, 1, "--param needs NAME=VALUE" },
  { "recipes", { "plan", "deps.lua" }, 1, 'depends_on names no instance "dbb"' },
  { "recipes", { "plan", "cycle.lua" }, 1, "dependency cycle" },
  { "recipes", { "plan", "twice.lua" }, 1, 'instance "web" is declared twice' },
  { "recipes", { "plan", "badref.lua" }, 1, 'ref("nope"): no instance "nope"' },
  { "recipes", { "plan", "bigfile.lua" }, 1, "more than file() reads" },
  { "recipes", { "plan", "ok.lua", "--format", "xml" }, 1, "xml" },
  { "recipes", { "up", "badkey.lua" }, 1, 'unknown key "cpu"' },
  { "recipes", { "up", "forged.lua" }, 1, "not a step" },
  { "recipes", { "status", "syntax.lua" }, 1, "syntax.lua:2: unexpected symbol" },
  { "recipes", { "up", "ok.lua", "--parallel", "many" }, 1, "--parallel" },
  { "recipes", { "down", "ok.lua", "--timeout", "soon" }, 1, "invalid duration" },
  { "recipes", { "down", "nonexistent.lua" }, 1, "does not exist" },
  { "recipes", { "provision", "ok.lua", "ghost" }, 1, 'declares no instance "ghost"' },
  { "recipes", { "outputs", "global.lua" }, 1, 'unknown global "instnce"' },
  ------------------------------------------------------------ settings
  { "settings", { "set", "nokey=1" }, 1, 'unknown setting "nokey"' },
  { "settings", { "set", "local.driver=nosuch" }, 1, "nosuch" },
  { "settings", { "set", "local.driver" }, 1, "KEY=VALUE" },
  { "settings", { "set", "local.driver=test", "nokey=1" }, 1, 'unknown setting "nokey"' },
  { "settings", { "set", "local.qemu.restrict-user-network=maybe" }, 1, "use true or false" },
  { "settings", { "set", "local.image.default=" }, 1, "local.image.default" },
  { "settings", { "get", "nokey" }, 1, 'unknown setting "nokey"' },
  { "settings", { "get", "local.ghost.cpus" }, 2, 'instance "ghost" does not exist' },
  { "settings", { "unset", "nokey" }, 1, 'unknown setting "nokey"' },
  { "settings", { "set" }, 1, "KEY=VALUE" },
  ------------------------------------------------------------ remotes
  { "remotes", { "remote", "add", "Bad", "http://127.0.0.1:9/" }, 1, 'invalid remote name "Bad"' },
  { "remotes", { "remote", "add", "http", "http://127.0.0.1:9/" }, 1, 'invalid remote name "http"' },
  { "remotes", { "remote", "add", "other", "ftp://x/" }, 1, 'invalid remote URL "ftp://x/"' },
  { "remotes", { "remote", "add", "other", "not a url" }, 1, "invalid remote URL" },
  { "remotes", { "remote", "add", "other", "http://x/?q=1" }, 1, "no query or fragment" },
  { "remotes", { "remote", "add", "ubuntu", "http://127.0.0.1:9/" }, 2, "is built in" },
  { "remotes", { "remote", "add", "mine", "http://127.0.0.1:9/" }, 2, 'remote "mine" exists' },
  { "remotes", { "remote", "remove", "ghost" }, 2, 'unknown remote "ghost"' },
  { "remotes", { "remote", "remove", "ubuntu" }, 2, "cannot be removed" },
  { "remotes", { "remote", "remove", "../x" }, 1, 'invalid remote name "../x"' },
  { "remotes", { "remote", "bogus" }, 1, 'unknown subcommand "bogus"' },
  { "remotes", { "remote", "add", "onlyname" }, 1, "remote add takes 2 arguments" },
  { "remotes", { "launch", "--name", "z", "no such:tiny" }, 1, 'invalid image reference' },
  { "remotes", { "images", "pull", "nosuchremote:tiny" }, 2, "nosuchremote" },
  ------------------------------------------------------------ networks
  { "networks", { "network", "create", "Bad_Name" }, 1, 'invalid network name "Bad_Name"' },
  { "networks", { "network", "create", "../x" }, 1, 'invalid network name "../x"' },
  { "networks", { "network", "create", string.rep("n", 33) }, 1, "invalid network name" },
  { "networks", { "network", "create", "net1", "--subnet", "bogus" }, 1, "bogus" },
  { "networks", { "network", "create", "net1", "--subnet", "10.0.0.0/99" }, 1,
    "prefix length" },
  { "networks", { "network", "create", "net1", "--subnet", "300.1.1.0/24" }, 1, "300.1.1.0" },
  { "networks", { "network", "delete", "ghost" }, 2, 'there is no network "ghost"' },
  { "networks", { "network", "delete", "../x" }, 1, 'invalid network name "../x"' },
  { "networks", { "network", "bogus" }, 1, "bogus" },
  { "networks", { "network", "create" }, 1, "" },
  { "networks", { "launch", "--name", "z", "--network", "name=Bad_Name" }, 1,
    "invalid network name" },
  { "networks", { "launch", "--name", "z", "--network", "name=net1,mode=sideways" }, 1,
    "sideways" },
  ------------------------------------------------------------ mounts
  { "mounts", { "mount", "/tmp", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "mounts", { "mount", "/tmp", "web:relative" }, 1, 'target "relative" must be an absolute' },
  { "mounts", { "mount", "/tmp", "web:/" }, 1, "/" },
  { "mounts", { "mount", "/tmp", "web:/a/../b" }, 1, ".." },
  { "mounts", { "mount", "--type", "bogus", "/tmp", "web" }, 1, "bogus" },
  { "mounts", { "mount", "--uid-map", "x", "--type", "classic", "/tmp", "web" }, 1, "uid-map" },
  { "mounts", { "mount", "--uid-map", "1:2", "--type", "native", "/tmp", "web" }, 1,
    "apply to classic mounts" },
  { "mounts", { "mount", "/tmp", "old" }, 2, 'instance "old" is deleted' },
  { "mounts", { "mount", "/tmp" }, 1, "" },
  { "mounts", { "umount", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "mounts", { "umount", "web" }, 1, 'has no mounts' },
  { "mounts", { "launch", "--name", "z", "--mount", "/nonexistent" }, 1, "does not exist" },
  { "mounts", { "launch", "--name", "z", "--mount", "/tmp:rel" }, 1, "must be an absolute" },
  ------------------------------------------------------------ forwards
  { "forwards", { "forward", "ghost", "8080:80" }, 2, 'instance "ghost" does not exist' },
  { "forwards", { "forward", "web", "8080" }, 1, "8080" },
  { "forwards", { "forward", "web", "0:80" }, 1, "ports must be 1-65535, got 0" },
  { "forwards", { "forward", "web", "70000:80" }, 1, "70000" },
  { "forwards", { "forward", "web", "8080:80/sctp" }, 1, "sctp" },
  { "forwards", { "forward", "web", "abc:def" }, 1, "abc:def" },
  { "forwards", { "forward", "web", "8080:80", "--address", "not-an-address" }, 1,
    "not-an-address" },
  { "forwards", { "forward", "web", "--remove", "9999" }, 2, "9999" },
  { "forwards", { "forward", "web" }, 1, "" },
  { "forwards", { "forward", "web", "--remove", "abc" }, 1, "abc" },
  ------------------------------------------------------------ aliases
  { "aliases", { "alias", "web" }, 1, "expected INSTANCE:COMMAND" },
  { "aliases", { "alias", "ghost:ls" }, 2, 'instance "ghost" does not exist' },
  { "aliases", { "alias", "web:ls", "list" }, 1, '"list" is a moonbase command' },
  { "aliases", { "alias", "web:ls", "Bad" }, 1, 'invalid alias name "Bad"' },
  { "aliases", { "alias", "web:ls", "../x" }, 1, 'invalid alias name "../x"' },
  { "aliases", { "alias", "web:uname", "un" }, 2, '"un" already exists' },
  { "aliases", { "alias", "../test/web:ls" }, 1, "invalid instance name" },
  { "aliases", { "unalias", "ghost" }, 2, 'no alias "ghost"' },
  { "aliases", { "unalias", "Bad" }, 1, 'invalid alias name "Bad"' },
  { "aliases", { "unalias" }, 1, "" },
  ------------------------------------------------------------ exec and shell
  { "exec", { "exec", "db", "--", "true" }, 2, 'instance "db" is stopped (try: moonbase start db)' },
  { "exec", { "exec", "old", "--", "true" }, 2, "try: moonbase recover old, then moonbase start old" },
  { "exec", { "exec", "web", "--env", "NOEQUALS", "--", "true" }, 1, "--env needs KEY=VALUE" },
  { "exec", { "exec", "web", "--workdir", "/nonexistent", "--", "true" }, 2,
    "working directory /nonexistent does not exist" },
  { "exec", { "shell", "ghost" }, 2, 'instance "ghost" does not exist' },
  { "exec", { "shell", "old" }, 2, "try: moonbase recover old" },
  { "exec", { "restart", "old" }, 2, "try: moonbase recover old, then moonbase start old" },
  { "exec", { "suspend", "db" }, 2, "only a running instance can be suspended" },
  ------------------------------------------------------------ images
  { "images", { "images", "pull" }, 1, "" },
  { "images", { "images", "bogus" }, 1, "bogus" },
  { "images", { "launch", "--name", "z", "file://relative.img" }, 1, "absolute path" },
  { "images", { "find", "nosuchremote:" }, 2, "nosuchremote" },
}

describe("bad-input corpus #badinput", function()
  local h, recipe_dir, file_txt, fake
  local counts, passed = {}, {}

  local function sha256(text)
    local _, out = process.run({ "sha256sum" }, { input = text })
    return (out:match("^(%x+)"))
  end

  local function tree_hash()
    local snap = helpers.snapshot(h.dir)
    local keys = {}
    for k in pairs(snap) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "\0" .. snap[k] end
    return sha256(table.concat(parts, "\0\0")), snap
  end

  setup(function()
    -- networks on a fake host: nothing here may touch the real one
    fake = helpers.tmpdir("bad-input-net") .. "/host.json"
    h = helpers.home({ env = { MOONBASE_NET_FAKE = fake } })
    h:ok({ "launch", "--name", "web" })
    h:ok({ "launch", "--name", "db" })
    h:ok({ "stop", "db" })
    h:ok({ "launch", "--name", "old" })
    h:ok({ "delete", "old" })
    h:ok({ "alias", "web:uname", "un" })
    h:ok({ "remote", "add", "mine", "http://127.0.0.1:9/" })
    recipe_dir = helpers.tmpdir("bad-recipes")
    local function w(name, text) assert(fs.write(recipe_dir .. "/" .. name, text)) end
    fs.mkdirs(recipe_dir .. "/empty-dir")
    w("ok.lua", 'instance "web" {}\n')
    w("param.lua", 'local webs = param("webs", 2)\ninstance "web" {}\n')
    w("syntax.lua", "instance \"web\" {\n")
    w("badkey.lua", 'instance "db" {\n  cpu = 2,\n}\n')
    w("badcpus.lua", 'instance "db" { cpus = 0 }\n')
    w("badmem.lua", 'instance "db" { memory = "lots" }\n')
    w("global.lua", 'instnce "db" {}\n')
    w("exec.lua", 'os.execute("true")\n')
    w("outside.lua", 'local f = assert(io.open("/etc/passwd"))\n')
    w("forged.lua", 'instance "web" { provision = { { kind = "copy", src = "x", ' ..
      'real = "/etc", dst = "/tmp/etc", directory = true } } }\n')
    w("loop.lua", "while true do end\n")
    w("hog.lua", 'local s = ("x"):rep(2^30)\n')
    w("errnil.lua", "error(nil)\n")
    w("errtable.lua", "error({})\n")
    w("deps.lua", 'instance "db" {}\ninstance "web" { depends_on = { "dbb" } }\n')
    w("cycle.lua", 'instance "a" { depends_on = { "b" } }\ninstance "b" { depends_on = { "a" } }\n')
    w("twice.lua", 'instance "web" {}\ninstance "web" {}\n')
    w("badref.lua", 'instance "web" { provision = { sh("echo " .. ref("nope").ipv4) } }\n')
    assert(process.run({ "truncate", "-s", "17M", recipe_dir .. "/big.txt" }) == 0)
    w("bigfile.lua", 'instance "web" { cloud_init = file "big.txt" }\n')
    file_txt = recipe_dir .. "/file.txt"
    w("file.txt", "a file, not a folder\n")
  end)

  teardown(function()
    local cats = {}
    for c in pairs(counts) do cats[#cats + 1] = c end
    table.sort(cats)
    local total, ok = 0, 0
    local lines = {}
    for _, c in ipairs(cats) do
      lines[#lines + 1] = string.format("%s %d/%d", c, passed[c] or 0, counts[c])
      total, ok = total + counts[c], ok + (passed[c] or 0)
    end
    io.stderr:write(string.format("\nbad-input corpus: %d/%d passed (%s)\n", ok, total,
      table.concat(lines, ", ")))
    if h then h:cleanup() end
    if recipe_dir then fs.rmtree(recipe_dir) end
    if fake then fs.rmtree(fake:match("^(.*)/")) end
  end)

  it("has at least 150 cases across every category", function()
    assert.truthy(#cases >= 150, #cases .. " cases")
  end)

  for i, c in ipairs(cases) do
    local cat, args, code, want, o = c[1], c[2], c[3], c[4], c[5] or {}
    counts[cat] = (counts[cat] or 0) + 1
    it(string.format("%s %d: moonbase %s -> exit %d, one line, nothing changed", cat, i,
      table.concat(args, " "), code), function()
      local a = {}
      for k, v in ipairs(args) do a[k] = v == "FILE" and file_txt or v end
      local before, snap = tree_hash()
      local rc, out, err = h:run(a, { input = o.input, env = o.env, cwd = recipe_dir })
      local after, snap2 = tree_hash()
      assert.equal(code, rc, "exit status; stderr: " .. err .. "; stdout: " .. out)
      assert.equal("", out, "nothing on stdout")
      local lines = helpers.lines(err)
      assert.equal(1, #lines, "one line on stderr, got:\n" .. err)
      assert.falsy(err:find("internal error", 1, true), err)
      assert.falsy(err:find("traceback", 1, true), err)
      assert.truthy(err:find(want, 1, true), "want: " .. want .. "\ngot: " .. err)
      if before ~= after then assert.same(snap, snap2) end
      assert.equal(before, after, "the state tree changed")
      passed[cat] = (passed[cat] or 0) + 1
    end)
  end
end)
