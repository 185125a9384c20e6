-- A command's usage text, and the documents made from it: `--help`, the
-- reference (docs/cli.md), and the man pages moonbase(1) and
-- moonbase-COMMAND(1). One source, so the three never disagree. Also the one
-- table of the environment variables moonbase reads or sets.
-- layer: facade
local args = require("moonbase.args")

local M = {}

local help_opt = { "help", "h", type = "flag", help = "show this help" } -- as commands'

M.exit_status = "0 ok, 1 usage error, 2 the operation failed, 5 timeout; `exec` returns " ..
  "the remote command's status"

---Options every command takes before its name (moonbase -v list).
M.global_options = {
  { "help", "h", type = "flag", help = "show the commands" },
  { "version", "V", type = "flag", help = "show the versions (moonbase version)" },
  { "verbose", "v", type = "flag", repeated = true,
    help = "say what moonbase does, on stderr: its steps, each driver call, QEMU's command " ..
      "line; -vv adds libvirt's XML, the SSH steps and what it asks the driver" },
  { "debug", type = "flag", help = "everything -vv shows, and a Lua traceback with errors" },
}

---Environment variables: name, meaning, and who sets it.
M.environment = {
  { "MOONBASE_HOME", "puts settings, instances and caches under DIR/config, DIR/data and " ..
    "DIR/cache (the test suite sets it to a temporary directory)" },
  { "XDG_CONFIG_HOME", "settings, aliases, remotes and your commands go to " ..
    "$XDG_CONFIG_HOME/moonbase (default ~/.config/moonbase)" },
  { "XDG_DATA_HOME", "instances and keys go to $XDG_DATA_HOME/moonbase (default " ..
    "~/.local/share/moonbase)" },
  { "XDG_CACHE_HOME", "images and manifests go to $XDG_CACHE_HOME/moonbase (default " ..
    "~/.cache/moonbase)" },
  { "MOONBASE_LOG", "what -v, -vv and --debug say, for runs you pass no flag to (instance " ..
    "agents, recipe workers inherit it): a level (1 or verbose, 2 or more, 3 or debug), " ..
    "optionally with a file to append to, each line with its time and process: " ..
    "2:/tmp/moonbase.log" },
  { "NO_COLOR", "set to anything but empty: tables are never coloured (they are " ..
    "coloured only on a terminal anyway); TERM=dumb does the same" },
  { "MOONBASE_SERVER", "the moonbase daemon every command goes through: unix:///PATH or " ..
    "https://HOST:PORT (or local: none); wins over moonbase --server's absence and the " ..
    "setting client.server (docs/daemon.md)" },
  { "XDG_RUNTIME_DIR", "where `moonbase daemon` run by an ordinary user makes its socket " ..
    "($XDG_RUNTIME_DIR/moonbase.sock)" },
  { "LISTEN_FDS", "set by systemd with LISTEN_PID for `moonbase daemon` started by " ..
    "moonbase.socket: the sockets it serves" },
  { "LISTEN_PID", "see LISTEN_FDS" },
  { "TERM", "passed to the shell of `moonbase shell` (and, through a daemon, to its worker)" },
  { "LANG", "through a daemon, passed to the worker that runs a command" },
  { "LC_ALL", "through a daemon, passed to the worker that runs a command" },
  { "COLUMNS", "through a daemon, passed to the worker that runs a command" },
  { "USER", "names this client's certificate (moonbase authenticate): USER@host" },
  { "BROWSER", "the browser `moonbase gui` opens the dashboard with (else xdg-open on a " ..
    "graphical display, else the link is printed)" },
  { "DISPLAY", "an X display: `moonbase gui` opens the dashboard with xdg-open there" },
  { "WAYLAND_DISPLAY", "a Wayland display: the same" },
  { "MOONBASE_LUA_DEV", "a source tree whose lua/ and cli/ are loaded instead of the " ..
    "copies inside the binary (for developing moonbase)" },
  { "MOONBASE_RECIPE_BUDGET", "seconds a recipe may take to load (default 5)" },
  { "MOONBASE_RECIPE_OUTPUT_BUDGET", "seconds one recipe output may take (default 300)" },
  { "MOONBASE_RECIPE_MEMORY", "MiB of memory a recipe may use while it loads (default 512)" },
  { "SOURCE_DATE_EPOCH", "the time written into cloud-init seed ISOs (for reproducible " ..
    "seeds); default now" },
  { "PATH", "where moonbase-NAME commands, qemu-system-x86_64 and qemu-img are found" },
  { "MOONBASE_DRIVERS_PATH", "directories (colon-separated) searched first for external " ..
    "drivers (moonbase-driver-NAME) and Lua drivers (NAME.lua); then " ..
    "<prefix>/libexec/moonbase and the data directory's drivers/ (docs/writing-drivers.md)" },
  { "MOONBASE_DRIVER_TIMEOUT", "seconds an external driver may stay silent before it is " ..
    "killed (default 60)" },
  { "MOONBASE_DRIVERS_REPLACE", "built-in drivers (comma-separated names) that an external " ..
    "or Lua driver of the same name replaces; without it such a driver is ignored" },
  { "MOONBASE", "set by moonbase for moonbase-NAME commands it runs: the moonbase binary" },
  { "MOONBASE_INSTANCE", "set by moonbase for commands run in an instance by exec and by " ..
    "recipe steps: the instance's name" },
  { "MOONBASE_PROJECT", "set by moonbase for recipe steps: the recipe's project" },
  { "MOONBASE_NET_FAKE", "test suite only: a JSON file standing in for the host's " ..
    "network (links, addresses, routes)" },
  { "MOONBASE_TEST_DELAY_MS", "test suite only: the test driver sleeps this long in " ..
    "create, start and shutdown" },
  { "MOONBASE_TEST_FAIL", "test suite only: test-driver operations to fail, e.g. " ..
    "start,create:web1" },
}

local function spec_of(cmd)
  local spec = { help_opt }
  for _, o in ipairs(cmd.options or {}) do spec[#spec + 1] = o end
  return spec
end

---The pieces every rendering uses.
---@return {name: string, summary: string, usage: string, description: string, options: string[][], fields?: string}
function M.parts(name, cmd)
  return {
    name = name,
    summary = cmd.summary or "",
    usage = cmd.usage or ("moonbase " .. name .. " [options]"),
    description = cmd.description or cmd.summary or "",
    options = args.rows(spec_of(cmd)),
    fields = cmd.columns and require("moonbase.format").describe(cmd.columns) or nil,
  }
end

---The --help text of a command module.
---@return string
function M.text(name, cmd)
  local p = M.parts(name, cmd)
  local out = { "Usage: " .. p.usage, "", p.description, "", "Options:", args.help(spec_of(cmd)) }
  if p.fields then
    out[#out + 1] = ""
    out[#out + 1] = "Fields (--format): " .. p.fields .. "."
  end
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------- man pages
-- troff: escape backslashes and dashes, keep a line from starting with . or '
local function roff(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  s = s:gsub("\n([.'])", "\n\\&%1")
  if s:match("^[.']") then s = "\\&" .. s end
  return s
end

local function man_head(title, section_name, out)
  out[#out + 1] = string.format('.TH %s 1 "" "moonbase %s" "moonbase manual"', title:upper(),
    require("moonbase.engine.util").versions().moonbase or "")
  out[#out + 1] = ".SH NAME"
  out[#out + 1] = roff(section_name)
end

local function man_options(rows, out)
  for _, r in ipairs(rows) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. roff((r[1]:gsub("^%s+", "")))
    out[#out + 1] = roff(r[2])
  end
end

---The man page moonbase-NAME(1).
---@return string
function M.man(name, cmd)
  local p = M.parts(name, cmd)
  local out = {}
  man_head("moonbase-" .. name, "moonbase-" .. name .. " - " .. p.summary, out)
  out[#out + 1] = ".SH SYNOPSIS"
  out[#out + 1] = ".nf"
  out[#out + 1] = roff(p.usage)
  out[#out + 1] = ".fi"
  out[#out + 1] = ".SH DESCRIPTION"
  out[#out + 1] = roff(p.description)
  out[#out + 1] = ".SH OPTIONS"
  man_options(p.options, out)
  if p.fields then
    out[#out + 1] = ".SH FIELDS"
    out[#out + 1] = roff("--format table|json|yaml|csv shows these fields: " .. p.fields .. ".")
  end
  out[#out + 1] = ".SH EXIT STATUS"
  out[#out + 1] = roff(M.exit_status:gsub("`", "") .. ".")
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = ".BR moonbase (1)"
  return table.concat(out, "\n") .. "\n"
end

---The man page moonbase(1): the commands, global options, environment, files.
---@param commands {name: string, cmd: table}[]
---@return string
function M.man_index(commands)
  local out = {}
  man_head("moonbase", "moonbase - launch cloud-style Linux VMs and mini-clouds", out)
  out[#out + 1] = ".SH SYNOPSIS"
  out[#out + 1] = ".B moonbase"
  out[#out + 1] = roff("[-v] [--debug] COMMAND [OPTIONS] [ARGS]")
  out[#out + 1] = ".SH DESCRIPTION"
  out[#out + 1] = roff("moonbase launches cloud-style Linux VMs and whole multi-instance " ..
    "mini-clouds on a Linux host, like Multipass or Lima, with Vagrant-style " ..
    "multi-machine recipes in Lua. Each command has its own page, moonbase-COMMAND(1), " ..
    "and prints its usage with moonbase COMMAND --help.")
  out[#out + 1] = ".SH COMMANDS"
  for _, c in ipairs(commands) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".BR moonbase\\-" .. roff(c.name) .. " (1)"
    out[#out + 1] = roff(c.cmd.summary or "")
  end
  out[#out + 1] = ".SH GLOBAL OPTIONS"
  man_options(args.rows(M.global_options), out)
  out[#out + 1] = ".SH EXIT STATUS"
  out[#out + 1] = roff(M.exit_status:gsub("`", "") .. ".")
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, e in ipairs(M.environment) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. roff(e[1])
    out[#out + 1] = roff(e[2])
  end
  out[#out + 1] = ".SH FILES"
  out[#out + 1] = roff("Settings in $XDG_CONFIG_HOME/moonbase/settings.json, instances in " ..
    "$XDG_DATA_HOME/moonbase/instances, images in $XDG_CACHE_HOME/moonbase/images (all " ..
    "under $MOONBASE_HOME when it is set); your commands in " ..
    "$XDG_CONFIG_HOME/moonbase/commands/NAME.lua.")
  out[#out + 1] = ".SH SEE ALSO"
  for i, c in ipairs(commands) do
    out[#out + 1] = ".BR moonbase\\-" .. roff(c.name) .. " (1)" .. (i < #commands and "," or "")
  end
  return table.concat(out, "\n") .. "\n"
end

---------------------------------------------------------------- docs/cli.md
---The command reference in Markdown.
---@param commands {name: string, cmd: table}[]
---@return string
function M.markdown(commands)
  local out = {
    "# moonbase command reference",
    "",
    "Generated from each command's own `--help` by `tests/gen-cli-reference.lua`; " ..
      "do not edit by hand. The same text is in the man pages: `man moonbase`, " ..
      "`man moonbase-launch`, ...",
    "",
    "Exit status: " .. M.exit_status .. ".",
    "",
    "Every listing takes `--format table|json|yaml|csv` and shows the same fields in each, " ..
      "under the names listed with the command. JSON, YAML and CSV carry full values: sizes " ..
      "in bytes, durations in seconds, times in ISO 8601 UTC, full ids; a missing value is " ..
      "`null` (an empty CSV field). Only the table abbreviates, as each field says, and " ..
      "leaves out the fields marked *not in the table*.",
    "",
    "Global options, before the command (`moonbase -v launch ...`):",
    "",
    "```",
    args.help(M.global_options),
    "```",
    "",
  }
  for _, c in ipairs(commands) do
    out[#out + 1] = "## " .. c.name
    out[#out + 1] = ""
    out[#out + 1] = c.cmd.summary or ""
    out[#out + 1] = ""
    out[#out + 1] = "```"
    out[#out + 1] = (M.text(c.name, c.cmd):gsub("\n$", ""))
    out[#out + 1] = "```"
    out[#out + 1] = ""
  end
  return table.concat(out, "\n")
end

---The environment table in Markdown (docs/getting-started.md).
---@return string
function M.environment_markdown()
  local out = { "| variable | what it does |", "|---|---|" }
  for _, e in ipairs(M.environment) do
    out[#out + 1] = string.format("| `%s` | %s |", e[1], (e[2]:gsub("|", "\\|")))
  end
  return table.concat(out, "\n") .. "\n"
end

---The settings table in Markdown (docs/getting-started.md), from the schema.
---@return string
function M.settings_markdown()
  local settings = require("moonbase.settings")
  local schema = settings.all()
  local keys = {}
  for k in pairs(schema) do keys[#keys + 1] = k end
  table.sort(keys)
  local function cell(s) return (tostring(s):gsub("|", "\\|")) end
  local out = { "| key | values | default | what it does |", "|---|---|---|---|" }
  for _, k in ipairs(keys) do
    local s = schema[k]
    local values = s.values and ("`" .. table.concat(s.values, "`, `") .. "`") or
      ({ bool = "`true`, `false`", name = "an instance name", int = "a whole number" })[s.type] or
      "text"
    local default = s.default
    if default == nil or default == "" then default = "unset" else default = "`" ..
      tostring(default) .. "`" end
    out[#out + 1] = string.format("| `%s` | %s | %s | %s |", k, values, cell(default),
      cell(s.help))
  end
  for _, row in ipairs(require("moonbase._core.settings").pattern_docs()) do
    local cells = {}
    for i, c in ipairs(row) do cells[i] = cell(c) end
    out[#out + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(out, "\n") .. "\n"
end

return M
