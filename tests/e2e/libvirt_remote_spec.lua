-- The libvirt driver placing an instance on another host, through the
-- moonbase CLI only. The "other host" is a network namespace this spec makes
-- (ip netns add), joined to the spec's own namespace (ctest runs it in one,
-- tests/lib/in-netns.sh) by a veth pair with addresses in a private range
-- that exist only inside these two namespaces. There it runs its own
-- libvirtd (tests/lib/libvirtd.sh: own config, state and socket dirs) and
-- its own sshd, whose sessions see that libvirtd's socket dir as
-- /run/libvirt (a mount namespace of their own), so the URI is the plain
--   qemu+ssh://root@10.251.N.2/system?keyfile=KEY&command=SSH
-- libvirt's own ssh transport with virt-ssh-helper on the far side; SSH is
-- the ssh binary behind a wrapper that pins the host key with a known_hosts
-- file of the spec's (no ~/.ssh is read or written).
-- Proves: launch uploads the image (and the kernel and initrd of the tiny
-- image's direct boot) to the host's pool "moonbase" and makes the overlay
-- and seed volumes there, the guest's QEMU runs in the other namespace, its
-- NIC on the libvirt network moonbase defined there, exec/transfer reach the
-- guest's address through the host (ssh -W), list and info say where it
-- runs, ssh-config gives OpenSSH a working ProxyCommand, stop and start, a
-- second instance reuses the uploaded image and reaches the first by name,
-- the QEMU driver refuses to run it, a recipe's host = places an instance
-- there, and delete --purge removes the domain and the instance's volumes.
-- Every wait is bounded.
-- Run: ctest -R e2e/libvirt-remote (or tests/lib/in-netns.sh build/moonbase
--      --lua tests/run-busted.lua tests/e2e/libvirt_remote_spec.lua)
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local NAME = "far"
local LIBVIRTD = support.src .. "/tests/lib/libvirtd.sh"

describe("libvirt on a remote host #e2e", function()
  local why = support.unavailable()
  if not why and util.geteuid() ~= 0 then why = "needs root (network namespaces, libvirtd)" end
  if not why then
    local code, out = support.run({ LIBVIRTD, "check" })
    if code ~= 0 then why = "libvirtd cannot run here: " .. out:gsub("%s+$", "") end
  end
  if not why and not fs.exists("/usr/sbin/sshd") then
    why = "sshd is not installed (apt-get install openssh-server)"
  end
  if not why and not support.have("virt-ssh-helper") then
    why = "virt-ssh-helper is not installed (apt-get install libvirt-daemon)"
  end
  if not why and fs.readlink("/proc/self/ns/net") == fs.readlink("/proc/1/ns/net") then
    why = "must run in a network namespace of its own (ctest runs it under tests/lib/in-netns.sh)"
  end
  if why then
    it("needs QEMU, libvirtd, sshd and a network namespace", function() pending(why) end)
    return
  end

  local host, h, skip, tmp, lvdir, uri, ns, addr, key
  local remote_ns_link

  local function need()
    if skip then pending(skip) end
  end

  local function sh(cmd)
    return support.must({ "sh", "-c", cmd })
  end

  -- virsh over the same URI: what the remote host's libvirt says
  local function virsh(...)
    return support.must({ "virsh", "-q", "-c", uri, ... })
  end

  local function volumes()
    local out = {}
    for line in virsh("vol-list", "moonbase"):gmatch("[^\n]+") do
      local n = line:match("^%s*(%S+)")
      if n then out[#out + 1] = n end
    end
    table.sort(out)
    return out
  end

  local function count(list, pattern)
    local n = 0
    for _, v in ipairs(list) do if v:find(pattern) then n = n + 1 end end
    return n
  end

  local function row(name)
    for _, r in ipairs(json.decode(h:ok({ "list", "--format", "json" }))) do
      if r.name == name then return r end
    end
  end

  -- the pid of the domain's QEMU, wherever it runs
  local function qemu_pid(name)
    local _, pids = support.run({ "pgrep", "-f", "guest=mb-" .. name .. "-" })
    return pids:match("(%d+)")
  end

  setup(function()
    local msg
    host, msg = support.host()
    if not host then
      skip = msg
      return
    end
    tmp = support.tmpdir("lvremote")
    local n = util.getpid() % 200 + 20
    ns = string.format("mbrh-%d-%d", util.getpid(), n)
    addr = string.format("10.251.%d.2", n)
    -- the other host: a namespace, a veth pair from ours to it
    support.must({ "ip", "netns", "add", ns })
    remote_ns_link = "mbrh" .. n
    sh(string.format("ip -n %s link set lo up" ..
      " && ip link add %s type veth peer name eth0 netns %s" ..
      " && ip addr add 10.251.%d.1/30 dev %s && ip link set %s up" ..
      " && ip -n %s addr add %s/30 dev eth0 && ip -n %s link set eth0 up",
      ns, remote_ns_link, ns, n, remote_ns_link, remote_ns_link, ns, addr, ns))
    -- its libvirtd
    lvdir = tmp .. "/libvirtd"
    local code, out, err = support.run({ "ip", "netns", "exec", ns, LIBVIRTD, "start", lvdir })
    if code ~= 0 then
      skip = "tests/lib/libvirtd.sh could not start libvirtd: " .. err .. out
      return
    end
    -- its sshd: keys, a known_hosts of ours, libvirtd's sockets as /run/libvirt
    key = tmp .. "/client"
    support.must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key })
    support.must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp .. "/hostkey" })
    assert(fs.write(tmp .. "/known_hosts", addr .. " " .. fs.read(tmp .. "/hostkey.pub")))
    assert(fs.write(tmp .. "/sshd_config", table.concat({
      "Port 22", "ListenAddress " .. addr, "HostKey " .. tmp .. "/hostkey",
      "AuthorizedKeysFile " .. key .. ".pub", "PidFile none", "UsePAM no", "StrictModes no",
      "PermitRootLogin yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
      "AllowTcpForwarding yes", "LogLevel INFO", "" }, "\n")))
    assert(fs.write(tmp .. "/ssh", "#!/bin/sh\nexec ssh -F /dev/null -o UserKnownHostsFile=" ..
      tmp .. "/known_hosts -o StrictHostKeyChecking=yes \"$@\"\n"))
    support.must({ "chmod", "755", tmp .. "/ssh" })
    support.must({ "mkdir", "-p", "/run/sshd" })
    sh(string.format("ip netns exec %s unshare -m --propagation private sh -c " ..
      "'mount --bind %s/sock /run/libvirt" ..
      " && exec timeout 1200 /usr/sbin/sshd -D -f %s/sshd_config" ..
      " -E %s/sshd.log' </dev/null >/dev/null 2>&1 &", ns, lvdir, tmp, tmp))
    support.wait_for("sshd on " .. addr, 20, function()
      return (fs.read(tmp .. "/sshd.log") or ""):find("Server listening", 1, true)
    end)
    uri = string.format("qemu+ssh://root@%s/system?keyfile=%s&command=%s/ssh", addr, key, tmp)
    h = support.home(host, { tag = "lvremote" })
    h:ok({ "set", "local.driver=libvirt", "local.libvirt.uri=" .. uri })
  end)

  teardown(function()
    if h then h:cleanup() end
    if ns then
      if lvdir then support.run({ "ip", "netns", "exec", ns, LIBVIRTD, "stop", lvdir }) end
      local _, pids = support.run({ "ip", "netns", "pids", ns })
      for pid in pids:gmatch("%d+") do support.run({ "kill", "-9", pid }) end
      support.run({ "ip", "netns", "delete", ns })
      if remote_ns_link then support.run({ "ip", "link", "delete", remote_ns_link }) end
    end
    if tmp and not os.getenv("MOONBASE_E2E_KEEP") then fs.rmtree(tmp) end
    support.cleanup()
  end)

  it("launches on the other host: image, overlay and seed are volumes of its pool", function()
    need()
    h:ok({ "launch", "--name", NAME })
    local r = row(NAME)
    assert.are.equal("running", r.state)
    assert.are.equal("root@" .. addr, r.host)
    -- nothing of the disk is here; the host's pool has it
    local dir = h:instance_dir(NAME)
    assert.is_false(fs.exists(dir .. "/disk.qcow2") and true or false)
    -- the host is in the record the driver is given (no side file)
    assert.are.equal(uri, json.decode(fs.read(dir .. "/instance.json")).host)
    assert.is_nil(fs.exists(dir .. "/libvirt.host"))
    local vols = volumes()
    assert.are.equal(1, count(vols, "^mb%-image%-%x+%-disk%.qcow2$"), table.concat(vols, " "))
    assert.are.equal(1, count(vols, "^mb%-image%-%x+%-vmlinuz$"), table.concat(vols, " "))
    assert.are.equal(1, count(vols, "^mb%-" .. NAME .. "%-%x+%.qcow2$"), table.concat(vols, " "))
    assert.are.equal(1, count(vols, "^mb%-" .. NAME .. "%-%x+%-cidata%.iso$"))
    -- the overlay is on the uploaded image
    local overlay = vols[1]
    for _, v in ipairs(vols) do
      if v:match("^mb%-" .. NAME .. "%-%x+%.qcow2$") then overlay = v end
    end
    local vxml = virsh("vol-dumpxml", "--pool", "moonbase", overlay)
    assert.matches("<backingStore>%s*<path>[^<]*mb%-image%-%x+%-disk%.qcow2</path>", vxml)
    -- its NIC is on the libvirt network moonbase defined there
    local dom = virsh("list", "--name"):match("(mb%-" .. NAME .. "%-%x+)")
    assert.is_truthy(dom, "no domain mb-" .. NAME .. "-... on the host")
    assert.matches("<interface type='network'>%s*<mac[^>]*>%s*<source network='mb%-moonbase0%-",
      virsh("dumpxml", dom))
    assert.matches("mb%-moonbase0%-%x+", virsh("net-list", "--name"))
    -- the guest's QEMU runs in the other namespace
    local pid = qemu_pid(NAME)
    assert.is_truthy(pid, "no QEMU of domain mb-" .. NAME .. "-...")
    assert.are.equal(ns, (sh("ip netns identify " .. pid):gsub("%s+$", "")))
  end)

  it("runs commands and copies files through the host", function()
    need()
    local code, out, err = h:run({ "exec", NAME, "--", "hostname" })
    assert.are.equal(0, code, err)
    assert.are.equal(NAME, (out:gsub("%s+$", "")))
    assert(fs.write(tmp .. "/up.txt", "sent through the host\n"))
    h:ok({ "transfer", tmp .. "/up.txt", NAME .. ":/tmp/up.txt" })
    code, out = h:run({ "exec", NAME, "--", "cat", "/tmp/up.txt" })
    assert.are.equal(0, code)
    assert.are.equal("sent through the host\n", out)
  end)

  it("says where it runs in list and info", function()
    need()
    local table_out = h:ok({ "list" })
    assert.matches("Host", table_out, 1, true)
    assert.matches(NAME .. "%s+running.*root@" .. addr:gsub("%.", "%%."), table_out)
    local info = json.decode(h:ok({ "info", NAME, "--format", "json" }))[NAME]
    assert.are.equal("root@" .. addr, info.host)
    assert.are.equal("libvirt", info.driver)
    -- the guest's address on the host's libvirt network, reached through the host
    assert.matches("^[%d.]+:22$", info.ssh)
    local ip = info.ssh:match("^[%d.]+")
    assert.is_truthy(json.encode(info.ipv4 or ""):find(ip, 1, true), json.encode(info))
  end)

  it("gives OpenSSH a working ProxyCommand in ssh-config", function()
    need()
    local cfg = h:ok({ "ssh-config", NAME })
    assert.matches("ProxyCommand [^\n]*%-W %%h:%%p", cfg)
    assert(fs.write(tmp .. "/ssh_config", cfg))
    local code, out, err = support.run({ "ssh", "-F", tmp .. "/ssh_config", "-o", "BatchMode=yes",
      NAME, "echo", "via-proxy" })
    assert.are.equal(0, code, err)
    assert.are.equal("via-proxy\n", out)
  end)

  it("is refused to the QEMU driver, which cannot run it", function()
    need()
    h:ok({ "set", "local.driver=qemu" })
    local r = row(NAME)
    local code, out, err = h:run({ "stop", NAME })
    h:ok({ "set", "local.driver=libvirt" })
    assert.are.equal("running", r.state)
    assert.are.equal("libvirt", r.driver)
    assert.are_not.equal(0, code)
    assert.matches("lives on the libvirt host root@" .. addr:gsub("%.", "%%."), err .. out)
  end)

  it("stops and starts there", function()
    need()
    h:ok({ "stop", NAME })
    assert.are.equal("stopped", row(NAME).state)
    assert.is_nil(qemu_pid(NAME))
    assert.is_falsy(virsh("list", "--all"):find("mb-" .. NAME .. "-", 1, true))
    h:ok({ "start", NAME })
    assert.are.equal("running", row(NAME).state)
    local code, out = h:run({ "exec", NAME, "--", "cat", "/tmp/up.txt" })
    assert.are.equal(0, code)
    assert.are.equal("sent through the host\n", out) -- the same disk
  end)

  it("reuses the uploaded image for a second instance", function()
    need()
    h:ok({ "launch", "--name", NAME .. "2" })
    local vols = volumes()
    assert.are.equal(1, count(vols, "^mb%-image%-%x+%-disk%.qcow2$"), table.concat(vols, " "))
    local code, out = h:run({ "exec", NAME .. "2", "--", "hostname" })
    assert.are.equal(0, code)
    assert.are.equal(NAME .. "2\n", out)
    -- on the same network there: they reach each other by name
    local err
    code, out, err = h:run({ "exec", NAME .. "2", "--", "sudo", "ping", "-c", "1", "-W", "5",
      NAME .. ".moonbase" })
    assert.are.equal(0, code, err .. out)
    h:ok({ "delete", "--purge", NAME .. "2" })
  end)

  it("places a recipe's instance with host = on that host", function()
    need()
    local rdir = tmp .. "/recipe"
    support.must({ "mkdir", "-p", rdir })
    assert(fs.write(rdir .. "/far.lua", 'project "rc"\ninstance "one" { host = "' .. uri ..
      '" }\n'))
    h:ok({ "up", rdir .. "/far.lua" })
    local r = row("rc-one")
    assert.is_truthy(r, "no instance rc-one after up")
    assert.are.equal("running", r.state)
    assert.are.equal("root@" .. addr, r.host)
    assert.are.equal(1, count(volumes(), "^mb%-rc%-one%-%x+%.qcow2$"))
    local code, out = h:run({ "exec", "rc-one", "--", "hostname" })
    assert.are.equal(0, code)
    assert.are.equal("rc-one\n", out)
    h:ok({ "down", rdir .. "/far.lua", "--purge" })
    assert.is_nil(row("rc-one"))
    assert.are.equal(0, count(volumes(), "^mb%-rc%-one"))
  end)

  it("deletes the domain and the instance's volumes", function()
    need()
    h:ok({ "delete", "--purge", NAME })
    assert.is_nil(row(NAME))
    assert.is_nil(qemu_pid(NAME))
    assert.is_falsy(virsh("list", "--all"):find("mb%-" .. NAME .. "%-%x"))
    local vols = volumes()
    assert.are.equal(0, count(vols, "^mb%-" .. NAME .. "%-"), table.concat(vols, " "))
    -- the image stays for the next launch
    assert.are.equal(1, count(vols, "^mb%-image%-%x+%-disk%.qcow2$"))
    assert.is_false(fs.exists(h:instance_dir(NAME)) and true or false)
  end)
end)
