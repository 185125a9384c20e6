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

---Runs a command module (bundled, or a user's that returns one) on argv.
function M.run_module(name, cmd, argv)
  local spec = { help_opt }
  for _, o in ipairs(cmd.options or {}) do spec[#spec + 1] = o end
  local opts, msg = args.parse(argv, spec)
  if not opts then
    errors.usage(string.format("%s (try: moonbase %s --help)", msg, name))
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

local function dispatch(argv)
  local name = argv[1]
  local rest = { table.unpack(argv, 2) }
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

---Entry point from C: returns the exit status.
function M.run(argv)
  local rc
  local ok, err = xpcall(function() rc = dispatch(argv) end, function(e)
    if errors.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  io.stdout:flush()
  if ok then return rc or 0 end
  if errors.is(err) then
    local prefix = M.current and not err.message:find("^" .. M.current:gsub("%-", "%%-") .. "[: ]")
      and (M.current .. ": ") or (M.current and "" or "moonbase: ")
    io.stderr:write(prefix, err.message, "\n")
    return errors.exit_code(err.code)
  end
  io.stderr:write("moonbase: internal error: ", tostring(err), "\n")
  return 2
end

return M
