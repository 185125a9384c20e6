-- IPv4 arithmetic for the network code: dotted quads <-> integers, CIDR
-- parsing, containment and overlap. Pure functions, no I/O.
-- layer: services
local M = {}

---@class moonbase.Cidr
---@field network integer  first address (host bits zero)
---@field prefix integer
---@field size integer     number of addresses
---@field text string      "a.b.c.d/p"

---Dotted quad -> integer, or nil, message.
---@param s string
---@return integer?, string?
function M.parse(s)
  if type(s) ~= "string" then return nil, "not an IPv4 address" end
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil, string.format("\"%s\" is not an IPv4 address (use a.b.c.d)", s) end
  local n = 0
  for _, part in ipairs({ a, b, c, d }) do
    local v = tonumber(part)
    if v > 255 or (#part > 1 and part:sub(1, 1) == "0") then
      return nil, string.format("\"%s\" is not an IPv4 address (each part 0-255, no leading " ..
        "zeros)", s)
    end
    n = n * 256 + v
  end
  return n
end

---Integer -> dotted quad.
---@param n integer
---@return string
function M.format(n)
  return string.format("%d.%d.%d.%d", (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255)
end

local function mask(prefix)
  if prefix == 0 then return 0 end
  return (0xffffffff << (32 - prefix)) & 0xffffffff
end

---Builds a Cidr from an address (any host bits are cleared) and a prefix.
---@param addr integer
---@param prefix integer
---@return moonbase.Cidr
function M.cidr(addr, prefix)
  local net = addr & mask(prefix)
  return { network = net, prefix = prefix, size = 1 << (32 - prefix),
    text = M.format(net) .. "/" .. prefix }
end

---"a.b.c.d/p" -> Cidr, or nil, message. Host bits must be zero unless
---opts.host is set (then "10.0.0.5/24" is the network 10.0.0.0/24).
---@param s string
---@param opts? {host?: boolean}
---@return moonbase.Cidr?, string?
function M.parse_cidr(s, opts)
  if type(s) ~= "string" then return nil, "not a subnet" end
  local addr, p = s:match("^([%d%.]+)/(%d+)$")
  if not addr then
    return nil, string.format("\"%s\" is not a subnet in CIDR form (e.g. 10.77.0.0/24)", s)
  end
  local n, msg = M.parse(addr)
  if not n then return nil, msg end
  local prefix = tonumber(p)
  if prefix > 32 or (#p > 1 and p:sub(1, 1) == "0") then
    return nil, string.format("\"%s\": the prefix length must be 0 to 32", s)
  end
  local c = M.cidr(n, prefix)
  if c.network ~= n and not (opts and opts.host) then
    return nil, string.format("\"%s\" has host bits set (did you mean %s?)", s, c.text)
  end
  return c
end

---True when addr (integer) is inside c.
function M.contains(c, addr)
  return addr >= c.network and addr < c.network + c.size
end

---True when the two ranges share an address.
function M.overlaps(a, b)
  return M.contains(a, b.network) or M.contains(b, a.network)
end

---True for 10/8, 172.16/12 and 192.168/16.
function M.is_private(c)
  for _, r in ipairs({ "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16" }) do
    local p = M.parse_cidr(r)
    if M.contains(p, c.network) and M.contains(p, c.network + c.size - 1) then return true end
  end
  return false
end

---The usable host range of c: first and last address (no network/broadcast).
function M.hosts(c)
  if c.prefix >= 31 then return c.network, c.network + c.size - 1 end
  return c.network + 1, c.network + c.size - 2
end

return M
