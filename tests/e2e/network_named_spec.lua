-- Named networks through the CLI, on real tiny guests: `network create` twice,
-- an instance on both ("router"), one on each ("f1" on front, "b1" on back).
-- Proves the issue's rule: an instance on two networks reaches instances on
-- each, an instance on one network does not reach the other network (every
-- guest also has its NIC on moonbase0, so the host's forward chain is what
-- keeps them apart); static addresses are taken as asked; `network delete`
-- refuses while an instance holds an address and works after. Runs inside a
-- network namespace of its own (ctest wraps it in tests/lib/in-netns.sh).
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local json = require("moonbase.engine.json")

local FRONT, BACK = "10.231.1.0/24", "10.231.2.0/24"

describe("named networks through the CLI #e2e", function()
  local why = support.unavailable()
  why = why or support.netns_unavailable()
  if why then
    it("needs QEMU, root and a network namespace", function() pending(why) end)
    return
  end

  local h

  -- the instance's address on a network: its record's NIC there, which
  -- `info` must list too
  local function addr_on(name, net)
    local rec = assert(h:record(name), name .. " has no record")
    for _, n in ipairs(rec.nics or {}) do
      if n.network == net then
        local i = json.decode(h:ok({ "info", name, "--format", "json" }))[name]
        local listed = false
        for _, a in ipairs(i.ipv4 or {}) do listed = listed or a == n.ipv4 end
        assert(listed, "info " .. name .. " does not list " .. tostring(n.ipv4))
        return n.ipv4
      end
    end
    error(name .. " has no NIC on " .. net .. ": " .. json.encode(rec.nics))
  end

  -- whether `from` gets an answer from addr (one ping, 3 s)
  local function pings(from, addr)
    local code = h:run({ "exec", from, "--", "sudo", "ping", "-c", "1", "-W", "3", addr })
    return code == 0
  end

  setup(function()
    local host = assert(support.host())
    h = support.home(host, { private_network = true, tag = "netnamed" })
  end)
  teardown(function()
    if h then h:run({ "delete", "--all", "--purge" }) h:run({ "networks", "--prune" }) end
    support.cleanup()
  end)

  it("creates two networks and launches instances on one, the other and both", function()
    h:ok({ "network", "create", "front", "--subnet", FRONT })
    h:ok({ "network", "create", "back", "--subnet", BACK })
    local nets = json.decode(h:ok({ "networks", "--format", "json" }))
    local seen = {}
    for _, n in ipairs(nets) do seen[n.name] = n.subnet or true end
    assert.equal(FRONT, seen.front)
    assert.equal(BACK, seen.back)
    h:ok({ "launch", "--name", "router", "--memory", "256M", "--timeout", "300",
      "--network", "name=front,ip=10.231.1.10", "--network", "name=back,ip=10.231.2.10" })
    h:ok({ "launch", "--name", "f1", "--memory", "256M", "--timeout", "300",
      "--network", "name=front" })
    h:ok({ "launch", "--name", "b1", "--memory", "256M", "--timeout", "300",
      "--network", "name=back" })
    assert.equal("10.231.1.10", addr_on("router", "front"))
    assert.equal("10.231.2.10", addr_on("router", "back"))
    assert.truthy(addr_on("f1", "front"):match("^10%.231%.1%.%d+$"))
    assert.truthy(addr_on("b1", "back"):match("^10%.231%.2%.%d+$"))
  end)

  it("an instance on both networks reaches instances on each", function()
    assert.is_true(pings("router", addr_on("f1", "front")))
    assert.is_true(pings("router", addr_on("b1", "back")))
    assert.is_true(pings("f1", "10.231.1.10"))
    assert.is_true(pings("b1", "10.231.2.10"))
  end)

  it("an instance on one network does not reach the other network", function()
    assert.is_false(pings("f1", addr_on("b1", "back")))
    assert.is_false(pings("f1", "10.231.2.10"))
    assert.is_false(pings("b1", addr_on("f1", "front")))
    assert.is_false(pings("b1", "10.231.1.10"))
  end)

  it("refuses a taken address and deleting a network in use, in one line", function()
    local code, out, err = h:run({ "launch", "--name", "dup", "--memory", "256M",
      "--network", "name=front,ip=10.231.1.10" })
    assert.is_true(code == 1 or code == 2, err)
    assert.equal("", out)
    assert.equal(1, select(2, err:gsub("\n", "")), err)
    assert.truthy(err:find("10.231.1.10", 1, true), err)
    assert.is_nil(h:record("dup"))
    code, _, err = h:run({ "network", "delete", "back" })
    assert.is_true(code == 1 or code == 2, err)
    assert.truthy(err:find("b1", 1, true) or err:find("router", 1, true), err)
    h:ok({ "delete", "--purge", "b1", "router" })
    h:ok({ "network", "delete", "back" })
    local nets = h:ok({ "networks", "--format", "json" })
    for _, n in ipairs(json.decode(nets)) do assert.is_true(n.name ~= "back", nets) end
  end)
end)
