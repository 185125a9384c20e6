-- Shell completion as a user meets it: bash driven through its completion
-- function and by a real TAB in a terminal (tmux), zsh by TAB, fish by
-- `complete -C`; commands, options, option values and live names (instances,
-- setting keys and values, images from the caches) from the commands' own
-- option tables.
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local process = require("moonbase.engine.process")
local util = require("moonbase.engine.util")

local function have(prog)
  return process.run({ "sh", "-c", "command -v " .. prog }) == 0
end

describe("shell completion", function()
  local h, bin
  lazy_setup(function()
    h = helpers.home()
    h:ok({ "launch", "--name", "web", "-q" })
    h:ok({ "launch", "--name", "worker", "-q" })
    h:ok({ "launch", "--name", "db", "-q" })
    h:ok({ "delete", "db" })
    -- `moonbase` on PATH is the binary under test
    bin = helpers.tmpdir("bin")
    assert(fs.symlink and fs.symlink(helpers.bin, bin .. "/moonbase") or
      process.run({ "ln", "-s", helpers.bin, bin .. "/moonbase" }) == 0)
    h.env.PATH = bin .. ":" .. os.getenv("PATH")
  end)
  lazy_teardown(function()
    h:cleanup()
    fs.rmtree(bin)
  end)

  local function candidates(...)
    local out = h:ok({ "completion", "--candidates", "--", ... })
    return helpers.lines(out)
  end

  it("offers commands, global options, a command's options and enum values", function()
    local cmds = candidates("")
    for _, c in ipairs({ "launch", "list", "start", "completion" }) do
      assert.truthy(table.concat(cmds, " "):find("%f[%w]" .. c .. "%f[^%w-]"), c)
    end
    assert.same({ "start", "status", "stop" }, candidates("st"))
    assert.same({ "--verbose" }, candidates("--verb"))
    assert.same({ "--format", "--no-ipv4" }, (function()
      local t = {}
      for _, c in ipairs(candidates("list", "--")) do
        if c == "--format" or c == "--no-ipv4" then t[#t + 1] = c end
      end
      return t
    end)())
    assert.same({ "table", "json", "yaml", "csv" }, candidates("list", "--format", ""))
    assert.same({ "--format=json" }, candidates("list", "--format=j"))
    assert.same({ "bash", "zsh", "fish" }, candidates("completion", ""))
  end)

  it("offers live names: instances (deleted ones to recover), settings and their values", function()
    assert.same({ "web", "worker" }, candidates("start", ""))
    assert.same({ "web", "worker" }, candidates("stop", "--force", "w"))
    assert.same({ "db" }, candidates("recover", ""))
    assert.same({ "@files", "web:", "worker:" }, candidates("transfer", "./x", "w"))
    assert.same({ "local.driver=" }, candidates("set", "local.dri"))
    assert.same({ "local.driver=qemu", "local.driver=libvirt", "local.driver=lxd",
      "local.driver=test" }, candidates("set", "local.driver="))
    assert.same({ "local.web.cpus", "local.web.disk", "local.web.memory" },
      candidates("get", "local.web."))
    assert.same({ "prune", "pull" }, candidates("images", ""))
    assert.same({ "@files" }, candidates("launch", "--cloud-init", ""))
    assert.same({ "@recipes" }, candidates("up", ""))
  end)

  it("drives bash's completion function as readline would", function()
    local script = h:ok({ "completion", "bash" })
    assert(fs.write(h.dir .. "/moonbase.bash", script))
    local driver = h.dir .. "/drive.sh"
    assert(fs.write(driver, [[
source "$1"
comp() { COMP_LINE=$1; COMP_POINT=${#1}; _moonbase; printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '; echo; }
comp "moonbase sta"
comp "moonbase start w"
comp "moonbase list --fo"
comp "moonbase list --format y"
comp "moonbase set local.driver=t"
comp "moonbase transfer wor"
]]))
    local code, out, err = process.run({ "bash", driver, h.dir .. "/moonbase.bash" },
      { env = h.env })
    assert.equal(0, code, err)
    assert.same({ "start status ", "web worker ", "--format ", "yaml ", "test ", "worker: " },
      helpers.lines(out))
  end)

  -- types into a shell in tmux and waits (bounded) for the screen to show want
  local function tmux_session(shell_argv, setup_line)
    if not have("tmux") then return nil, "tmux is not installed" end
    local sock = "mbc" .. util.getpid()
    local env = {}
    for k, v in pairs(h.env) do env[#env + 1] = k .. "=" .. v end
    local dev = os.getenv("MOONBASE_LUA_DEV") -- a spec run against the source tree
    if dev then env[#env + 1] = "MOONBASE_LUA_DEV=" .. dev end
    local argv = { "tmux", "-L", sock, "new-session", "-d", "-s", "t", "-x", "160", "-y", "40",
      "env", "-i", "HOME=" .. h.dir, "TERM=xterm", table.unpack(env) }
    for _, a in ipairs(shell_argv) do argv[#argv + 1] = a end
    assert.equal(0, (process.run(argv)))
    local t = {}
    function t.keys(...) process.run({ "tmux", "-L", sock, "send-keys", "-t", "t", ... }) end
    function t.screen()
      local _, s = process.run({ "tmux", "-L", sock, "capture-pane", "-p", "-N", "-t", "t" })
      return s
    end
    function t.wait(want)
      for _ = 1, 100 do
        if t.screen():find(want, 1, true) then return true end
        util.sleep(0.1)
      end
      return false, t.screen()
    end
    function t.close() process.run({ "tmux", "-L", sock, "kill-server" }) end
    t.keys(setup_line .. " && echo COMPLETION-READY", "Enter")
    assert(t.wait("\nCOMPLETION-READY"), t.screen())
    return t
  end

  it("completes with a real TAB in bash", function()
    assert(fs.write(h.dir .. "/moonbase.bash", h:ok({ "completion", "bash" })))
    local t, why = tmux_session({ "bash", "--norc", "--noprofile" },
      "source " .. h.dir .. "/moonbase.bash")
    if not t then pending(why) return end
    t.keys("moonbase resta", "Tab")
    local ok, screen = t.wait("moonbase restart ")
    t.keys("wo", "Tab")
    local ok2, screen2 = t.wait("moonbase restart worker ")
    t.close()
    assert(ok, screen)
    assert(ok2, screen2)
  end)

  it("completes with a real TAB in zsh", function()
    if not have("zsh") then pending("zsh is not installed (.ci/setup installs it)") return end
    assert(fs.write(h.dir .. "/_moonbase", h:ok({ "completion", "zsh" })))
    local t = tmux_session({ "zsh", "-f" }, "autoload -U compinit && compinit -u -D && " ..
      "source " .. h.dir .. "/_moonbase")
    t.keys("moonbase suspe", "Tab")
    local ok, screen = t.wait("moonbase suspend ")
    t.keys("we", "Tab")
    local ok2, screen2 = t.wait("moonbase suspend web ")
    t.close()
    assert(ok, screen)
    assert(ok2, screen2)
  end)

  it("completes in fish", function()
    if not have("fish") then pending("fish is not installed (.ci/setup installs it)") return end
    assert(fs.write(h.dir .. "/moonbase.fish", h:ok({ "completion", "fish" })))
    local code, out, err = process.run({ "fish", "--no-config", "-c", "source " .. h.dir ..
      "/moonbase.fish; complete -C 'moonbase sto'; complete -C 'moonbase stop w'" },
      { env = h.env })
    assert.equal(0, code, err)
    assert.same({ "stop", "web", "worker" }, helpers.lines(out))
  end)

  it("is installed where each shell looks for it, with the man pages", function()
    local build = helpers.bin:match("^(.*)/[^/]*$")
    if not fs.exists(build .. "/cmake_install.cmake") then
      pending("no CMake build directory next to " .. helpers.bin)
      return
    end
    local prefix = helpers.tmpdir("prefix")
    local code, _, err = process.run({ "cmake", "--install", build, "--prefix", prefix })
    assert.equal(0, code, err)
    for _, f in ipairs({ "/bin/moonbase", "/share/man/man1/moonbase.1",
      "/share/man/man1/moonbase-launch.1", "/share/bash-completion/completions/moonbase",
      "/share/zsh/site-functions/_moonbase" }) do
      assert.truthy(fs.exists(prefix .. f), f)
    end
    -- bash-completion's loader finds it on its own (XDG_DATA_DIRS, as under /usr/local)
    local loader = "/usr/share/bash-completion/bash_completion"
    if fs.exists(loader) then
      local c, out, e = process.run({ "bash", "-c", "source " .. loader ..
        " && __load_completion moonbase && complete -p moonbase" },
        { env = { XDG_DATA_DIRS = prefix .. "/share", PATH = h.env.PATH, HOME = h.dir } })
      assert.equal(0, c, e)
      assert.equal("complete -F _moonbase moonbase\n", out)
    end
    fs.rmtree(prefix)
  end)

  it("prints scripts each shell accepts, and refuses an unknown shell", function()
    for _, sh in ipairs({ "bash", "zsh", "fish" }) do
      local script = h:ok({ "completion", sh })
      if have(sh) then
        local p = h.dir .. "/check." .. sh
        assert(fs.write(p, script))
        local code, _, err = process.run({ sh, "-n", p })
        assert.equal(0, code, sh .. ": " .. err)
      end
    end
    local code, out, err = h:run({ "completion", "tcsh" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.equal("completion needs one of: bash, zsh, fish (try: moonbase " ..
      "completion bash)\n", err)
  end)
end)
