-- moonbase ssh-config [NAME...]
local instance = require("moonbase.instance")
local fs = require("moonbase.engine.fs")
local errors = require("moonbase.errors")
local format = require("moonbase.format")

local columns = { { key = "name", title = "Name" }, { key = "alias", title = "Alias" },
  { key = "hostname", title = "HostName" }, { key = "port", title = "Port" },
  { key = "user", title = "User" }, { key = "identity_file", title = "IdentityFile" },
  { key = "known_hosts", title = "UserKnownHostsFile" },
  { key = "proxy_command", title = "ProxyCommand" } }

return {
  summary = "Print OpenSSH configuration for reaching instances",
  complete = { "instance", rest = true },
  usage = "moonbase ssh-config [NAME...] [--format FORMAT]",
  description = "Prints a Host block per instance (all running ones by default) for ssh, " ..
    "scp, VS Code Remote or Ansible, e.g. moonbase ssh-config >> ~/.ssh/config. The host " ..
    "key moonbase pinned at launch is written to the instance's known_hosts file. The table " ..
    "format is the ssh_config text itself; the others give the same facts as fields.",
  columns = columns,
  options = { format.option },
  run = function(opts)
    local names = {}
    for i = 1, #opts do names[#names + 1] = opts[i] end
    if #names == 0 then
      for _, r in ipairs(instance.list()) do
        if r.state == "running" then names[#names + 1] = r.name end
      end
    end
    local rows = {}
    for _, n in ipairs(names) do
      local ep = errors.check("ssh-config", instance.ssh_endpoint(n))
      local alias = n .. ".moonbase"
      local known = instance.dir(n) .. "/known_hosts"
      errors.check("ssh-config", fs.write(known, alias .. " " .. ep.host_key .. "\n"))
      rows[#rows + 1] = { name = n, alias = alias, hostname = ep.host, port = ep.port,
        user = ep.user, identity_file = ep.key, known_hosts = known,
        proxy_command = ep.proxy_command }
    end
    if opts.format ~= "table" then
      format.print(rows, opts.format, { columns = columns })
      return 0
    end
    local out = {}
    for _, r in ipairs(rows) do
      out[#out + 1] = table.concat({
        "Host " .. r.name .. " " .. r.alias,
        "  HostName " .. r.hostname,
        "  Port " .. r.port,
        "  User " .. r.user,
        "  IdentityFile " .. r.identity_file,
        "  IdentitiesOnly yes",
        "  HostKeyAlias " .. r.alias,
        "  UserKnownHostsFile " .. r.known_hosts,
        "  StrictHostKeyChecking yes",
        r.proxy_command and ("  ProxyCommand " .. r.proxy_command) or nil,
      }, "\n")
    end
    if #out > 0 then print(table.concat(out, "\n\n")) end
    return 0
  end,
}
