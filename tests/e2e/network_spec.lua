-- moonbase0 with real guests: two tiny-image VMs (tests/images/build-tiny.sh)
-- on taps of the moonbase0 bridge, at the driver level (the wiring into
-- `launch` is the lead's), everything inside a network namespace this spec
-- creates and deletes: every moonbase process runs as `ip netns exec NS
-- moonbase --lua ctl.lua ...`, so the bridge, the taps, dnsmasq, the NAT
-- table and the QEMUs all live in NS, and no packet leaves it (NS has no
-- uplink at all). Proves: each guest gets its static address from the seed's
-- network-config, pings the other by address and by <name>.moonbase, the
-- "host" (NS) reaches both, the address is the same after stop/start and
-- after suspend/resume, a third instance gets another address, and prune
-- leaves nothing behind.
-- Run: build/moonbase --lua tests/run-busted.lua tests/e2e/network_spec.lua
-- MOONBASE_TINY_IMAGE=<dir> uses an already built image.
local helpers = require("helpers")
local process = require("moonbase.core.process")
local fs = require("moonbase.core.fs")
local json = require("moonbase.core.json")
local util = require("moonbase.core.util")

local SRC = os.getenv("MOONBASE_SRC") or "."
local BOOT_TIMEOUT = 240 -- two guests booting under TCG on a busy 2-core machine

local function run(argv, opts)
  local code, out, err = process.run(argv, opts)
  return code, out or "", err or ""
end

local function must(argv, opts)
  local code, out, err = run(argv, opts)
  assert(code == 0, table.concat(argv, " ") .. " exited " .. code .. ": " .. err .. out)
  return out
end

local function have(prog)
  return run({ "sh", "-c", 'command -v "$0" >/dev/null', prog }) == 0
end

local function tiny_image()
  local dir = os.getenv("MOONBASE_TINY_IMAGE")
  if not dir then
    local code, out, err = run({ SRC .. "/tests/images/build-tiny.sh" })
    if code ~= 0 then return nil, "build-tiny.sh failed: " .. err:sub(-2000) end
    dir = out:match("([^\n]+)\n*$")
  end
  for _, f in ipairs({ "disk.qcow2", "vmlinuz", "initrd.img", "metadata.json" }) do
    if not fs.exists(dir .. "/" .. f) then return nil, "tiny image incomplete: no " .. f end
  end
  return dir
end

local function wait_for(what, timeout, fn)
  local deadline = util.now() + timeout
  while util.now() < deadline do
    local v = fn()
    if v then return v end
    util.sleep(0.5)
  end
  error(string.format("timed out after %d s waiting for %s", timeout, what))
end

local function missing()
  if select(2, require("moonbase.core.net").uid()) ~= 0 then
    return "needs root (network namespace, bridge, taps)"
  end
  for _, p in ipairs({ { "ip", "iproute2" }, { "dnsmasq", "dnsmasq-base" }, { "nft", "nftables" },
    { "qemu-system-x86_64", "qemu-system-x86" }, { "qemu-img", "qemu-utils" },
    { "ssh", "openssh-client" }, { "ssh-keygen", "openssh-client" },
    { "busybox", "busybox" } }) do
    if not have(p[1]) then return p[1] .. " is not installed (apt-get install " .. p[2] .. ")" end
  end
  if not fs.exists("/dev/net/tun") then return "/dev/net/tun is missing (modprobe tun)" end
end

-- Runs in NS as `moonbase --lua ctl.lua ACTION NAME`: the part of launch,
-- start, stop, suspend and delete that the lead wires, by hand.
local CTL = [=[
local action, name = ...
local network = require("moonbase.network")
local json = require("moonbase.core.json")
local fs = require("moonbase.core.fs")
local iso = require("moonbase.core.iso")
local drv = assert(require("moonbase.core.driver").get("qemu"))
local cfg = json.decode(assert(fs.read(os.getenv("E2E_CFG"))))
local dir = cfg.tmp .. "/vms/" .. name

local function spec(att)
  return { name = name, dir = dir, disk = dir .. "/disk.qcow2",
    image = cfg.img .. "/disk.qcow2", seed = dir .. "/cidata.iso", kernel = cfg.kernel,
    initrd = cfg.initrd, cmdline = cfg.cmdline, cpus = 1, memory = 256 * 1024 * 1024,
    disk_size = 1024 * 1024 * 1024, mac = att.mac, tap = att.tap, ipv4 = att.ipv4 }
end

local function seed(att, inst)
  local user_data = "#cloud-config\nssh_authorized_keys:\n  - " .. cfg.pubkey .. "\n"
  assert(iso.write(inst.seed, "cidata", {
    ["meta-data"] = "instance-id: iid-" .. name .. "\nlocal-hostname: " .. name .. "\n",
    ["user-data"] = user_data,
    ["network-config"] = network.cloud_init_yaml({ att }),
  }))
  local st = fs.stat(inst.seed) -- busybox findfs ignores devices under 68 KiB
  if st.size < 69632 then assert(fs.truncate(inst.seed, 1024 * 1024)) end
end

local out = {}
if action == "up" then -- launch, or start of a stopped instance
  local att = network.attach(name)
  local inst = spec(att)
  if not fs.exists(inst.disk) then
    assert(fs.mkdirs(dir, 448))
    assert(drv:create(inst))
    seed(att, inst)
  end
  assert(drv:start(inst))
  out = att
elseif action == "stop" then
  local inst = spec(network.attachments(name)[1])
  assert(drv:shutdown(inst, { timeout = 90 }))
  out.taps = network.detach(name)
elseif action == "suspend" then
  assert(drv:suspend(spec(network.attachments(name)[1])))
elseif action == "resume" then
  local att = network.attach(name)
  assert(drv:resume(spec(att)))
  out = att
elseif action == "state" then
  local a = network.attachments(name)[1]
  out.state = a and drv:state(spec(a)) or "absent"
elseif action == "destroy" then
  local a = network.attachments(name)[1]
  if a then
    drv:shutdown(spec(a), { force = true, timeout = 0 })
    drv:destroy(spec(a))
  end
  out.released = network.release(name)
elseif action == "reserve" then -- an instance's address without a VM
  out = network.attach(name)
end
print(json.encode(out))
]=]

describe("two real guests on moonbase0 in a network namespace #e2e #netns", function()
  local why = missing()
  if why then
    pending(why)
    return
  end

  local NS = "mbe2e-" .. util.getpid()
  local tmp, env, img, key, user
  local att = {}
  local timings = {}

  local function ns(argv, opts)
    local a = { "ip", "netns", "exec", NS }
    for _, x in ipairs(argv) do a[#a + 1] = x end
    return run(a, opts)
  end
  local function ctl(action, name)
    local code, out, err = ns({ helpers.bin, "--lua", tmp .. "/ctl.lua", action, name },
      { env = env })
    assert(code == 0, "ctl " .. action .. " " .. name .. " exited " .. code .. ": " .. err ..
      out)
    return json.decode(out:match("[^\n]+\n?$"))
  end
  -- a command in a guest, over SSH from NS to its moonbase0 address
  local function ssh(name, cmd)
    return ns({ "timeout", "30", "ssh", "-i", key, "-o", "StrictHostKeyChecking=no",
      "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
      "-o", "LogLevel=ERROR", user .. "@" .. att[name].ipv4, cmd })
  end
  local function wait_ssh(name, t0, label)
    wait_for("SSH to " .. name .. " at " .. att[name].ipv4, BOOT_TIMEOUT, function()
      return ssh(name, "true") == 0
    end)
    timings[name .. " " .. (label or "boot") .. " to SSH over moonbase0"] = util.now() - t0
  end
  local function guest_ok(name, cmd)
    local code, out, err = ssh(name, cmd)
    assert(code == 0, name .. ": " .. cmd .. " exited " .. code .. ": " .. err .. out)
    return out
  end

  setup(function()
    local msg
    img, msg = tiny_image()
    assert(img, msg)
    tmp = must({ "mktemp", "-d", "/tmp/mb-e2e-net-XXXXXX" }):gsub("%s+$", "")
    key = tmp .. "/id"
    must({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "moonbase-e2e", "-f", key })
    local meta = fs.read(img .. "/metadata.json")
    user = meta:match('"default_user"%s*:%s*"([^"]*)"') or "debian"
    assert(fs.write(tmp .. "/ctl.lua", CTL))
    assert(fs.write(tmp .. "/cfg.json", json.encode({ tmp = tmp, img = img,
      kernel = img .. "/vmlinuz", initrd = img .. "/initrd.img",
      cmdline = meta:match('"kernel_cmdline"%s*:%s*"([^"]*)"'),
      pubkey = (fs.read(key .. ".pub"):gsub("%s+$", "")) })))
    env = { MOONBASE_HOME = tmp .. "/home", E2E_CFG = tmp .. "/cfg.json", NO_COLOR = "1" }
    must({ "ip", "netns", "add", NS })
    must({ "ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up" })
  end)

  teardown(function()
    if tmp then
      for _, name in ipairs({ "vm-a", "vm-b", "vm-c" }) do
        pcall(ctl, "destroy", name)
      end
      ns({ helpers.bin, "networks", "--prune", "--force" }, { env = env })
    end
    local _, out = run({ "ip", "netns", "pids", NS })
    for pid in out:gmatch("%d+") do process.kill(tonumber(pid), process.SIGKILL) end
    run({ "ip", "netns", "del", NS })
    if tmp then fs.rmtree(tmp) end
    if next(timings) then
      local parts = {}
      for k, v in pairs(timings) do parts[#parts + 1] = string.format("%s %.1fs", k, v) end
      table.sort(parts)
      io.stderr:write("\nnetwork e2e timings: " .. table.concat(parts, ", ") .. "\n")
    end
  end)

  it("boots two guests that reach each other by address and by name", function()
    local t0 = util.now()
    att["vm-a"] = ctl("up", "vm-a")
    att["vm-b"] = ctl("up", "vm-b")
    assert.are_not.equal(att["vm-a"].ipv4, att["vm-b"].ipv4)
    wait_ssh("vm-a", t0)
    wait_ssh("vm-b", t0)
    -- the address came from the seed's network-config, on the NIC with the MAC
    local addr = guest_ok("vm-a", "ip -4 -o addr show")
    assert.truthy(addr:find("inet " .. att["vm-a"].ipv4 .. "/24", 1, true), addr)
    assert.truthy(guest_ok("vm-a", "cat /etc/resolv.conf"):find("nameserver " ..
      att["vm-a"].gateway, 1, true))
    -- instance to instance, by address and by name
    guest_ok("vm-a", "sudo ping -c 1 -W 5 " .. att["vm-b"].ipv4)
    guest_ok("vm-b", "sudo ping -c 1 -W 5 " .. att["vm-a"].ipv4)
    local ns_out = guest_ok("vm-a", "nslookup vm-b.moonbase " .. att["vm-a"].gateway)
    assert.truthy(ns_out:find(att["vm-b"].ipv4, 1, true), ns_out)
    guest_ok("vm-a", "sudo ping -c 1 -W 5 vm-b.moonbase")
    guest_ok("vm-b", "sudo ping -c 1 -W 5 vm-a.moonbase")
    -- the host (NS) reaches both
    for _, n in ipairs({ "vm-a", "vm-b" }) do
      local code, out, err = ns({ "busybox", "ping", "-c", "1", "-W", "5", att[n].ipv4 })
      assert.equal(0, code, out .. err)
    end
  end)

  it("keeps the address through stop/start and suspend/resume", function()
    assert.truthy(att["vm-a"], "needs the previous test's guests")
    local stopped = ctl("stop", "vm-a")
    assert.same({ att["vm-a"].tap }, stopped.taps)
    assert.are_not.equal(0, (ns({ "ip", "link", "show", att["vm-a"].tap })))
    local t0 = util.now()
    assert.same(att["vm-a"], ctl("up", "vm-a"))
    wait_ssh("vm-a", t0, "second boot")
    guest_ok("vm-b", "sudo ping -c 1 -W 5 vm-a.moonbase")
    -- suspend/resume: QEMU goes away and comes back on the same tap
    ctl("suspend", "vm-b")
    assert.equal("suspended", ctl("state", "vm-b").state)
    t0 = util.now()
    assert.same(att["vm-b"], ctl("resume", "vm-b"))
    wait_for("vm-b after resume", 60, function() return ssh("vm-b", "true") == 0 end)
    timings["vm-b resume to SSH"] = util.now() - t0
    guest_ok("vm-a", "sudo ping -c 1 -W 5 vm-b.moonbase")
    guest_ok("vm-b", "sudo ping -c 1 -W 5 " .. att["vm-a"].ipv4)
    -- a third instance gets yet another address
    local c = ctl("reserve", "vm-c")
    assert.are_not.equal(c.ipv4, att["vm-a"].ipv4)
    assert.are_not.equal(c.ipv4, att["vm-b"].ipv4)
  end)

  it("leaves nothing of moonbase's after delete and prune", function()
    for _, n in ipairs({ "vm-a", "vm-b", "vm-c" }) do ctl("destroy", n) end
    local code, out, err = ns({ helpers.bin, "networks", "--prune" }, { env = env })
    assert.equal(0, code, err)
    assert.truthy(out:find("Removed interface moonbase0", 1, true), out)
    local links = must({ "ip", "netns", "exec", NS, "ip", "-d", "link" })
    assert.falsy(links:find("moonbase", 1, true), links)
    assert.falsy(links:find("mbt", 1, true), links)
    assert.equal("", must({ "ip", "netns", "exec", NS, "ip", "route" }))
    assert.equal("", must({ "ip", "netns", "exec", NS, "nft", "list", "ruleset" }))
  end)
end)
