-- moonbase agent NAME: the per-instance agent (started by moonbase itself).
-- Boots (or resumes, or attaches to) the instance, waits for SSH and
-- cloud-init, then serves exec/transfer requests until QEMU exits.
local instance = require("moonbase.instance")

return {
  hidden = true,
  summary = "Run an instance's agent (moonbase starts it for you)",
  usage = "moonbase agent NAME --mode boot|resume|attach --driver DRIVER --deadline EPOCH",
  options = {
    { "mode", type = "enum", values = { "boot", "resume", "attach" }, default = "boot" },
    { "driver", help = "the driver that runs the instance" },
    { "deadline", type = "number", help = "give up at this wall-clock time" },
  },
  min_args = 1,
  max_args = 1,
  run = function(opts)
    return instance.run_agent(opts[1], opts)
  end,
}
