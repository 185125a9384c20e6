-- The privilege check on the real kernel: a process without CAP_NET_ADMIN
-- (root dropped to nobody with setpriv) is told the private network is not
-- available, and why; nothing is created. No network is touched.
local helpers = require("helpers")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local net = require("moonbase.engine.net")

describe("network privileges", function()
  it("reads CAP_NET_ADMIN from a status text", function()
    local status = "Name:\tx\nCapPrm:\t0000000000000000\nCapEff:\t0000000000001000\n"
    assert.is_true(net.capeff_has(status, 12))
    assert.is_false(net.capeff_has(status, 13))
    assert.is_false(net.capeff_has("CapEff:\t0000000000000000\n", 12))
    assert.is_nil(net.capeff_has("Name:\tx\n", 12))
  end)

  it("this process's answer agrees with its CapEff", function()
    local status = assert(fs.read("/proc/self/status"))
    local ok, why = net.privileged()
    if net.capeff_has(status, 12) then
      assert.is_true(ok, why)
    else
      assert.is_false(ok)
      assert.equal("creating bridges and taps needs root or CAP_NET_ADMIN", why)
    end
  end)

  it("is unavailable, with the reason, for an unprivileged user", function()
    local _, euid = net.uid()
    if euid ~= 0 or not fs.exists("/usr/bin/setpriv") then
      pending("needs root and setpriv (util-linux) to run moonbase as nobody")
      return
    end
    local dir = helpers.tmpdir("nopriv")
    assert(process.run({ "chmod", "0777", dir }) == 0)
    local script = dir .. "/probe.lua"
    assert(fs.write(script, [[
      local network = require("moonbase._core.network")
      local ok, why = network.available()
      local attached, msg = pcall(network.attach, "web")
      io.write(tostring(ok), "|", why or "", "|", tostring(attached), "|",
        tostring(type(msg) == "table" and msg.message or msg))]], 420))
    local code, out, err = process.run({ "setpriv", "--reuid=65534", "--regid=65534",
      "--clear-groups", "--inh-caps=-all", helpers.bin, "--lua", script },
      { env = { MOONBASE_HOME = dir .. "/home" } })
    fs.rmtree(dir)
    if code ~= 0 and err:find("Permission denied", 1, true) then
      pending("nobody cannot execute " .. helpers.bin .. " here: " .. err)
      return
    end
    assert.equal(0, code, err)
    assert.equal("false|creating bridges and taps needs root or CAP_NET_ADMIN (run moonbase " ..
      "as root, e.g. with sudo)|false|network: the private network is not available: " ..
      "creating bridges and taps needs root or CAP_NET_ADMIN (run moonbase as root, e.g. " ..
      "with sudo)", out)
  end)
end)
