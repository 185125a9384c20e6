-- moonbase's private network and port forwards through the CLI, on real tiny
-- guests. Runs inside a network namespace of its own (ctest wraps it in
-- tests/lib/in-netns.sh), so the bridge, taps, dnsmasq and NAT rules moonbase
-- makes as root never touch the host; it refuses to run outside one.
-- MOONBASE_E2E_DRIVER=lxd runs the same tests with the LXD driver: a stock
-- LXD of the suite's own (tests/lib/lxd.sh) in that namespace, the tiny image
-- as containers whose NICs LXD plugs into the same moonbase0.
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local DRIVER = os.getenv("MOONBASE_E2E_DRIVER") or "qemu"

describe("private network and forwards through the CLI (driver " .. DRIVER .. ") #e2e",
  function()
  local why = support.unavailable()
  why = why or support.netns_unavailable()
  if why then
    it("needs QEMU, root and a network namespace", function() pending(why) end)
    return
  end

  local host, h
  local addr = {}

  local function ipv4(name)
    local info = json.decode(h:ok({ "info", name, "--format", "json" }))[name]
    return info.ipv4[1]
  end

  setup(function()
    host = assert(support.host())
    local sock, dir
    if DRIVER == "lxd" then sock, dir = assert(support.lxd()) end
    h = support.home(host, { private_network = true, tag = "netcli",
      scope = sock and "lxd" or nil })
    if sock then h:ok({ "set", "local.lxd.socket=" .. sock, "local.driver=lxd" }) end
  end)
  teardown(function()
    if h then h:run({ "delete", "--all", "--purge" }) h:run({ "networks", "--prune" }) end
    support.cleanup()
  end)

  it("puts two instances on moonbase0 with addresses and names", function()
    h:ok({ "launch", "--name", "n1", "--memory", "256M", "--timeout", "300" })
    h:ok({ "launch", "--name", "n2", "--memory", "256M", "--timeout", "300" })
    addr.n1, addr.n2 = ipv4("n1"), ipv4("n2")
    assert.truthy(addr.n1 and addr.n1:match("^%d+%.%d+%.%d+%.%d+$"), tostring(addr.n1))
    assert.truthy(addr.n2 and addr.n2 ~= addr.n1)
    local out = h:ok({ "exec", "n1", "--", "sudo", "ping", "-c", "1", "-W", "5", "n2.moonbase" })
    assert.truthy(out:find(addr.n2, 1, true), out)
    out = h:ok({ "exec", "n2", "--", "sudo", "ping", "-c", "1", "-W", "5", addr.n1 })
    assert.truthy(out:find("1 packets received", 1, true), out)
    -- the host reaches both
    for _, a in ipairs({ addr.n1, addr.n2 }) do
      local code = process.run({ "busybox", "ping", "-c", "1", "-W", "5", a })
      assert.equal(0, code, "host cannot ping " .. a)
    end
    local hosts = h:ok({ "hosts" })
    assert.truthy(hosts:find(addr.n1 .. "\tn1.moonbase n1", 1, true), hosts)
  end)

  it("keeps addresses over stop/start and suspend/start; a third gets its own", function()
    h:ok({ "stop", "n1" })
    h:ok({ "start", "n1", })
    assert.equal(addr.n1, ipv4("n1"))
    h:ok({ "suspend", "n2" })
    h:ok({ "start", "n2" })
    assert.equal(addr.n2, ipv4("n2"))
    local out = h:ok({ "exec", "n2", "--", "sudo", "ping", "-c", "1", "-W", "5", "n1.moonbase" })
    assert.truthy(out:find(addr.n1, 1, true), out)
    h:ok({ "launch", "--name", "n3", "--memory", "256M", "--timeout", "300" })
    local a3 = ipv4("n3")
    assert.truthy(a3 ~= addr.n1 and a3 ~= addr.n2)
    h:ok({ "delete", "--purge", "n3" })
  end)

  it("forwards a host port to a guest server, byte for byte, and again after restart",
    function()
      local tmp = support.tmpdir("fwd")
      local payload = tmp .. "/payload"
      process.run({ "sh", "-c", "head -c 3000000 /dev/urandom > " .. payload })
      h:ok({ "transfer", payload, "n1:payload" })
      local function serve()
        -- returns once nc listens (under load it may bind after exec returned)
        h:ok({ "exec", "n1", "--", "sh", "-c",
          "setsid busybox nc -l -p 8000 < payload >/dev/null 2>&1 & i=0; " ..
          "until busybox netstat -ltn | grep -q ':8000 '; do " ..
          "i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done" })
      end
      local function fetch(out)
        -- keep our side open (busybox nc ends when its peer half-closes)
        return process.run({ "sh", "-c", "(sleep 6) | busybox nc 127.0.0.1 18080 > " .. out })
      end
      serve()
      h:ok({ "forward", "n1", "18080:8000" })
      local list = json.decode(h:ok({ "forward", "n1", "--list", "--format", "json" }))
      assert.same({ { address = "127.0.0.1", host_port = 18080, guest_port = 8000,
        proto = "tcp" } }, list)
      fetch(tmp .. "/got1")
      local sums = support.must({ "sha256sum", payload, tmp .. "/got1" })
      local a, b = sums:match("^(%x+).-\n(%x+)")
      assert.equal(a, b)
      h:ok({ "restart", "n1" })
      serve()
      fetch(tmp .. "/got2")
      sums = support.must({ "sha256sum", payload, tmp .. "/got2" })
      a, b = sums:match("^(%x+).-\n(%x+)")
      assert.equal(a, b, "the forward did not come back after restart")
      -- only loopback: the host's bridge address does not answer
      local bridge_ip = addr.n1:gsub("%d+$", "1")
      local code = process.run({ "busybox", "nc", "-w", "2", bridge_ip, "18080" },
        { input = "" })
      assert.are_not.equal(0, code)
    end)

  it("refuses bad forwards in one line, changing nothing", function()
    local before = h:record("n1").forwards
    local cases = {
      { { "forward", "n1", "18080:9000" }, 2, "already forwards" },
      { { "forward", "n1", "18081:80/sctp" }, 1, 'unknown protocol "sctp" (use tcp or udp)' },
      { { "forward", "n1", "eighty" }, 1, "expected HOSTPORT:GUESTPORT" },
      { { "forward", "n1", "70000:80" }, 1, "ports must be 1-65535" },
      { { "forward", "ghost", "18082:80" }, 2, 'instance "ghost" does not exist' },
      { { "forward", "n1", "--remove", "9" }, 2, "has no forward on host port 9" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = h:run(c[1])
      assert.equal(c[2], code, table.concat(c[1], " ") .. ": " .. err)
      assert.truthy(err:find(c[3], 1, true), err)
      assert.equal(1, select(2, err:gsub("\n", "")), err)
    end
    -- a port something else listens on
    local busy = support.tmpdir("busy")
    local pid = process.spawn({ "busybox", "nc", "-l", "-p", "18083" })
    support.wait_for("a listener on 18083", 10, function()
      return not util.tcp_port_free("127.0.0.1", 18083)
    end)
    local code, _, err = h:run({ "forward", "n1", "18083:80" })
    process.kill(pid, process.SIGKILL)
    process.wait(pid)
    assert.equal(2, code)
    assert.truthy(err:find("already in use", 1, true), err)
    assert.same(before, h:record("n1").forwards)
    fs.rmtree(busy)
    h:ok({ "forward", "n1", "--remove", "18080" })
    assert.equal("No forwards.\n", h:ok({ "forward", "n1", "--list" }))
  end)

  it("leaves nothing of moonbase's on the host after delete and networks --prune", function()
    h:ok({ "delete", "--all", "--purge" })
    h:ok({ "networks", "--prune" })
    local _, links = process.run({ "ip", "link" })
    assert.is_nil(links:find("moonbase", 1, true), links)
    assert.is_nil(links:find("mbt", 1, true), links)
    local _, routes = process.run({ "ip", "route" })
    -- (tests/lib/lxd.sh gives an empty namespace a blackhole route: LXD needs one)
    assert.equal("", (routes:gsub("blackhole 198%.51%.100%.0/24 *\n", "")))
    local _, rules = process.run({ "nft", "list", "ruleset" })
    assert.is_nil(rules:find("moonbase", 1, true), rules)
  end)
end)
