-- cloud-init's documents for a new instance: meta-data, network-config and
-- user-data, where the user's cloud-config is merged with what moonbase needs:
-- its default user with moonbase's SSH key, and the instance's own SSH host
-- key, so the guest's host key is known before it boots. The driver's create
-- makes them a NoCloud seed (an ISO for VMs) or hands them over as config.
-- layer: services
local yaml = require("moonbase.engine.yaml")
local format = require("moonbase.format")
local errors = require("moonbase.errors")

local M = {}

M.default_user = "moonbase"

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "table" and (v[1] ~= nil or next(v) == nil) then return v end
  return { v }
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Whether YAML can carry s as it is: UTF-8 of its printable set (tab, line
-- breaks, U+0020-U+007E, U+0085, U+00A0 and above but U+FFFE/U+FFFF).
local function yaml_printable(s)
  if utf8.len(s) == nil then return false end
  for _, c in utf8.codes(s) do
    if (c < 0x20 and c ~= 9 and c ~= 10 and c ~= 13) or (c >= 0x7f and c < 0xa0 and c ~= 0x85)
        or c == 0xfffe or c == 0xffff then
      return false
    end
  end
  return true
end

-- RFC 4648 base64 (cloud-init's write_files "encoding: b64")
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local chars = {}
    for k = 3, 0, -1 do
      local v = (n >> (6 * k)) & 63
      chars[#chars + 1] = B64:sub(v + 1, v + 1)
    end
    if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end
M.base64 = base64

-- A clone's disk carries its source's /etc/machine-id (systemd's, D-Bus's):
-- once per instance-id, the guest replaces a non-empty one with a new random
-- id, early (bootcmd). An empty one is left for systemd to fill at boot.
local function machine_id_bootcmd(instance_id)
  return table.concat({
    "f=/var/lib/moonbase/machine-id.instance-id; i=" .. instance_id .. "; ",
    "[ \"$(cat $f 2>/dev/null)\" = \"$i\" ] && exit 0; ",
    "if [ -s /etc/machine-id ]; then ",
    "n=$(tr -d '-' </proc/sys/kernel/random/uuid); ",
    "printf '%s\\n' \"$n\" >/etc/machine-id.new && mv -f /etc/machine-id.new /etc/machine-id; ",
    "if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then ",
    "cp /etc/machine-id /var/lib/dbus/machine-id; fi; fi; ",
    "mkdir -p /var/lib/moonbase && printf '%s\\n' \"$i\" >$f",
  })
end

---Merges moonbase's additions into the user's user-data.
---@param user_data? string  the user's cloud-init (#cloud-config YAML or a script)
---@param o {user: string, authorized_key: string, host_private: string, host_public: string, bootcmd?: string[], new_machine_id?: string}
---  bootcmd: commands of moonbase's that run at every boot before the user's
---  new_machine_id: the instance-id of a clone, whose guest makes itself a new machine-id
---@return string user-data text
function M.user_data(user_data, o)
  local doc = {}
  local script
  if user_data and user_data:match("^#!") then
    script = user_data
  elseif user_data and user_data ~= "" then
    local parsed, msg = yaml.parse(user_data)
    if msg then errors.usage("invalid cloud-init YAML: " .. msg) end
    if parsed ~= nil and (type(parsed) ~= "table" or parsed[1] ~= nil) then
      errors.usage("cloud-init user-data must be a YAML mapping (#cloud-config) or a script " ..
        "(#!), not a " .. (type(parsed) == "table" and "list" or type(parsed)))
    end
    doc = parsed or {}
  end
  local users = list_of(doc.users)
  if #users == 0 then users = { "default" } end
  local ours = {
    name = o.user, sudo = "ALL=(ALL) NOPASSWD:ALL", lock_passwd = true,
    groups = "sudo", ssh_authorized_keys = format.array({ o.authorized_key }),
  }
  local merged, own_shell = false, false
  for i, u in ipairs(users) do
    if type(u) == "table" and u.name == o.user then
      -- the user's own entry for our user: keep it, add our key
      local keys = list_of(u.ssh_authorized_keys)
      keys[#keys + 1] = o.authorized_key
      u.ssh_authorized_keys = format.array(keys)
      u.sudo = u.sudo or ours.sudo
      users[i] = u
      merged = true
      own_shell = u.shell ~= nil
    end
  end
  if not merged then users[#users + 1] = ours end
  doc.users = format.array(users)
  if o.host_private then -- the guest's host key, known before it boots
    doc.ssh_keys = doc.ssh_keys or {}
    doc.ssh_keys.ed25519_private = o.host_private
    doc.ssh_keys.ed25519_public = o.host_public
    doc.ssh_genkeytypes = format.array({})
    doc.ssh_deletekeys = true
  end
  if not own_shell then
    -- a login shell worth having: bash where the image has one. cloud-init
    -- gives new users useradd's default (/bin/sh), and naming a shell the
    -- image lacks would lock the user out, so it is set once the user exists.
    local runcmd = list_of(doc.runcmd)
    table.insert(runcmd, 1, "b=$(command -v bash) && command -v usermod >/dev/null && " ..
      "usermod -s \"$b\" " .. o.user .. " || true")
    doc.runcmd = format.array(runcmd)
  end
  if o.bootcmd and #o.bootcmd > 0 then
    local bootcmd = list_of(doc.bootcmd)
    for i = #o.bootcmd, 1, -1 do table.insert(bootcmd, 1, o.bootcmd[i]) end
    doc.bootcmd = format.array(bootcmd)
  end
  if script then
    local files = list_of(doc.write_files)
    -- YAML carries printable text only: a script that is not UTF-8, or holds a
    -- control character YAML cannot carry, goes base64-encoded
    local text = yaml_printable(script)
    files[#files + 1] = { path = "/var/lib/moonbase/user-script", permissions = "0755",
      content = text and script or base64(script), encoding = (not text) and "b64" or nil }
    doc.write_files = format.array(files)
    local runcmd = list_of(doc.runcmd)
    runcmd[#runcmd + 1] = format.array({ "/var/lib/moonbase/user-script" })
    doc.runcmd = format.array(runcmd)
  end
  if o.new_machine_id then
    local bootcmd = list_of(doc.bootcmd)
    table.insert(bootcmd, 1, format.array({ "sh", "-c", machine_id_bootcmd(o.new_machine_id) }))
    doc.bootcmd = format.array(bootcmd)
  end
  for _, k in ipairs({ "runcmd", "bootcmd", "packages", "write_files" }) do
    if doc[k] then doc[k] = format.array(list_of(doc[k])) end
  end
  return "#cloud-config\n" .. format.yaml(doc)
end

---A netplan v2 network-config: DHCP on the primary NIC (QEMU user
---networking), or the static attachments of moonbase networks.
---@param o {mac: string, attachments?: table}
function M.network_config(o)
  local eth = {}
  if o.network_config then return "version: 2\n" .. format.yaml(o.network_config) end
  eth.primary = { match = { macaddress = o.mac }, ["set-name"] = "eth0", dhcp4 = true }
  return format.yaml({ version = 2, ethernets = eth })
end

---The meta-data document: the instance's id and hostname.
---@param name string
---@param instance_id string
function M.meta_data(name, instance_id)
  return string.format("instance-id: %s\nlocal-hostname: %s\n", instance_id, name)
end

return M
