-- IPv4 arithmetic: addresses, CIDR parsing, containment, overlap.
local ipv4 = require("moonbase._core.ipv4")

describe("ipv4", function()
  it("parses and formats dotted quads", function()
    assert.equal(0x0a4d0001, ipv4.parse("10.77.0.1"))
    assert.equal("10.77.0.1", ipv4.format(0x0a4d0001))
    assert.equal(0, ipv4.parse("0.0.0.0"))
    assert.equal("255.255.255.255", ipv4.format(ipv4.parse("255.255.255.255")))
  end)

  it("rejects what is not an address, with the reason", function()
    for _, bad in ipairs({ "10.77.0", "10.77.0.256", "a.b.c.d", "10.77.0.1 ", "010.1.1.1",
      "", "10.77.0.1/24", "1.2.3.4.5" }) do
      local n, msg = ipv4.parse(bad)
      assert.is_nil(n, bad)
      assert.truthy(msg:find("not an IPv4 address", 1, true), msg)
    end
  end)

  it("parses CIDR and refuses host bits unless asked", function()
    local c = assert(ipv4.parse_cidr("10.77.0.0/24"))
    assert.equal("10.77.0.0/24", c.text)
    assert.equal(256, c.size)
    assert.equal(24, c.prefix)
    local n, msg = ipv4.parse_cidr("10.77.0.5/24")
    assert.is_nil(n)
    assert.equal('"10.77.0.5/24" has host bits set (did you mean 10.77.0.0/24?)', msg)
    assert.equal("10.77.0.0/24", ipv4.parse_cidr("10.77.0.5/24", { host = true }).text)
    assert.equal("0.0.0.0/0", ipv4.parse_cidr("0.0.0.0/0").text)
    assert.equal(1, ipv4.parse_cidr("10.1.2.3/32").size)
  end)

  it("rejects malformed CIDR", function()
    for _, bad in ipairs({ "10.77.0.0", "10.77.0.0/33", "10.77.0.0/", "10.77.0.0/024",
      "10.77.0/24", "/24", "10.77.0.0/-1", "10.77.0.0/24/1" }) do
      assert.is_nil((ipv4.parse_cidr(bad)), bad)
    end
  end)

  it("knows containment and overlap", function()
    local a = ipv4.parse_cidr("10.77.0.0/24")
    assert.is_true(ipv4.contains(a, ipv4.parse("10.77.0.255")))
    assert.is_false(ipv4.contains(a, ipv4.parse("10.77.1.0")))
    assert.is_true(ipv4.overlaps(a, ipv4.parse_cidr("10.77.0.128/25")))
    assert.is_true(ipv4.overlaps(a, ipv4.parse_cidr("10.0.0.0/8")))
    assert.is_true(ipv4.overlaps(ipv4.parse_cidr("10.0.0.0/8"), a))
    assert.is_false(ipv4.overlaps(a, ipv4.parse_cidr("10.77.1.0/24")))
    assert.is_true(ipv4.overlaps(a, ipv4.parse_cidr("0.0.0.0/0")))
  end)

  it("knows the private ranges", function()
    for _, p in ipairs({ "10.77.0.0/24", "172.16.0.0/12", "172.31.255.0/24", "192.168.4.0/24",
      "10.0.0.0/8" }) do
      assert.is_true(ipv4.is_private(ipv4.parse_cidr(p)), p)
    end
    for _, p in ipairs({ "8.8.8.0/24", "172.32.0.0/24", "192.169.0.0/24", "0.0.0.0/0",
      "172.0.0.0/8" }) do
      assert.is_false(ipv4.is_private(ipv4.parse_cidr(p)), p)
    end
  end)

  it("gives the usable host range", function()
    local first, last = ipv4.hosts(ipv4.parse_cidr("10.77.0.0/24"))
    assert.equal("10.77.0.1", ipv4.format(first))
    assert.equal("10.77.0.254", ipv4.format(last))
  end)
end)
