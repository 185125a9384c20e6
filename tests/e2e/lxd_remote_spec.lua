-- The LXD driver on a remote LXD over HTTPS, through the moonbase CLI only.
-- The "remote host" is a network namespace this spec makes, joined to the
-- spec's own (ctest runs it in one, tests/lib/in-netns.sh) by a veth pair
-- with addresses that exist only in these two namespaces; there runs a
-- second stock LXD (tests/lib/lxd.sh, its own LXD_DIR) listening on
-- https://10.252.N.2:8443.
-- Proves: a client LXD does not trust is refused (a token that is not valid,
-- a token naming another certificate, no token at all); `moonbase enroll
-- TOKEN` (from `lxc config trust add` there) makes moonbase's client
-- certificate trusted and pins the server's; launch uploads the image there
-- once and puts the container on an LXD network moonbase defines there with
-- its stable address and its <name>.moonbase; exec, transfer and a TCP forward reach the guest
-- through that host (an LXD proxy device relays SSH; the forward goes over
-- SSH); list says where it runs; a second instance reaches the first; a
-- clone there gets its own address and SSH port, a renamed one answers at
-- its new name; stop, start; a recipe's host = "lxd+https://..." places an instance there; delete
-- --purge leaves nothing there. Every wait is bounded.
-- Run: ctest -R e2e/lxd-remote
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")
local process = require("moonbase.engine.process")

describe("the lxd driver on a remote LXD over HTTPS #e2e #lxd", function()
  local why = support.netns_unavailable()
  if why then
    it("needs root and a network namespace", function() pending(why) end)
    return
  end

  local h, h2, host, tmp, skip, ns, link, addr, url, lxd_dir

  local function need() if skip then pending(skip) end end

  local function sh(cmd) return support.must({ "sh", "-c", cmd }) end

  local function lxc(args)
    local code, out, err = support.lxc(lxd_dir, args)
    assert(code == 0, "lxc " .. table.concat(args, " ") .. ": " .. err .. out)
    return out
  end

  local function token()
    return lxc({ "config", "trust", "add", "--name", "moonbase-e2e" }):match("(%S+)%s*$")
  end

  local function guest(name, cmd)
    local code, out, err = h:run({ "exec", name, "--", "sh", "-c", cmd })
    assert(code == 0, "guest " .. name .. " (" .. code .. "): " .. cmd .. "\n" .. err .. out)
    return out
  end

  setup(function()
    host = assert(support.host())
    tmp = support.tmpdir("lxdremote")
    local n = util.getpid() % 200 + 20
    ns = string.format("mblx-%d-%d", util.getpid(), n)
    addr = string.format("10.252.%d.2", n)
    url = "https://" .. addr .. ":8443"
    support.must({ "ip", "netns", "add", ns })
    link = "mblx" .. n
    sh(string.format("ip -n %s link set lo up" ..
      " && ip link add %s type veth peer name eth0 netns %s" ..
      " && ip addr add 10.252.%d.1/30 dev %s && ip link set %s up" ..
      " && ip -n %s addr add %s/30 dev eth0 && ip -n %s link set eth0 up",
      ns, link, ns, n, link, link, ns, addr, ns))
    lxd_dir = tmp .. "/lxd"
    -- the containers' root (a shifted uid) reaches their root file systems
    -- through tmp, as through /var/lib/lxd (0711): a mktemp -d is 0700
    support.must({ "chmod", "711", tmp })
    local code, out, err = support.run({ "ip", "netns", "exec", ns,
      support.src .. "/tests/lib/lxd.sh", "start", lxd_dir, "--https", addr .. ":8443" })
    assert(code == 0, "tests/lib/lxd.sh could not start LXD: " .. err .. out)
    -- moonbase here makes no bridge: the remote LXD's networks serve its instances.
    -- h is a machine with no LXD of its own: it enrolls first (under the
    -- default driver), then selects lxd. h2 selects the driver against that
    -- LXD's unix socket (here on this machine's file system), then points
    -- local.lxd.url at its HTTPS side, which it is not trusted by.
    local sock = lxd_dir .. "/lxd/unix.socket"
    h = support.home(host, { tag = "lxdr", scope = "lxd" })
    h:ok({ "set", "local.lxd.socket=" .. tmp .. "/no-lxd/unix.socket" })
    h2 = support.home(host, { tag = "lxdr2", scope = "lxd" })
    h2:ok({ "set", "local.lxd.socket=" .. sock, "local.driver=lxd" })
    h2:ok({ "set", "local.lxd.url=" .. url })
  end)

  teardown(function()
    if h and not skip then h:run({ "delete", "--all", "--purge" }) end
    if lxd_dir then
      support.run({ "ip", "netns", "exec", ns, support.src .. "/tests/lib/lxd.sh", "stop",
        lxd_dir })
    end
    if ns then
      local _, pids = support.run({ "ip", "netns", "pids", ns })
      for pid in pids:gmatch("%d+") do process.kill(tonumber(pid), 9) end
      support.run({ "ip", "netns", "del", ns })
    end
    if link then support.run({ "ip", "link", "del", link }) end
    support.cleanup()
  end)

  it("refuses a client the LXD does not trust", function()
    need()
    -- nothing trusted yet: moonbase says how to fix it, nothing is made
    local code, _, err = h2:run({ "launch", "--name", "x" })
    assert.equal(2, code, err)
    assert.truthy(err:find("moonbase does not trust the LXD at " .. url .. " yet (make a " ..
      "token there with lxc config trust add, then: moonbase enroll TOKEN)", 1, true), err)
    -- a token that names another certificate: refused before anything is sent
    local forged = support.must({ "sh", "-c", "printf '%s' '{\"client_name\":\"m\"," ..
      "\"fingerprint\":\"" .. string.rep("ab", 32) .. "\",\"addresses\":[\"" .. addr ..
      ":8443\"],\"secret\":\"s\"}' | base64 -w0" })
    code, _, err = h2:run({ "enroll", forged })
    assert.equal(2, code, err)
    assert.truthy(err:find("other than the one the trust token names", 1, true), err)
    -- a token LXD did not make: the server refuses the certificate
    local good = token()
    local bad = support.must({ "sh", "-c", "printf '%s' '" .. good .. "' | base64 -d | " ..
      "sed 's/\"secret\":\"[0-9a-f]*\"/\"secret\":\"0000\"/' | base64 -w0" })
    code, _, err = h2:run({ "enroll", bad })
    assert.equal(2, code, err)
    assert.truthy(err:find("the token may be used or expired", 1, true), err)
    -- not trusted: moonbase refuses in one line (the server's certificate is
    -- kept only once a token was accepted), before anything is made
    code, _, err = h2:run({ "launch", "--name", "x" })
    assert.equal(2, code, err)
    assert.truthy(err:find("moonbase does not trust the LXD at " .. url .. " yet", 1, true), err)
    assert.equal(1, select(2, err:gsub("\n", "")), err)
    assert.equal("", lxc({ "list", "-c", "n", "-f", "csv" }))
  end)

  it("is trusted once with a token, which sets local.lxd.url", function()
    need()
    -- no LXD here: the driver cannot be selected before moonbase is trusted
    local code, _, err = h:run({ "set", "local.driver=lxd" })
    assert.equal(2, code, err)
    assert.truthy(err:find("the lxd driver cannot run here", 1, true), err)
    -- a bad token, or a driver with no such host: one line, nothing kept
    code, _, err = h:run({ "enroll", "not-a-token" })
    assert.equal(1, code, err)
    assert.truthy(err:find("the trust token is not base64", 1, true), err)
    code, _, err = h:run({ "enroll", "--driver", "qemu", token() })
    assert.equal(1, code, err)
    assert.equal("enroll: the qemu driver has no host that trusts clients by token (its " ..
      "instances run here)\n", err)
    assert.is_nil(fs.exists(h.dir .. "/data/drivers/lxd/client.key"))
    -- local.driver is qemu, which has no such host: enroll picks lxd
    local out = h:ok({ "enroll", token() })
    assert.truthy(out:find("Trusted by " .. url .. " (the lxd driver)", 1, true), out)
    assert.truthy(out:find("Set local.lxd.url=" .. url, 1, true), out)
    assert.truthy(out:find("Select it: moonbase set local.driver=lxd", 1, true), out)
    assert.equal(url .. "\n", h:ok({ "get", "local.lxd.url" }))
    h:ok({ "set", "local.driver=lxd" })
    local trusted = json.decode(lxc({ "config", "trust", "list", "-f", "json" }))
    assert.equal(1, #trusted)
  end)

  it("launches there: the image uploaded once, the container on moonbase's network there",
    function()
      need()
      local t0 = util.now()
      local code, _, err = h:run({ "launch", "--name", "r1", "--memory", "256M" })
      assert.equal(0, code, err)
      io.stderr:write(string.format("[e2e] lxd-remote: launch %.1f s\n", util.now() - t0))
      assert.equal("r1\n", lxc({ "list", "-c", "n", "-f", "csv" }))
      assert.equal(1, #json.decode(lxc({ "image", "list", "-f", "json" })))
      local info = json.decode(h:ok({ "info", "r1", "--format", "json" })).r1
      assert.equal(addr, info.host)
      -- SSH through the host: the proxy device moonbase added there
      assert.truthy(info.ssh:find("^" .. addr:gsub("%.", "%%.") .. ":%d+$"), info.ssh)
      local ip = info.ipv4[1]
      assert.equal(ip .. "\n", guest("r1", "ip -4 -o addr show eth0 | awk '{print $4}' | " ..
        "cut -d/ -f1"))
      -- the NIC is on the LXD network moonbase defined, at its address
      assert.equal(ip .. "\n", lxc({ "config", "device", "get", "r1", "eth0", "ipv4.address" }))
      local list = h:ok({ "list" })
      assert.truthy(list:find("Host", 1, true) and list:find(addr, 1, true), list)
      -- a second one: no second upload, and it reaches the first
      code, _, err = h:run({ "launch", "--name", "r2", "--memory", "256M" })
      assert.equal(0, code, err)
      assert.is_nil(err:find("Uploading image", 1, true), err)
      assert.equal(1, #json.decode(lxc({ "image", "list", "-f", "json" })))
      local out = guest("r2", "sudo ping -c 1 -W 5 " .. ip)
      assert.truthy(out:find("1 packets received", 1, true), out)
      out = guest("r2", "sudo ping -c 1 -W 5 r1.moonbase")
      assert.truthy(out:find(ip, 1, true), out)
    end)

  it("runs commands, copies files and forwards a port through the host", function()
    need()
    assert.equal("r1\n", guest("r1", "hostname"))
    local payload = tmp .. "/payload"
    support.must({ "sh", "-c", "head -c 2000000 /dev/urandom > " .. payload })
    h:ok({ "transfer", payload, "r1:payload" })
    local sums = guest("r1", "sha256sum payload")
    assert.equal(support.must({ "sha256sum", payload }):match("^%x+"), sums:match("^%x+"))
    h:ok({ "transfer", "r1:payload", tmp .. "/back" })
    assert.equal(fs.read(payload), fs.read(tmp .. "/back"))
    -- a TCP forward: over the SSH session (the guest's address is the far host's)
    guest("r1", "setsid busybox nc -l -p 8000 < payload >/dev/null 2>&1 & i=0; " ..
      "until busybox netstat -ltn | grep -q ':8000 '; do " ..
      "i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done")
    h:ok({ "forward", "r1", "18090:8000" })
    process.run({ "sh", "-c", "(sleep 6) | busybox nc 127.0.0.1 18090 > " .. tmp .. "/got" })
    assert.equal(fs.read(payload), fs.read(tmp .. "/got"))
    -- UDP is relayed to the guest's address, which this host cannot reach
    local code, _, err = h:run({ "forward", "r1", "18091:53/udp" })
    assert.equal(2, code, err)
  end)

  it("clones and renames there: the clone's own address on the network there and its own " ..
    "SSH port on the host; the renamed one answers at its new name", function()
      need()
      h:ok({ "stop", "r2" })
      h:ok({ "clone", "r2", "--name", "r3" })
      h:ok({ "start", "r2" })
      h:ok({ "start", "r3" })
      local i2 = json.decode(h:ok({ "info", "r2", "--format", "json" })).r2
      local i3 = json.decode(h:ok({ "info", "r3", "--format", "json" })).r3
      assert.are_not.equal(i2.ssh, i3.ssh)
      assert.are_not.equal(i2.ipv4[1], i3.ipv4[1])
      assert.equal(i3.ipv4[1] .. "\n", lxc({ "config", "device", "get", "r3", "eth0",
        "ipv4.address" }))
      assert.equal("r3\n", guest("r3", "hostname"))
      local out = guest("r3", "sudo ping -c 1 -W 5 r2.moonbase")
      assert.truthy(out:find(i2.ipv4[1], 1, true), out)
      h:ok({ "stop", "r3" })
      h:ok({ "rename", "r3", "r4" })
      h:ok({ "start", "r4" })
      out = guest("r2", "sudo ping -c 1 -W 5 r4.moonbase")
      assert.truthy(out:find(i3.ipv4[1], 1, true), out)
      h:ok({ "delete", "--purge", "r4" })
      assert.equal("r1\nr2\n", lxc({ "list", "-c", "n", "-f", "csv" }))
    end)

  it("stops and starts there with the same address; a recipe's host = places one there",
    function()
      need()
      local ip = json.decode(h:ok({ "info", "r1", "--format", "json" })).r1.ipv4[1]
      h:ok({ "stop", "r1" })
      assert.equal("STOPPED", lxc({ "list", "r1", "-c", "s", "-f", "csv" }):gsub("%s+$", ""))
      h:ok({ "start", "r1" })
      assert.equal(ip, json.decode(h:ok({ "info", "r1", "--format", "json" })).r1.ipv4[1])
      local recipe = tmp .. "/far.lua"
      assert(fs.write(recipe, 'instance "far" { memory = "256M", host = "lxd+' .. url ..
        '" }\n'))
      h:ok({ "up", recipe })
      assert.truthy(lxc({ "list", "-c", "n", "-f", "csv" }):find("far", 1, true))
      assert.equal("far-far\n", guest("far-far", "hostname")) -- its name
      h:ok({ "down", recipe, "--purge" })
      h:ok({ "delete", "--purge", "r1", "r2" })
      assert.equal("", lxc({ "list", "-c", "n", "-f", "csv" }))
    end)
end)
