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
    local drv = instance.driver()
    local key = require("moonbase._core.keys").client_key_path()
    local out = {}
    for _, n in ipairs(names) do
      local rec = instance.get(n)
      if not rec.host_key then
        errors.raise(string.format("ssh-config: instance \"%s\" has no SSH endpoint (the %s " ..
          "driver has no guest)", n, rec.driver))
      end
      local host, port = drv:ssh_address(instance.spec(rec))
      if not host then errors.raise("ssh-config: " .. tostring(port)) end
      local alias = n .. ".moonbase"
      local known = instance.dir(n) .. "/known_hosts"
      errors.check("ssh-config", fs.write(known, alias .. " " .. rec.host_key .. "\n"))
      out[#out + 1] = table.concat({
        "Host " .. n .. " " .. alias,
        "  HostName " .. host,
        "  Port " .. port,
        "  User " .. rec.user,
        "  IdentityFile " .. key,
        "  IdentitiesOnly yes",
        "  HostKeyAlias " .. alias,
        "  UserKnownHostsFile " .. known,
        "  StrictHostKeyChecking yes",
        -- on another libvirt host: HostName:Port are that host's loopback
        rec.host and ("  ProxyCommand " ..
          require("moonbase._core.libvirt_remote").proxy_command(rec.host)) or nil,
      }, "\n")
    end
    if #out > 0 then print(table.concat(out, "\n\n")) end
    return 0
  end,
}
