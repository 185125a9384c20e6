-- The command line: finds what `moonbase <command>` names, parses its options,
-- runs it, and turns errors into one line on stderr and an exit status
-- (0 ok, 1 usage, 2 failed, 5 timeout). The program itself: the only module
-- that loads commands (cli/*.lua).
-- layer: main
local args = require("moonbase.args")
local errors = require("moonbase.errors")
local commands = require("moonbase.commands")

local M = {}

local help_opt = commands.help_option

-- -v/--verbose and --debug work after the command too (moonbase launch -vv),
-- as Multipass users type them
local late_globals = {
  { "verbose", "v", type = "flag", repeated = true, hidden = true },
  { "debug", type = "flag", hidden = true },
}

---Runs a command module (bundled, or a user's that returns one) on argv.
function M.run_module(name, cmd, argv)
  local spec = { help_opt }
  local own = {}
  for _, o in ipairs(cmd.options or {}) do
    spec[#spec + 1] = o
    own[o[1]] = true
    if o[2] then own["-" .. o[2]] = true end
  end
  for _, o in ipairs(late_globals) do
    if not own[o[1]] and not (o[2] and own["-" .. o[2]]) then spec[#spec + 1] = o end
  end
  local opts, msg = args.parse(argv, spec)
  if not opts then
    errors.usage(string.format("%s (try: moonbase %s --help)", msg, name))
  end
  if not own.verbose and not own.debug then
    local v = opts.verbose and #opts.verbose or 0
    if opts.debug then v = 3 end
    if v > M.verbosity then M.set_verbosity(v) end
  end
  if opts.help then
    io.stdout:write(commands.command_help(name, cmd))
    return 0
  end
  if cmd.max_args and #opts > cmd.max_args then
    errors.usage(string.format("too many arguments (try: moonbase %s --help)", name))
  end
  if cmd.min_args and #opts < cmd.min_args then
    errors.usage(string.format("missing arguments: %s", cmd.usage or name))
  end
  local rc = cmd.run(opts, argv)
  return math.tointeger(rc) or 0
end

local function run_user_lua(name, path, argv)
  local chunk, msg = loadfile(path, "t")
  if not chunk then errors.raise("cannot load " .. msg) end
  local a = { [0] = path }
  for i, v in ipairs(argv) do a[i] = v end
  _G.arg = a
  local result = chunk(table.unpack(argv))
  if type(result) == "table" and type(result.run) == "function" then
    return M.run_module(name, result, argv)
  end
  return math.tointeger(result) or 0
end

M.verbosity = 0

---Sets how much moonbase says about what it does (moonbase.log).
function M.set_verbosity(level)
  M.verbosity = level
  require("moonbase.log").setup(level)
end

-- Commands that always run in this process, whatever MOONBASE_SERVER says:
-- the daemon itself, what it starts, and the ones that talk to it on their own.
local runs_here = { daemon = true, agent = true, ["sftp-server"] = true, help = true,
  version = true, authenticate = true }

-- moonbase's own options, before the command: returns the command's index
local function global_options(argv)
  local i, v = 1, 0
  while argv[i] and argv[i]:sub(1, 1) == "-" and argv[i] ~= "-" do
    local a = argv[i]
    if a == "-h" or a == "--help" or a == "-V" or a == "--version" then break end
    if a == "--server" or a:match("^%-%-server=") then
      -- the daemon to go through (docs/daemon.md); its children inherit it
      local url = a:match("^%-%-server=(.*)$")
      if not url then
        i = i + 1
        url = argv[i]
      end
      if not url or url == "" then
        errors.usage("--server needs a URL: unix:///PATH or https://HOST:PORT")
      end
      require("moonbase.engine.util").setenv("MOONBASE_SERVER", url)
    elseif a == "--verbose" then v = v + 1
    elseif a == "--debug" then v = 3
    elseif a:match("^%-v+$") then v = v + #a - 1
    else
      errors.usage(string.format("unknown option \"%s\": moonbase's own options are -v, " ..
        "--verbose, --debug, --server, --help and --version, before the command (try: " ..
        "moonbase help)", a))
    end
    i = i + 1
  end
  if v > 0 then
    if not argv[i] then
      errors.usage(string.format("%s needs a command after it, e.g. moonbase %s list (try: " ..
        "moonbase help)", argv[i - 1], argv[i - 1]))
    end
    M.set_verbosity(math.min(v, 3))
  end
  return i
end

local function dispatch(argv)
  local first = global_options(argv)
  local name = argv[first]
  local rest = { table.unpack(argv, first + 1) }
  if name == nil or name == "-h" or name == "--help" then
    name, rest = "help", {}
  elseif name == "--version" or name == "-V" then
    name = "version"
  end
  local found, warning = commands.resolve(name)
  if warning then io.stderr:write("moonbase: ", warning, "\n") end
  if not found then
    local near = name:match("^[%w-]+$") and commands.closest(name)
    errors.usage(string.format("unknown command \"%s\"%s", name,
      near and string.format(" (did you mean \"%s\"? try: moonbase help)", near) or
      " (try: moonbase help)"))
  end
  M.current = name
  if not runs_here[name] then
    local url = require("moonbase._core.settings").client_server()
    if url then require("moonbase.client").install(url) end
  end
  local a = { [0] = "moonbase " .. name }
  for i, v in ipairs(rest) do a[i] = v end
  _G.arg = a
  if found.kind == "bundled" then
    return M.run_module(name, require("cli." .. name), rest)
  elseif found.kind == "user" then
    return run_user_lua(name, found.path, rest)
  elseif found.kind == "external" then
    local process = require("moonbase.engine.process")
    local argv2 = { found.path }
    for _, v in ipairs(rest) do argv2[#argv2 + 1] = v end
    errors.check(name, process.exec(argv2, { env = { MOONBASE = require("moonbase.engine.fs").readlink("/proc/self/exe") } }))
  elseif found.kind == "alias" then
    local instance = require("moonbase.instance")
    local cmdline = { "sh", "-c", found.alias.command .. ' "$@"', found.alias.command }
    for _, v in ipairs(rest) do cmdline[#cmdline + 1] = v end
    return instance.exec(found.alias.instance, cmdline)
  end
  return 0
end

-- Where an internal error's details go: the data directory's log, else /tmp.
local function error_log()
  local ok, paths = pcall(require, "moonbase._core.paths")
  local fs = require("moonbase.engine.fs")
  if ok and paths.data and fs.mkdirs(paths.data .. "/logs") then
    return paths.data .. "/logs/errors.log"
  end
  return string.format("/tmp/moonbase-%d-errors.log",
    require("moonbase.engine.util").geteuid and require("moonbase.engine.util").geteuid() or 0)
end

-- Keeps the details of a bug (a Lua error that is no user-facing error) and
-- returns where they are.
local function record_internal_error(trace, argv)
  local path = error_log()
  local f = io.open(path, "a")
  if not f then return nil end
  local util = require("moonbase.engine.util")
  f:write(string.format("%s moonbase[%d] %s: %s\n%s\n\n", os.date("!%Y-%m-%dT%H:%M:%SZ"),
    util.getpid(), require("moonbase.log").quote_argv({ "moonbase", table.unpack(argv) }),
    require("moonbase.engine.util").versions().moonbase or "", trace))
  f:close()
  return path
end

---Entry point from C: returns the exit status. No Lua traceback reaches the
---user: an error that is not a user-facing one (a bug) is one line saying
---where its details were written (--debug prints them as well).
function M.run(argv)
  local rc
  local ok, err = xpcall(function()
    require("moonbase.log").from_env()
    rc = dispatch(argv)
  end, function(e)
    if errors.is(e) then return e end
    return { bug = tostring(e), trace = debug.traceback(tostring(e), 2) }
  end)
  io.stdout:flush()
  if ok then return rc or 0 end
  if errors.is(err) then
    local prefix = M.current and not err.message:find("^" .. M.current:gsub("%-", "%%-") .. "[: ]")
      and (M.current .. ": ") or (M.current and "" or "moonbase: ")
    io.stderr:write(prefix, err.message, "\n")
    return errors.exit_code(err.code)
  end
  local where = (M.current and (M.current .. ": ") or "moonbase: ")
  local ok2, path = pcall(record_internal_error, err.trace, argv)
  local first = (err.bug:match("^[^\n]*"))
  if M.verbosity >= 3 then io.stderr:write(err.trace, "\n") end
  io.stderr:write(where, "internal error: ", first, (ok2 and path) and
    string.format(" (a bug: details in %s)", path) or "", "\n")
  return 2
end

return M
