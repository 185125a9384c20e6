-- moonbase help [COMMAND]
local commands = require("moonbase.commands")
local usage = require("moonbase.usage")
local errors = require("moonbase.errors")
local fs = require("moonbase.engine.fs")

local function section(out, title, rows)
  if #rows == 0 then return end
  out[#out + 1] = title .. ":"
  local w = 0
  for _, r in ipairs(rows) do w = math.max(w, #r[1]) end
  for _, r in ipairs(rows) do
    out[#out + 1] = "  " .. r[1] .. string.rep(" ", w - #r[1] + 2) .. r[2]
  end
  out[#out + 1] = ""
end

local function bundled_list()
  local list = {}
  for _, n in ipairs(commands.bundled()) do
    local cmd = require("cli." .. n)
    if not cmd.hidden then list[#list + 1] = { name = n, cmd = cmd } end
  end
  return list
end

-- moonbase.1 and moonbase-NAME.1 into dir (the build makes them)
local function write_man(dir)
  errors.check("help --man", fs.mkdirs(dir))
  local list = bundled_list()
  errors.check("help --man", fs.write(dir .. "/moonbase.1", usage.man_index(list)))
  for _, c in ipairs(list) do
    errors.check("help --man", fs.write(dir .. "/moonbase-" .. c.name .. ".1",
      usage.man(c.name, c.cmd)))
  end
  return 0
end

return {
  summary = "Show the commands, or one command's usage",
  usage = "moonbase help [COMMAND]",
  complete = { "command" },
  options = {
    { "man", metavar = "DIR", hidden = true, help = "write the man pages into DIR" },
  },
  max_args = 1,
  run = function(opts)
    if opts.man then return write_man(opts.man) end
    local name = opts[1]
    if name then
      local found = commands.resolve(name)
      if not found then
        errors.usage(string.format("unknown command \"%s\" (try: moonbase help)", name))
      end
      if found.kind == "bundled" then
        io.stdout:write(usage.text(name, require("cli." .. name)))
      elseif found.kind == "alias" then
        print(string.format("%s is an alias: runs \"%s\" in instance %s", name,
          found.alias.command, found.alias.instance))
      else
        print(string.format("%s is a user command: %s (try: moonbase %s --help)", name,
          found.path, name))
      end
      return 0
    end
    local out = { "Usage: moonbase [-v] [--debug] <command> [options]", "" }
    local rows = {}
    for _, c in ipairs(bundled_list()) do rows[#rows + 1] = { c.name, c.cmd.summary or "" } end
    section(out, "Commands", rows)
    -- a user's command once each: a Lua command first (it wins, with a warning,
    -- over a bundled one), then executables; one that a bundled command or a
    -- Lua command of the same name hides is marked so, not run
    local user, lua_cmds = {}, commands.user()
    local function refused(p, kind)
      local why = commands.refused(p, kind)
      return why and ("  (refused: " .. why .. ")")
    end
    for n, p in pairs(lua_cmds) do
      user[#user + 1] = { n, p .. (refused(p, "user") or commands.is_bundled(n) and
        "  (shadows the bundled command: rename it to use the bundled one)" or "") }
    end
    for n, p in pairs(commands.external()) do
      local why = not lua_cmds[n] and not commands.is_bundled(n) and refused(p, "external")
      if why then
        user[#user + 1] = { n, p .. why }
      elseif lua_cmds[n] then
        user[#user + 1] = { n, p .. "  (ignored: shadowed by " .. lua_cmds[n] .. ")" }
      elseif commands.is_bundled(n) then
        user[#user + 1] = { n, p .. "  (ignored: shadowed by the bundled command)" }
      else
        user[#user + 1] = { n, p }
      end
    end
    table.sort(user, function(a, b)
      if a[1] ~= b[1] then return a[1] < b[1] end
      return a[2] < b[2]
    end)
    section(out, "User commands", user)
    local al = {}
    for n, a in pairs(require("moonbase.aliases").all()) do
      al[#al + 1] = { n, a.instance .. ":" .. a.command }
    end
    table.sort(al, function(a, b) return a[1] < b[1] end)
    section(out, "Aliases", al)
    local drv = {}
    for _, f in ipairs(require("moonbase.drivers").found()) do
      local note = f.refused and ("  (refused: " .. f.refused .. ")")
        or f.replaces == false and "  (ignored: a built-in driver has this name)" or ""
      drv[#drv + 1] = { f.name, f.path .. note }
    end
    section(out, "Drivers outside moonbase (moonbase drivers)", drv)
    section(out, "Global options", (function()
      local r = {}
      for _, x in ipairs(require("moonbase.args").rows(usage.global_options)) do
        r[#r + 1] = { (x[1]:gsub("^%s+", "")), x[2] }
      end
      return r
    end)())
    out[#out + 1] = "Run 'moonbase help COMMAND' or 'moonbase COMMAND --help' for a command's " ..
      "usage; 'man moonbase-COMMAND' for its page."
    print(table.concat(out, "\n"))
    return 0
  end,
}
