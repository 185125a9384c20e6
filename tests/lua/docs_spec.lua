-- The docs a user reads match the code.
local helpers = require("helpers")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")

describe("docs", function()
  it("docs/cli.md is generated from the commands' usage text (regenerate it if this fails)",
    function()
      local code, out, err = process.run({ helpers.bin, "--lua",
        helpers.src .. "/tests/gen-cli-reference.lua" })
      assert.equal(0, code, err)
      assert.equal(out, fs.read(helpers.src .. "/docs/cli.md"),
        "run: build/moonbase --lua tests/gen-cli-reference.lua > docs/cli.md")
    end)

  it("the generated sections of the docs are current (settings, environment)", function()
    local code, _, err = process.run({ helpers.bin, "--lua",
      helpers.src .. "/tests/gen-docs.lua", "--check" })
    assert.equal(0, code, err)
  end)

  it("the getting-started settings table lists every key of the schema", function()
    local text = fs.read(helpers.src .. "/docs/getting-started.md")
    local section = text:match("<!%-%- generated: settings %-%->\n(.-)<!%-%- end: settings")
    for key in pairs(require("moonbase.settings").all()) do
      assert.truthy(section:find("| `" .. key .. "` |", 1, true), key)
    end
  end)

  it("the environment table names every variable the code reads or sets, and only those",
    function()
      local usage = require("moonbase.usage")
      local documented = {}
      for _, e in ipairs(usage.environment) do documented[e[1]] = true end
      local _, out = process.run({ "grep", "-rhoE",
        [[getenv\("[A-Za-z_]+"\)|"MOONBASE_[A-Z_]+"|MOONBASE_[A-Z_]+ *=]],
        helpers.src .. "/lua", helpers.src .. "/cli", helpers.src .. "/engine",
        helpers.src .. "/drivers" })
      local used = {}
      for name in out:gmatch("([A-Z][A-Z0-9_]+)") do used[name] = true end
      used.MOONBASE_VERSION = nil -- a compile-time definition, not the environment
      used.HOME, used.TERM = nil, nil -- read as every program does
      for name in pairs(used) do
        assert.truthy(documented[name], name .. " is used but not in the environment table")
      end
      local code_text = {}
      for name in pairs(documented) do
        local c = process.run({ "grep", "-rqF", name, helpers.src .. "/lua",
          helpers.src .. "/cli", helpers.src .. "/engine", helpers.src .. "/drivers" })
        assert.equal(0, c, name .. " is documented but nothing uses it")
        code_text[#code_text + 1] = name
      end
    end)

  it("man pages come from the same usage text and render", function()
    local man = helpers.bin:match("^(.*)/[^/]*$") .. "/share/man"
    local code, out, err = process.run({ "man", "--warnings", "moonbase-launch" },
      { env = { MANPATH = man, MANWIDTH = "200", MAN_KEEP_FORMATTING = "", PATH =
        os.getenv("PATH") } })
    assert.equal(0, code, err)
    assert.equal("", err)
    out = out:gsub(".\b", "") -- overstrike bold
    assert.truthy(out:find("moonbase-launch - Create and start an instance", 1, true), out)
    assert.truthy(out:find("moonbase launch [IMAGE] [--name NAME]", 1, true), out)
    assert.truthy(out:find("--memory SIZE", 1, true), out)
    assert.truthy(out:find("memory, e.g. 512M or 2G (default: 1G)", 1, true), out)
    code, out, err = process.run({ "man", "--warnings", "moonbase" },
      { env = { MANPATH = man, MANWIDTH = "200", PATH = os.getenv("PATH") } })
    assert.equal(0, code, err)
    assert.equal("", err)
    out = out:gsub(".\b", "")
    for _, s in ipairs({ "moonbase-launch(1)", "MOONBASE_HOME", "--verbose", "EXIT STATUS" }) do
      assert.truthy(out:find(s, 1, true), s)
    end
    -- every command has its page, and each page renders without a warning
    local commands = require("moonbase.commands")
    for _, name in ipairs(commands.bundled()) do
      if not require("cli." .. name).hidden then
        local page = man .. "/man1/moonbase-" .. name .. ".1"
        assert.truthy(fs.exists(page), page)
        local c, _, e = process.run({ "man", "--warnings", "-l", page },
          { env = { MANWIDTH = "100", PATH = os.getenv("PATH") } })
        assert.equal(0, c, e)
        assert.equal("", e, name)
      end
    end
  end)

  it("the README opens with the set-up-and-run and set-up-and-test commands", function()
    local readme = assert(fs.read(helpers.src .. "/README.md"))
    local blocks = {}
    for b in readme:gmatch("```sh\n(.-)```") do blocks[#blocks + 1] = b end
    assert.truthy(#blocks >= 2)
    assert.truthy(blocks[1]:find(".ci/setup", 1, true))
    -- the test command: ctest itself, or tests/run.sh, which runs it
    local runs_ctest = blocks[2]:find("ctest", 1, true) or
      (blocks[2]:find("tests/run.sh", 1, true) and
        fs.read(helpers.src .. "/tests/run.sh"):find("\nctest ", 1, true))
    assert.truthy(blocks[2]:find(".ci/setup", 1, true) and runs_ctest, blocks[2])
    assert.truthy(fs.read(helpers.src .. "/.ci/run"):find(blocks[2]:match("bash (.-)\n"), 1,
      true))
  end)

  -- Set-up blocks (tests/docs/setup-blocks.sh): every block that prepares
  -- the host is marked, every mark is proven one way or another.
  local function setup_blocks(...)
    local code, out, err = process.run({ helpers.src .. "/tests/docs/setup-blocks.sh", ... })
    assert.equal(0, code, err)
    return out
  end

  local function lines(text, skip)
    local t = {}
    for l in text:gmatch("[^\n]+") do
      if not (skip and l:match(skip)) then t[#t + 1] = l end
    end
    return t
  end

  it("marks every block that sets up the host, and proves each mark (setup-blocks.sh)", function()
    local how = {}
    for line in setup_blocks("table"):gmatch("[^\n]+") do
      local id, kind, why = line:match("^([%w-]+)|([%w-]+)|(.+)$")
      assert.truthy(id, "bad table line: " .. line)
      assert.truthy(kind == "run" or kind == "ci" or kind == "not-here", line)
      assert.truthy(#why > 20, "say how " .. id .. " is proven, or why not")
      how[id] = kind
    end
    local marked = {}
    for line in setup_blocks("list"):gmatch("[^\n]+") do
      local id, _, where = line:match("^(%S+) (%S*) (%S+)$")
      assert.truthy(how[id], where .. ": the set-up block " .. id ..
        " is not in tests/docs/setup-blocks.sh's table")
      assert.is_nil(marked[id], "two blocks marked " .. id)
      marked[id] = where
      assert.truthy(#setup_blocks("show", id) > 0, id .. " has no block after its mark")
    end
    for id in pairs(how) do
      assert.truthy(marked[id], "setup-blocks.sh knows " .. id .. ", which no doc marks")
    end
    -- what looks like set-up in any fenced block of the docs is marked
    local looks = { "^%s*sudo ", "^%s*apt%-get ", "^%s*apt ", "^%s*systemctl ",
      "^%s*virtlogd", "^%s*libvirtd", "^%s*nmcli ", "^%s*ip link add", "^%s*adduser ",
      "^%s*usermod ", "^%s*groupadd ", "^%s*bash %.ci/", "^%s*install %-m", "^%s*lxd ",
      "^%s*echo .*>> */etc/" }
    local files = { helpers.src .. "/README.md" }
    for _, f in ipairs(fs.list(helpers.src .. "/docs") or {}) do
      if f:match("%.md$") then files[#files + 1] = helpers.src .. "/docs/" .. f end
    end
    for _, path in ipairs(files) do
      local prev, inside, mark, n = nil, false, nil, 0
      for line in (fs.read(path) .. "\n"):gmatch("([^\n]*)\n") do
        n = n + 1
        if line:match("^```") then
          if inside then inside = false else inside, mark = true, prev end
        elseif inside and not (mark or ""):match("^<!%-%- setup: ") then
          for _, pat in ipairs(looks) do
            assert.is_nil(line:match(pat), string.format("%s:%d sets up the host but its " ..
              "block is not marked <!-- setup: ID --> (see tests/docs/setup-blocks.sh): %s",
              path:gsub("^.*/docs/", "docs/"), n, line))
          end
        end
        prev = line
      end
    end
  end)

  it("says the same in a set-up with systemd as in the one run without it", function()
    -- libvirt: the same commands, less the daemons' start by hand
    assert.same(lines(setup_blocks("show", "libvirt-system"), "^virtlogd %-d && libvirtd %-d"),
      lines(setup_blocks("show", "libvirt-systemd")))
    -- LXD: the same commands, systemctl in place of the start by hand
    local manual = lines(setup_blocks("show", "lxd-manual"), "^lxd waitready")
    local i = 0
    for k, l in ipairs(manual) do
      if l:match("^lxd %-%-group lxd &") then manual[k], i = "systemctl start lxd", k end
    end
    assert.truthy(i > 0, "lxd-manual starts no LXD by hand")
    local systemd = lines(setup_blocks("show", "lxd-systemd"))
    for k = 1, #systemd do systemd[k] = systemd[k]:gsub("%s+#.*$", "") end
    for k = 1, #manual do manual[k] = manual[k]:gsub("%s+#.*$", "") end
    assert.same(manual, systemd)
  end)

  it("installs in .ci/setup what the drivers' worked examples install (drivers-examples)",
    function()
      local block = setup_blocks("show", "drivers-examples")
      local pkgs = assert(block:match("apt%-get install %-y ([^\n]+)"), block)
      local setup = fs.read(helpers.src .. "/.ci/setup")
      for p in pkgs:gmatch("%S+") do
        assert.truthy(setup:find("%f[%w%-]" .. p:gsub("%-", "%%-") .. "%f[^%w%-]"),
          p .. " is not installed by .ci/setup")
      end
    end)
end)
