-- moonbase delete NAME... | INSTANCE.SNAPSHOT... | --all [--purge]
local instance = require("moonbase.instance")
local snapshots = require("moonbase.snapshots")
local targets = require("moonbase.targets")

return {
  summary = "Delete instances (recoverable until purged)",
  complete = { "instance", rest = true },
  usage = "moonbase delete NAME... | INSTANCE.SNAPSHOT... [--all] [--purge]",
  description = "Stops instances and marks them deleted; 'moonbase recover' brings them " ..
    "back, 'moonbase purge' removes them. --purge removes them at once. INSTANCE.SNAPSHOT " ..
    "deletes that snapshot (at once: snapshots are not kept for recovery).",
  options = {
    targets.all_option,
    { "purge", "p", type = "flag", help = "remove the instance and its files now" },
  },
  run = function(opts)
    -- INSTANCE.SNAPSHOT: one dot between two names; anything else (a path)
    -- is checked, and refused, as an instance name
    local function is_snapshot(n) return n:match("^[%w-]+%.[%w-]+$") ~= nil end
    return targets.each("delete", opts, function(n)
      if is_snapshot(n) then return snapshots.delete(snapshots.parse_ref(n, "delete")) end
      return instance.delete(n, { purge = opts.purge })
    end, { check = function(n)
      if is_snapshot(n) then return snapshots.check_delete(n) end
    end })
  end,
}
