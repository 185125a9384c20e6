-- Image references and the local.image.default setting: syntax only, nothing
-- is looked up (and nothing leaves the machine).
local images = require("moonbase.images")
local helpers = require("helpers")

describe("image references", function()
  local good = {
    { "24.04", { kind = "remote", remote = "ubuntu", alias = "24.04" } },
    { "noble", { kind = "remote", remote = "ubuntu", alias = "noble" } },
    { "ubuntu:24.04", { kind = "remote", remote = "ubuntu", alias = "24.04" } },
    { "local:tiny", { kind = "remote", remote = "local", alias = "tiny" } },
    { "ubuntu-daily:devel", { kind = "remote", remote = "ubuntu-daily", alias = "devel" } },
    { "local:tiny@20240101", { kind = "remote", remote = "local", alias = "tiny@20240101" } },
    { "file:///srv/img/disk.qcow2", { kind = "file", path = "/srv/img/disk.qcow2",
      url = "file:///srv/img/disk.qcow2" } },
    { "file:///srv/my disk.img", { kind = "file", path = "/srv/my disk.img",
      url = "file:///srv/my%20disk.img" } },
    { "file:///srv/a%25b%20c.img", { kind = "file", path = "/srv/a%b c.img",
      url = "file:///srv/a%25b%20c.img" } },
    { "https://example.invalid/images/x.img", { kind = "url",
      url = "https://example.invalid/images/x.img" } },
    { "http://127.0.0.1:8080/x.qcow2", { kind = "url", url = "http://127.0.0.1:8080/x.qcow2" } },
  }
  for _, case in ipairs(good) do
    it("parses " .. case[1], function()
      local r, msg = images.parse_ref(case[1])
      assert.is_table(r, msg)
      for k, v in pairs(case[2]) do assert.equal(v, r[k], k) end
      assert.equal(case[1], r.text)
    end)
  end

  local bad = {
    { "", "empty image reference" },
    { "file://relative/disk.img", "needs an absolute path" },
    { "ftp://host/x.img", "unsupported image URL" },
    { "https://", "invalid image URL" },
    { "https://host/", "invalid image URL" },
    { "Bad Remote:x", "invalid image reference" },
    { "UPPER:x", '"UPPER" is not a remote name' },
    { "file:x", '"file" is not a remote name' },
    { "local:", "invalid image reference" },
    { "local:-x", "invalid image reference" },
  }
  for _, case in ipairs(bad) do
    it("rejects \"" .. case[1] .. "\" in one line", function()
      local r, msg = images.parse_ref(case[1])
      assert.is_nil(r)
      assert.truthy(msg:find(case[2], 1, true), msg)
      assert.is_nil(msg:find("\n"))
      assert.is_nil(images.check_ref(case[1]))
    end)
  end
end)

describe("local.image.default", function()
  local h
  before_each(function() h = helpers.home({ driver = false }) end)
  after_each(function() h:cleanup() end)

  it("defaults to ubuntu:24.04 and accepts any reference syntax", function()
    assert.equal("ubuntu:24.04\n", h:ok({ "get", "local.image.default" }))
    for _, v in ipairs({ "local:tiny", "file:///srv/x.qcow2", "https://h.invalid/x.img" }) do
      h:ok({ "set", "local.image.default=" .. v })
      assert.equal(v .. "\n", h:ok({ "get", "local.image.default" }))
    end
  end)

  it("rejects a bad reference with exit 1 and keeps the old value", function()
    h:ok({ "set", "local.image.default=local:tiny" })
    local code, out, err = h:run({ "set", "local.image.default=ftp://x/y.img" })
    assert.equal(1, code)
    assert.equal("", out)
    assert.truthy(err:find("^set: invalid value for local.image.default: unsupported image URL"),
      err)
    assert.equal(1, #helpers.lines(err))
    assert.equal("local:tiny\n", h:ok({ "get", "local.image.default" }))
  end)
end)
