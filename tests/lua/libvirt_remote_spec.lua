-- Remote libvirt hosts without a host: which URIs are remote, where an
-- instance runs (for list/info), and the ssh commands that reach a guest
-- through its host (the agent's proxy, ssh-config's ProxyCommand), built by
-- the libvirt driver's ssh_address from the URI the way libvirt's qemu+ssh
-- transport builds its own.
local remote = require("moonbase._core.hosts")
local driver = require("moonbase.engine.driver")

-- The proxy command the libvirt driver gives for an instance placed on uri,
-- its SSH forward on that host's 127.0.0.1:port.
local function proxy_template(uri, port)
  local conn = assert(driver.open("libvirt", { uri = "test:///default" }))
  local host, port_or_msg, proxy = conn:ssh_address({ name = "far", dir = "/nonexistent",
    host = uri, nics = { { attach = "user", host_port = port } } })
  if not host then return nil, port_or_msg end
  return proxy
end

function remote.proxy(uri, host, port)
  local t, msg = proxy_template(uri, port)
  if t == nil and msg then error(msg, 0) end
  return remote.expand_proxy(t, host, port)
end

function remote.proxy_command(uri)
  return (proxy_template(uri, 22))
end

describe("libvirt remote hosts", function()
  it("tells remote URIs from local ones, like the C driver", function()
    for _, u in ipairs({ "qemu+ssh://root@10.0.0.2/system", "qemu+tls://host/system",
      "qemu://host.example/system", "qemu+ssh://h/system?keyfile=/k" }) do
      assert.is_true(remote.is_remote(u), u)
    end
    for _, u in ipairs({ "qemu:///system", "qemu:///system?socket=/tmp/s/libvirt-sock",
      "qemu://localhost/system", "test:///default", "qemu:///session" }) do
      assert.is_false(remote.is_remote(u), u)
    end
  end)

  it("parses user, host, port and parameters", function()
    local u = remote.parse("qemu+ssh://ada@[fd00::2]:2222/system?keyfile=/a%20b/k&no_verify=1")
    assert.same({ scheme = "qemu+ssh", transport = "ssh", user = "ada", host = "fd00::2",
      port = "2222", params = { keyfile = "/a b/k", no_verify = "1" } }, u)
    assert.equal("root@10.0.0.2", remote.location("qemu+ssh://root@10.0.0.2/system"))
    assert.equal("host", remote.location("qemu+tls://host/system"))
    assert.equal("local", remote.location(nil))
  end)

  it("builds the agent's proxy command from the URI's ssh options", function()
    assert.equal("ssh -o BatchMode=yes -W 127.0.0.1:40022 10.0.0.2",
      remote.proxy("qemu+ssh://10.0.0.2/system", "127.0.0.1", 40022))
    assert.equal("'/opt/ssh wrap' -p 2222 -l root -i '/keys/id ed' -o UserKnownHostsFile=/kh " ..
      "-o StrictHostKeyChecking=no -o BatchMode=yes -W 127.0.0.1:40022 h",
      remote.proxy("qemu+ssh://root@h:2222/system?keyfile=/keys/id%20ed&known_hosts=/kh" ..
        "&no_verify=1&command=/opt/ssh%20wrap", "127.0.0.1", 40022))
  end)

  it("gives OpenSSH a ProxyCommand with %h:%p and literal percents escaped", function()
    assert.equal("ssh -l root -i /k%%1 -o BatchMode=yes -W %h:%p h",
      remote.proxy_command("qemu+ssh://root@h/system?keyfile=/k%251"))
  end)

  it("refuses a recipe's host = under a driver that cannot place it, changing nothing", function()
    local helpers = require("helpers")
    local fs = require("moonbase.engine.fs")
    local h = helpers.home()
    local dir = helpers.tmpdir("recipe")
    assert(fs.write(dir .. "/app.lua", 'instance "a" { host = "qemu+ssh://root@h/system" }\n'))
    local code, out, err = h:run({ "up", dir .. "/app.lua" })
    assert.are_not.equal(0, code)
    assert.truthy((err .. out):find("host = qemu+ssh://root@h/system needs the libvirt driver",
      1, true), err .. out)
    assert.equal("No instances found.\n", h:ok({ "list" }))
    h:cleanup()
    fs.rmtree(dir)
  end)

  it("refuses a URI without a host", function()
    assert.has_error(function() remote.proxy("qemu+ssh:///system", "127.0.0.1", 1) end,
      "cannot tell which host the libvirt URI qemu+ssh:///system names")
  end)
end)
