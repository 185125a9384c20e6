-- moonbase ssh-config [NAME...]
local instance = require("moonbase.instance")
local fs = require("moonbase.engine.fs")
local errors = require("moonbase.errors")

return {
  summary = "Print OpenSSH configuration for reaching instances",
  usage = "moonbase ssh-config [NAME...]",
  description = "Prints a Host block per instance (all running ones by default) for ssh, " ..
    "scp, VS Code Remote or Ansible, e.g. moonbase ssh-config >> ~/.ssh/config. The host " ..
    "key moonbase pinned at launch is written to the instance's known_hosts file.",
  run = function(opts)
    local names = {}
    for i = 1, #opts do names[#names + 1] = opts[i] end
    if #names == 0 then
      for _, r in ipairs(instance.list()) do
        if r.state == "running" then names[#names + 1] = r.name end
      end
    end
    local out = {}
    for _, n in ipairs(names) do
      local ep = errors.check("ssh-config", instance.ssh_endpoint(n))
      local alias = n .. ".moonbase"
      local known = instance.dir(n) .. "/known_hosts"
      errors.check("ssh-config", fs.write(known, alias .. " " .. ep.host_key .. "\n"))
      out[#out + 1] = table.concat({
        "Host " .. n .. " " .. alias,
        "  HostName " .. ep.host,
        "  Port " .. ep.port,
        "  User " .. ep.user,
        "  IdentityFile " .. ep.key,
        "  IdentitiesOnly yes",
        "  HostKeyAlias " .. alias,
        "  UserKnownHostsFile " .. known,
        "  StrictHostKeyChecking yes",
        ep.proxy_command and ("  ProxyCommand " .. ep.proxy_command) or nil,
      }, "\n")
    end
    if #out > 0 then print(table.concat(out, "\n\n")) end
    return 0
  end,
}
