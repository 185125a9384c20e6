-- moonbase help [COMMAND]
local commands = require("moonbase.commands")
local aliases = require("moonbase.aliases")
local errors = require("moonbase.errors")

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

return {
  summary = "Show the commands, or one command's usage",
  usage = "moonbase help [COMMAND]",
  max_args = 1,
  run = function(opts)
    local name = opts[1]
    if name then
      local found = commands.resolve(name)
      if not found then
        errors.usage(string.format("unknown command \"%s\" (try: moonbase help)", name))
      end
      if found.kind == "bundled" then
        io.stdout:write(commands.command_help(name, require("cli." .. name)))
      elseif found.kind == "alias" then
        print(string.format("%s is an alias: runs \"%s\" in instance %s", name,
          found.alias.command, found.alias.instance))
      else
        print(string.format("%s is a user command: %s (try: moonbase %s --help)", name,
          found.path, name))
      end
      return 0
    end
    local out = { "Usage: moonbase <command> [options]", "" }
    local rows = {}
    for _, n in ipairs(commands.bundled()) do
      local ok, cmd = pcall(require, "cli." .. n)
      if not (ok and cmd.hidden) then
        rows[#rows + 1] = { n, ok and cmd.summary or "(cannot load: " .. tostring(cmd) .. ")" }
      end
    end
    section(out, "Commands", rows)
    local user = {}
    for n, p in pairs(commands.user()) do user[#user + 1] = { n, p } end
    for n, p in pairs(commands.external()) do
      if not commands.user()[n] then user[#user + 1] = { n, p } end
    end
    table.sort(user, function(a, b) return a[1] < b[1] end)
    section(out, "User commands", user)
    local al = {}
    for n, a in pairs(aliases.all()) do
      al[#al + 1] = { n, a.instance .. ":" .. a.command }
    end
    table.sort(al, function(a, b) return a[1] < b[1] end)
    section(out, "Aliases", al)
    out[#out + 1] = "Run 'moonbase help COMMAND' or 'moonbase COMMAND --help' for a command's usage."
    print(table.concat(out, "\n"))
    return 0
  end,
}
