-- moonbase set KEY=VALUE
local settings = require("moonbase.settings")
local errors = require("moonbase.errors")

return {
  summary = "Change a setting",
  complete = { "setting-assign", rest = true },
  usage = "moonbase set KEY=VALUE [KEY=VALUE...]",
  description = "Validates every KEY=VALUE first; if any is bad nothing is written. " ..
    "See 'moonbase get --keys'.",
  min_args = 1,
  run = function(opts)
    local pairs_ = {}
    for i = 1, #opts do
      local k, v = opts[i]:match("^([^=]+)=(.*)$")
      if not k then
        errors.usage(string.format("expected KEY=VALUE, got \"%s\" (try: moonbase set " ..
          "local.driver=qemu)", opts[i]))
      end
      pairs_[#pairs_ + 1] = { k, v }
    end
    local pending = {}
    for _, kv in ipairs(pairs_) do pending[kv[1]] = kv[2] end
    for _, kv in ipairs(pairs_) do settings.check(kv[1], kv[2], pending) end
    for _, kv in ipairs(pairs_) do settings.set(kv[1], kv[2], pending) end
    return 0
  end,
}
