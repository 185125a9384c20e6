-- moonbase get [KEY] | get --keys
local settings = require("moonbase.settings")
local format = require("moonbase.format")

local columns = { { key = "key", title = "Key" }, { key = "value", title = "Value" } }
local key_columns = { { key = "key", title = "Key" }, { key = "allowed", title = "Allowed" },
  { key = "default", title = "Default" }, { key = "help", title = "Help" } }

local function row(k)
  local s = settings.describe(k)
  local r = { key = k, value = settings.get(k),
    help = settings.help(k),
    allowed = s and s.values and table.concat(s.values, "|") or nil }
  if s then r.default = s.default end
  return r
end

local function as_map(rows)
  local map = {}
  for _, r in ipairs(rows) do map[r.key] = r.value == nil and format.null or r.value end
  return map
end

return {
  summary = "Show settings",
  complete = { "setting" },
  usage = "moonbase get [KEY] [--keys] [--format FORMAT]",
  description = "Shows the value of KEY, or of every setting. --keys lists the keys with " ..
    "their help. JSON and YAML give a map from each key to its value (with KEY, that one " ..
    "key); the table of one KEY is its bare value, for scripts.",
  columns = columns,
  options = {
    { "keys", type = "flag", help = "list the available keys" },
    { "raw", type = "flag", hidden = true },
    format.option,
  },
  max_args = 1,
  run = function(opts)
    if opts[1] then
      local r = row(opts[1])
      if opts.format == "table" then
        print(r.value == nil and "" or tostring(r.value))
      else
        format.print({ r }, opts.format, { columns = columns, value = as_map({ r }) })
      end
      return 0
    end
    local rows = {}
    for _, k in ipairs(settings.keys()) do rows[#rows + 1] = row(k) end
    if opts.keys then
      if opts.format == "table" then
        for _, r in ipairs(rows) do
          print(r.key)
          print("    " .. r.help .. (r.allowed and ("; one of " .. r.allowed) or "") ..
            ((r.default ~= nil and r.default ~= "") and ("; default " .. tostring(r.default))
              or ""))
        end
        return 0
      end
      format.print(rows, opts.format, { columns = key_columns })
      return 0
    end
    format.print(rows, opts.format, { columns = columns, value = as_map(rows) })
    return 0
  end,
}
