-- Guests with every common network stack, on moonbase's private network:
-- the Debian 12 image flavours of tests/images/build-debian.sh (ifupdown
-- with and without resolvconf, netplan + systemd-networkd with and without
-- systemd-resolved, NetworkManager), each launched through the CLI as root
-- inside the suite's own network namespace (moonbase0: bridge, taps,
-- dnsmasq), one after the other, then all running together.
-- Proves for each: the address moonbase recorded is the guest's, the
-- default route goes through the gateway, `getent hosts <other>.moonbase`
-- answers with the other guest's address and `getent hosts` of the host's
-- names (host.moonbase, the host's own name) with the gateway, and all of it
-- again after stop/start. Prints (and writes to MOONBASE_GUESTS_TABLE when
-- set) the table of docs/guests.md: launch to SSH, launch to cloud-init
-- done, DNS works, address stable.
-- Run: tests/lib/in-netns.sh build/moonbase --lua tests/run-busted.lua tests/e2e/guests_spec.lua
package.path = (os.getenv("MOONBASE_SRC") or ".") .. "/tests/e2e/?.lua;" .. package.path
local support = require("support")
local process = require("moonbase.engine.process")
local fs = require("moonbase.engine.fs")
local util = require("moonbase.engine.util")
local json = require("moonbase.engine.json")

local FLAVOURS = { "ifupdown", "ifupdown-resolvconf", "networkd", "networkd-resolved",
  "networkmanager" }
-- the default flavour is published as "bookworm", the others as bookworm-<flavour>
local function image_of(f)
  return f == "ifupdown" and "local:bookworm" or "local:bookworm-" .. f
end
local BOOT = "900" -- --timeout of a Debian boot under TCG on a busy 2-core machine

describe("guest network stacks on moonbase's network #e2e", function()
  local why = support.unavailable() or support.netns_unavailable()
  if why then
    it("needs QEMU and a network namespace of its own", function() pending(why) end)
    return
  end

  local h, skip, host_names
  local rows, timings = {}, {}

  local function need()
    if skip then pending(skip) end
  end

  local function sh(name, cmd)
    return h:run({ "exec", name, "--", "sh", "-c", cmd })
  end

  local function info(name)
    return json.decode(h:ok({ "info", name, "--format", "json" }))[name]
  end

  setup(function()
    local t0 = util.now()
    local dirs = {}
    for _, f in ipairs(FLAVOURS) do
      local dir, msg = support.image("build-debian.sh", nil, { "--flavour", f })
      if not dir then
        skip = "the Debian 12 " .. f .. " image cannot be built here: " .. tostring(msg)
        return
      end
      dirs[#dirs + 1] = dir
    end
    timings[#timings + 1] = string.format("images %.1fs", util.now() - t0)
    local host, msg = support.host(dirs)
    if not host then
      skip = "the images cannot be served: " .. tostring(msg)
      return
    end
    h = support.home(host, { tag = "guests", image = "bookworm", private_network = true })
    host_names = { "host" }
    local own = (fs.read("/proc/sys/kernel/hostname") or ""):match("^([%w-]+)")
    if own and own ~= "host" then host_names[#host_names + 1] = own:lower() end
  end)

  teardown(function()
    support.cleanup()
    if next(rows) then -- (keyed by flavour)
      local t = { "| guest network stack | launch to SSH | launch to cloud-init done | " ..
        "DNS works | address stable |", "|---|---|---|---|---|" }
      for _, f in ipairs(FLAVOURS) do
        local r = rows[f]
        if r then
          t[#t + 1] = string.format("| %s | %s | %s | %s | %s |", f,
            r.ssh and string.format("%.0f s", r.ssh) or "-",
            r.done and string.format("%.0f s", r.done) or "-",
            r.dns == nil and "-" or (r.dns and "yes" or "no"),
            r.stable == nil and "-" or (r.stable and "yes" or "no"))
        end
      end
      local text = table.concat(t, "\n") .. "\n"
      io.stderr:write("\n", text)
      local out = os.getenv("MOONBASE_GUESTS_TABLE")
      if out and out ~= "" then fs.write(out, text) end
    end
    if #timings > 0 then io.stderr:write("[guests] " .. table.concat(timings, ", ") .. "\n") end
  end)

  -- Runs `moonbase VERB <flavour> ...` for every flavour, PARALLEL at a time
  -- (the next starts when one ends), each one's status lines in
  -- <home>/VERB-<flavour>.err, timed from its own start as they appear:
  -- to SSH (cloud-init's wait begins) and to the end. Two at a time keep both
  -- cores busy and give each boot one (the times stay each stack's own);
  -- MOONBASE_GUESTS_PARALLEL=1 runs them one by one, 5 all at once.
  local PARALLEL = math.tointeger(tonumber(os.getenv("MOONBASE_GUESTS_PARALLEL") or "")) or 2
  local function each_flavour(verb, args_of, budget)
    local todo, running, codes, times, n = {}, {}, {}, {}, 0
    for i = #FLAVOURS, 1, -1 do todo[#todo + 1] = FLAVOURS[i] end
    local function err_of(f) return h.dir .. "/" .. verb .. "-" .. f .. ".err" end
    -- the whole wait: each command's budget, PARALLEL at a time
    local rounds = (#FLAVOURS + PARALLEL - 1) // PARALLEL
    support.wait_for(verb .. " of every flavour", rounds * (budget + 60), function()
      for f, pid in pairs(running) do
        local t = times[f]
        if not t.ssh and (fs.read(err_of(f)) or ""):find("Waiting for cloud-init", 1, true) then
          t.ssh = util.now() - t.t0
        end
        codes[f] = process.wait(pid, true)
        if codes[f] ~= nil then
          t.done = util.now() - t.t0
          running[f], n = nil, n - 1
        end
      end
      while #todo > 0 and n < PARALLEL do
        local f = table.remove(todo)
        n = n + 1
        times[f] = { t0 = util.now() }
        running[f] = assert(process.spawn(support.argv(args_of(f), true), { env = h.env,
          stdout = h.dir .. "/" .. verb .. "-" .. f .. ".out", stderr = err_of(f) }))
      end
      return #todo == 0 and next(running) == nil
    end, 0.2)
    for _, f in ipairs(FLAVOURS) do
      assert.equal(0, codes[f], f .. ": " .. verb .. " failed:\n" .. (fs.read(err_of(f)) or ""))
      timings[#timings + 1] = string.format("%s %s %.0fs", f, verb, times[f].done)
    end
    return times
  end

  -- the checks of one guest: address, route, names; true when DNS answered
  local function check(f, other)
    local rec = h:record(f)
    local want = rec.ipv4
    assert.is_truthy(want, f .. ": no address recorded")
    local code, out, err = sh(f, "ip -4 -o addr show scope global")
    assert.equal(0, code, err)
    assert.truthy(out:find(" " .. want .. "/", 1, true), f .. ": address " .. want ..
      " not in the guest:\n" .. out)
    assert.same({ want }, { info(f).ipv4[1] })
    local gw = want:gsub("%.%d+$", ".1")
    code, out, err = sh(f, "ip -4 route show default")
    assert.equal(0, code, err)
    assert.truthy(out:find("default via " .. gw .. " ", 1, true), f .. ": default route:\n" .. out)
    local other_ip = h:record(other).ipv4
    local dns_ok = true
    code, out, err = sh(f, "getent hosts " .. other .. ".moonbase")
    if code ~= 0 or not out:find("^" .. other_ip:gsub("%.", "%%.") .. "%s") then dns_ok = false end
    assert.equal(0, code, f .. ": getent hosts " .. other .. ".moonbase: " .. err .. out ..
      select(2, sh(f, "ls -l /etc/resolv.conf; cat /etc/resolv.conf")))
    assert.matches("^" .. other_ip:gsub("%.", "%%.") .. "%s+" .. other:gsub("%p", "%%%0") ..
      "%.moonbase", out) -- (a flavour's name has dashes: escaped)
    for _, n in ipairs(host_names) do
      code, out, err = sh(f, "getent hosts " .. n)
      if code ~= 0 then dns_ok = false end
      assert.equal(0, code, f .. ": getent hosts " .. n .. ": " .. err .. out)
      assert.matches("^" .. gw:gsub("%.", "%%.") .. "%s", out)
    end
    return dns_ok
  end

  it("launches a guest of each network stack, cloud-init done in each", function()
    need()
    local t0 = util.now()
    local times = each_flavour("launch", function(f)
      return { "launch", image_of(f), "--name", f, "--timeout", BOOT }
    end, tonumber(BOOT))
    timings[#timings + 1] = string.format("all launched %.0fs", util.now() - t0)
    for _, f in ipairs(FLAVOURS) do
      rows[f] = { ssh = times[f].ssh, done = times[f].done }
      local code, out = sh(f, "cloud-init status")
      assert.equal(0, code, f .. ": " .. out)
      assert.truthy(out:find("status: done", 1, true), f .. ": " .. out)
    end
  end)

  it("gives each its recorded address, the default route, and names that resolve",
    function()
      need()
      for k, g in ipairs(FLAVOURS) do
        local other = FLAVOURS[k % #FLAVOURS + 1]
        assert.truthy(rows[g], g .. " was not launched")
        rows[g].dns = check(g, other)
        rows[g].addr = h:record(g).ipv4
      end
    end)

  it("keeps address, route and names across stop and start", function()
    need()
    local t0 = util.now()
    each_flavour("stop", function(f) return { "stop", f } end, 300)
    each_flavour("start", function(f) return { "start", f } end, 300) -- start waits 300 s
    timings[#timings + 1] = string.format("stop+start all %.0fs", util.now() - t0)
    for k, g in ipairs(FLAVOURS) do
      local before = rows[g].addr
      rows[g].stable = false
      assert.equal(before, info(g).ipv4[1])
      local dns = check(g, FLAVOURS[k % #FLAVOURS + 1])
      rows[g].stable = h:record(g).ipv4 == before
      rows[g].dns = rows[g].dns and dns
    end
  end)


  it("is purged with nothing left, network and all", function()
    need()
    h:ok({ "delete", "--purge", "--all" })
    h:ok({ "networks", "--prune" }) -- moonbase0's dnsmasq
    support.wait_for("no QEMU, agent or dnsmasq left", 30, function()
      return #support.processes(h.dir) == 0
    end)
  end)
end)
