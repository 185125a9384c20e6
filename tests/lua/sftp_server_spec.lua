-- The classic mounts' SFTP server end to end on the host, with other
-- people's clients: OpenSSH's sftp (-D runs `moonbase sftp-server` as its
-- server) and sshfs in passive mode (-o slave, exactly as the guest runs it),
-- piped to `moonbase sftp-server` through two FIFOs. Confinement is checked
-- from the client side: "..", absolute paths and a symlink to a shadow-like
-- file outside the share all fail, files in the share still work.
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local helpers = require("helpers")

local function sh(cmd)
  local code, out, err = process.run({ "sh", "-c", cmd })
  return code, out or "", err or ""
end

local function must(cmd)
  local code, out, err = sh(cmd)
  assert(code == 0, cmd .. " failed (" .. code .. "): " .. err .. out)
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function have(prog) return sh("command -v " .. prog .. " >/dev/null") == 0 end

-- share/ with files, and outside of it a secret and a shadow-like file
local function layout(dir)
  must(table.concat({
    "mkdir -p " .. q(dir .. "/share/sub"),
    "echo hello > " .. q(dir .. "/share/file.txt"),
    "echo TOPSECRET > " .. q(dir .. "/outside-secret"),
    "echo 'root:$6$SHADOWHASH:19000:0:99999:7:::' > " .. q(dir .. "/shadow"),
    "chmod 640 " .. q(dir .. "/shadow"),
    "ln -s " .. q(dir .. "/shadow") .. " " .. q(dir .. "/share/to-shadow"),
    "ln -s ../outside-secret " .. q(dir .. "/share/up"),
    "ln -s file.txt " .. q(dir .. "/share/inside"),
  }, " && "))
end

describe("sftp-server with OpenSSH's sftp", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir("sftpd")
    layout(dir)
  end)
  after_each(function() fs.rmtree(dir) end)

  local function sftp(batch, extra)
    local server = helpers.bin .. " sftp-server " .. (extra or "") .. " " .. dir .. "/share"
    return sh("cd " .. q(dir) .. " && printf '%s\\n' " .. q(batch) .. " | sftp -q -b - -D " ..
      q(server))
  end

  it("copies, lists, renames, links and removes inside the share", function()
    if not have("sftp") then pending("OpenSSH's sftp client is not installed") return end
    must("head -c 3000000 /dev/urandom > " .. q(dir .. "/big"))
    local code, out, err = sftp(table.concat({
      "put -p big sub/big", "get sub/big big.back", "rename sub/big sub/big2",
      "mkdir newdir", "ln -s ../file.txt newdir/link", "get newdir/link link.back",
      "chmod 600 sub/big2", "ls -l sub", "rm newdir/link", "rmdir newdir", "df",
    }, "\n"))
    assert.equal(0, code, err .. out)
    assert.equal(must("sha256sum < " .. q(dir .. "/big")),
      must("sha256sum < " .. q(dir .. "/big.back")))
    assert.equal("hello\n", fs.read(dir .. "/link.back"))
    local st = fs.stat(dir .. "/share/sub/big2")
    assert.equal(tonumber("600", 8), st.mode)
    assert.equal(math.floor(fs.stat(dir .. "/big").mtime), math.floor(st.mtime))
    assert.is_nil(fs.exists(dir .. "/share/newdir"))
  end)

  it("refuses .., absolute paths and symlinks that leave the share", function()
    if not have("sftp") then pending("OpenSSH's sftp client is not installed") return end
    for _, path in ipairs({ "../outside-secret", "sub/../../shadow", dir .. "/shadow",
      "/etc/passwd", "to-shadow", "up" }) do
      local code, out, err = sftp("get " .. path .. " stolen")
      assert.are_not.equal(0, code, path .. ": " .. out)
      assert.is_nil(fs.exists(dir .. "/stolen"), path)
      assert.falsy((out .. err):find("TOPSECRET") or (out .. err):find("SHADOWHASH"), path)
    end
    local code, out, err = sftp("put " .. dir .. "/outside-secret ../planted")
    assert.are_not.equal(0, code, out .. err)
    assert.is_nil(fs.exists(dir .. "/planted"))
    -- and a good file still comes
    code, out, err = sftp("get inside inside.back")
    assert.equal(0, code, out .. err)
    assert.equal("hello\n", fs.read(dir .. "/inside.back"))
  end)

  it("--readonly refuses every change on the host side", function()
    if not have("sftp") then pending("OpenSSH's sftp client is not installed") return end
    for _, cmd in ipairs({ "put " .. dir .. "/outside-secret new", "mkdir d", "rm file.txt",
      "rename file.txt f2", "chmod 600 file.txt", "ln -s file.txt l2" }) do
      local code, out, err = sftp(cmd, "--readonly")
      assert.are_not.equal(0, code, cmd .. ": " .. out .. err)
    end
    local code, out, err = sftp("get file.txt got", "--readonly")
    assert.equal(0, code, out .. err)
    assert.same({ "file.txt", "inside", "sub", "to-shadow", "up" },
      (function() local t = fs.list(dir .. "/share") table.sort(t) return t end)())
    assert.equal(tonumber("644", 8), fs.stat(dir .. "/share/file.txt").mode)
  end)
end)

describe("sftp-server under sshfs -o slave (as in the guest)", function()
  local dir, mnt, pipeline
  local function skip_reason()
    if not have("sshfs") then return "sshfs is not installed on this host" end
    if not fs.exists("/dev/fuse") then return "no /dev/fuse on this host" end
    if util.geteuid() ~= 0 then return "mounting FUSE here needs root" end
  end

  -- sshfs and the server, each reading the other's output through a FIFO
  -- (sshfs opens its output first: a FIFO's open waits for the other end)
  local function mount(extra)
    mnt = dir .. "/mnt"
    must("mkdir -p " .. q(mnt) .. " && mkfifo " .. q(dir .. "/req") .. " " ..
      q(dir .. "/rep"))
    pipeline = process.spawn({ "sh", "-c", helpers.bin .. " sftp-server " .. (extra or "") ..
      " " .. q(dir .. "/share") .. " < " .. q(dir .. "/req") .. " > " .. q(dir .. "/rep") ..
      " & exec sshfs -o slave,default_permissions : " .. q(mnt) .. " > " ..
      q(dir .. "/req") .. " < " .. q(dir .. "/rep") }, { detach = true })
    local deadline = util.now() + 10
    while util.now() < deadline do
      if (fs.read("/proc/mounts") or ""):find(" " .. mnt .. " fuse.sshfs ", 1, true) then
        return
      end
      util.sleep(0.05)
    end
    error("sshfs did not mount " .. mnt)
  end

  before_each(function()
    dir = helpers.tmpdir("sshfs")
    layout(dir)
  end)
  after_each(function()
    if mnt then sh("fusermount3 -u " .. q(mnt) .. " || umount -l " .. q(mnt)) end
    if pipeline then
      for _ = 1, 100 do
        if not process.alive(pipeline) then break end
        util.sleep(0.05)
      end
      if process.alive(pipeline) then process.kill(pipeline, 9) end
    end
    mnt, pipeline = nil, nil
    fs.rmtree(dir)
  end)

  it("carries data both ways (sha256 of 20 MB), mtime, modes, rename, mkdir, symlinks",
    function()
      local why = skip_reason()
      if why then pending(why) return end
      mount()
      must("head -c 20000000 /dev/urandom > " .. q(dir .. "/big"))
      must("cp " .. q(dir .. "/big") .. " " .. q(mnt .. "/big"))
      assert.equal(must("sha256sum < " .. q(dir .. "/big")),
        must("sha256sum < " .. q(dir .. "/share/big")))
      must("head -c 20000000 /dev/urandom > " .. q(dir .. "/share/from-host"))
      assert.equal(must("sha256sum < " .. q(dir .. "/share/from-host")),
        must("sha256sum < " .. q(mnt .. "/from-host")))
      must("touch -d '2021-02-03 04:05:06' " .. q(mnt .. "/big") .. " && chmod 640 " ..
        q(mnt .. "/big"))
      local st = fs.stat(dir .. "/share/big")
      assert.equal(tonumber("640", 8), st.mode)
      assert.equal(must("date -d '2021-02-03 04:05:06' +%s"):gsub("%s", ""),
        tostring(math.floor(st.mtime)))
      must("mkdir " .. q(mnt .. "/d") .. " && mv " .. q(mnt .. "/big") .. " " ..
        q(mnt .. "/d/big2") .. " && ln -s big2 " .. q(mnt .. "/d/l") .. " && cmp " ..
        q(mnt .. "/d/l") .. " " .. q(dir .. "/big"))
      assert.equal("big2", fs.readlink(dir .. "/share/d/l"))
      must("rm " .. q(mnt .. "/d/l") .. " " .. q(mnt .. "/d/big2") .. " && rmdir " ..
        q(mnt .. "/d"))
      assert.is_nil(fs.exists(dir .. "/share/d"))
    end)

  it("does not let the mount reach outside the share", function()
    local why = skip_reason()
    if why then pending(why) return end
    mount()
    -- ("mnt/.." is the host's own folder here, resolved by the host kernel:
    -- nothing to do with the server, so not tried)
    for _, p in ipairs({ "to-shadow", "up" }) do
      local code, out = sh("cat " .. q(mnt .. "/" .. p))
      assert.are_not.equal(0, code, p)
      assert.falsy(out:find("TOPSECRET") or out:find("SHADOWHASH"), p)
    end
    assert.equal("hello\n", must("cat " .. q(mnt .. "/inside")))
  end)

  it("--readonly: writes fail, reads work", function()
    local why = skip_reason()
    if why then pending(why) return end
    mount("--readonly")
    assert.are_not.equal(0, (sh("echo x > " .. q(mnt .. "/new"))))
    assert.are_not.equal(0, (sh("rm " .. q(mnt .. "/file.txt"))))
    assert.are_not.equal(0, (sh("mkdir " .. q(mnt .. "/d"))))
    assert.equal("hello\n", must("cat " .. q(mnt .. "/file.txt")))
    assert.is_nil(fs.exists(dir .. "/share/new"))
    assert.equal("hello\n", fs.read(dir .. "/share/file.txt"))
  end)
end)
