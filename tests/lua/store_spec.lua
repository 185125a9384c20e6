-- State files' shapes (moonbase._core.store): the compiled check that every
-- read of a record runs says exactly what walking the shape says, for good
-- records and for records damaged one field, or several, at a time.
local store = require("moonbase._core.store")
local instances = require("moonbase._core.instances")
local json = require("moonbase.engine.json")

local GOOD = {
  name = "web", state = "running", cpus = 2, memory = 1073741824, disk = 5368709120,
  image = "local:tiny", driver = "qemu", disk_file = "disk.qcow2", started_at = 1.5e9,
  user_net_restrict = true, labels = { role = "db" },
  mounts = { { source = "/src", target = "/mnt", type = "sftp", readonly = false } },
  nics = { { mac = "52:54:00:00:00:01", network = "moonbase0" } },
  forwards = { { host_port = 8080, guest_port = 80, proto = "tcp" } },
}

local copy = instances.copy

-- values of every kind a damaged file holds
local VALUES = { json.null, "x", "", "a/b", "..", "Bad Name", 7, -1, 2.5, true, false, {},
  { 1, 2 }, { a = 1 }, { { source = 1 } }, { [1] = "x", k = "y" } }

local function agree(v, shape)
  local quick, walking = store.check(v, shape), store.check_walking(v, shape)
  assert.equal(walking, quick)
end

describe("store: shapes", function()
  it("passes a good record, and one with only its required fields", function()
    assert.is_nil(store.check(GOOD, instances.RECORD))
    assert.is_nil(store.check({ name = "a", state = "stopped", cpus = 1, memory = 1, disk = 1 },
      instances.RECORD))
  end)

  it("says what walking the shape says, for each field given each kind of value", function()
    local fields = {}
    for k in pairs(instances.RECORD) do fields[#fields + 1] = k end
    table.sort(fields)
    for _, k in ipairs(fields) do
      for _, x in ipairs(VALUES) do
        local r = copy(GOOD)
        r[k] = copy(x)
        agree(r, instances.RECORD)
      end
      local r = copy(GOOD)
      r[k] = nil
      agree(r, instances.RECORD)
    end
    -- inside lists and maps
    for _, x in ipairs(VALUES) do
      for _, path in ipairs({ { "mounts", 1, "source" }, { "mounts", 1, "readonly" },
        { "nics", 1, "mac" }, { "forwards", 1, "host_port" }, { "labels", "role" } }) do
        local r = copy(GOOD)
        local t = r
        for i = 1, #path - 1 do t = t[path[i]] end
        t[path[#path]] = copy(x)
        agree(r, instances.RECORD)
      end
    end
  end)

  it("agrees on a thousand records damaged at random", function()
    local fields = {}
    for k in pairs(instances.RECORD) do fields[#fields + 1] = k end
    table.sort(fields)
    math.randomseed(12)
    for _ = 1, 1000 do
      local r = copy(GOOD)
      for _ = 1, math.random(1, 3) do
        r[fields[math.random(#fields)]] = copy(VALUES[math.random(#VALUES)])
      end
      agree(r, instances.RECORD)
    end
  end)

  it("checks plain type shapes and the values that are not tables", function()
    for _, shape in ipairs({ "object", "string", "integer?", { list = "string" },
      { map = "integer" } }) do
      for _, x in ipairs(VALUES) do agree(copy(x), shape) end
      agree(nil, shape)
    end
  end)
end)
