-- moonbase get [KEY] | get --keys
local settings = require("moonbase.settings")
local format = require("moonbase.format")

local function show(v)
  if v == nil then return "" end
  return tostring(v)
end

return {
  summary = "Show settings",
  usage = "moonbase get [KEY] [--keys] [--format FORMAT]",
  description = "Shows the value of KEY, or of every setting. --keys lists the keys with " ..
    "their help.",
  options = {
    { "keys", type = "flag", help = "list the available keys" },
    { "raw", type = "flag", hidden = true },
    format.option,
  },
  max_args = 1,
  run = function(opts)
    if opts[1] then
      print(show(settings.get(opts[1])))
      return 0
    end
    local rows = {}
    for _, k in ipairs(settings.keys()) do
      local s = settings.schema[k]
      rows[#rows + 1] = { key = k, value = settings.get(k),
        help = s and s.help or "per-instance setting (applied at next start)",
        allowed = s and s.values and table.concat(s.values, "|") or nil,
        default = s and s.default or nil }
    end
    if opts.keys then
      if opts.format == "table" then
        for _, r in ipairs(rows) do
          print(r.key)
          print("    " .. r.help .. (r.allowed and ("; one of " .. r.allowed) or "") ..
            (r.default ~= nil and ("; default " .. tostring(r.default)) or ""))
        end
        return 0
      end
      format.print(rows, opts.format, { columns = { { key = "key" }, { key = "allowed" },
        { key = "default" }, { key = "help" } } })
      return 0
    end
    local map = {}
    for _, r in ipairs(rows) do map[r.key] = r.value end
    format.print(rows, opts.format, { value = map,
      columns = { { key = "key", title = "Key" }, { key = "value", title = "Value" } } })
    return 0
  end,
}
