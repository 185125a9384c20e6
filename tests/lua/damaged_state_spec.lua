-- Damaged state (issue 18): each kind of state file, damaged in each way a
-- crash, a full disk or a hand edit leaves it, and every command run over
-- it. No command may crash (exit 0, 1 or 2, never an internal error or a
-- traceback); a command about the damaged thing says what is wrong, where
-- and what to do; a command about something else still works; and nothing
-- rewrites a damaged file behind the user's back.
-- docs/reliability.md reports the count (printed at the end).
local helpers = require("helpers")
local fs = require("moonbase.engine.fs")
local json = require("moonbase.engine.json")

-- the ways a file gets damaged
local DAMAGES = {
  { "empty", function() return "" end },
  { "not JSON", function() return "garbage{" end },
  { "truncated", function(good) return good:sub(1, #good // 2) end },
  { "binary", function() return "\0\255\254\1\2{" end },
  { "null", function() return "null" end },
  { "a number", function() return "42" end },
  { "a list", function() return "[1, 2]" end },
  { "an empty object", function() return "{}" end },
  { "wrong types", entries = true, function(good)
    local v = json.decode(good)
    for k, x in pairs(v) do
      if type(x) == "number" then v[k] = "many"
      elseif type(x) == "string" then v[k] = 7
      elseif type(x) == "table" then v[k] = "x" end
    end
    return json.encode(v)
  end },
}

-- each kind: where its file is (in the fixture home), and the commands
-- about it (they must report the damage) and about something else (they
-- must work)
local KINDS = {
  { "instance record", "data/instances/test/db/instance.json",
    about = { { "info", "db" }, { "start", "db" }, { "stop", "db" }, { "set", "local.db.cpus=2" },
      { "exec", "db", "--", "true" }, { "get", "local.db.cpus" } },
    others = { { "list" }, { "list", "--format", "json" }, { "list", "--format", "csv" },
      { "list", "--format", "yaml" }, { "info", "--all" }, { "info", "web" },
      { "stop", "--all" }, { "start", "--all" }, { "exec", "web", "--", "true" },
      { "launch", "--name", "fresh" }, { "delete", "fresh", "--purge" }, { "purge" },
      { "plan", "app.lua" }, { "status", "app.lua" } },
    -- delete --purge removes a damaged instance (and is run last)
    finally = { "delete", "--purge", "db" } },
  { "aliases file", "config/aliases.json", entries = true,
    about = { { "aliases" }, { "un" }, { "unalias", "un" }, { "alias", "web:ls", "ls2" } },
    others = { { "list" }, { "info", "web" }, { "exec", "web", "--", "true" }, { "help" },
      { "get", "local.driver" } } },
  { "remotes file", "config/remotes.json", entries = true,
    about = { { "images", "pull", "mine:tiny" }, { "remote", "add", "other", "http://127.0.0.1:9/" },
      { "remote", "remove", "mine" } },
    others = { { "remote", "list" }, { "list" }, { "info", "web" }, { "get", "local.driver" } } },
  { "settings file", "config/settings.json",
    about = { { "list" }, { "get", "local.driver" }, { "info", "web" } },
    others = { { "version" }, { "help" } } },
  { "network record", "data/networks/net1.json",
    about = { { "network", "delete", "net1" } },
    others = { { "networks" }, { "list" }, { "info", "web" }, { "network", "create", "net2" },
      { "network", "delete", "net2" } } },
  { "recipe record", "data/instances/test/app-web/recipe.json",
    about = { { "plan", "app.lua" }, { "status", "app.lua" }, { "outputs", "app.lua" } },
    others = { { "list" }, { "info", "app-web" } } },
}

describe("damaged state #damaged", function()
  local h, fake, recipe_dir
  local runs = 0

  setup(function()
    fake = helpers.tmpdir("damaged-net") .. "/host.json"
    recipe_dir = helpers.tmpdir("damaged-recipe")
    h = helpers.home({ env = { MOONBASE_NET_FAKE = fake } })
    h:ok({ "launch", "--name", "web" })
    h:ok({ "launch", "--name", "db" })
    h:ok({ "alias", "web:uname", "un" })
    h:ok({ "remote", "add", "mine", "http://127.0.0.1:9/" })
    h:ok({ "network", "create", "net1", "--subnet", "10.77.9.0/24" })
    assert(fs.write(recipe_dir .. "/app.lua", 'instance "web" {}\noutput("x", "y")\n'))
    h:ok({ "up", "app.lua" }, { cwd = recipe_dir })
  end)

  teardown(function()
    io.stderr:write(string.format("\ndamaged state: %d kinds x %d damages, %d commands run, " ..
      "none crashed\n", #KINDS, #DAMAGES, runs))
    if h then h:cleanup() end
    if fake then fs.rmtree(fake:match("^(.*)/")) end
    if recipe_dir then fs.rmtree(recipe_dir) end
  end)

  local function run(args)
    runs = runs + 1
    local code, out, err = h:run(args, { cwd = recipe_dir })
    local what = "moonbase " .. table.concat(args, " ")
    assert.truthy(code == 0 or code == 1 or code == 2, what .. " exited " .. code .. ": " .. err)
    assert.falsy(err:find("internal error", 1, true), what .. ": " .. err)
    assert.falsy(err:find("traceback", 1, true), what .. ": " .. err)
    return code, out, err
  end

  local originals = {}
  for _, kind in ipairs(KINDS) do
    for _, damage in ipairs(DAMAGES) do
      it(string.format("%s, %s: reported by the commands about it, the others work",
        kind[1], damage[1]), function()
        local path = h.dir .. "/" .. kind[2]
        -- every case starts from the good file, whatever the last one left
        originals[path] = originals[path] or assert(fs.read(path), path)
        local good = originals[path]
        assert(fs.write(path, good))
        local bad = damage[2](good)
        assert(fs.write(path, bad))
        for _, args in ipairs(kind.about) do
          local code, _, err = run(args)
          -- an empty object is a valid, empty aliases, remotes or settings file
          if code ~= 0 and damage[1] ~= "an empty object" then
            -- it says which file, or which instance, network or alias
            assert.truthy(err:find(kind[2]:match("([^/]+)$"), 1, true) or err:find("damaged", 1,
              true) or err:find("not valid JSON", 1, true),
              "moonbase " .. table.concat(args, " ") .. ": " .. err)
          end
          -- (a damaged entry may be removed on purpose: unalias, remote remove)
          if damage[1] ~= "an empty object" and not (damage.entries and kind.entries) then
            assert.equal(bad, fs.read(path), "moonbase " .. table.concat(args, " ") ..
              " rewrote the damaged file")
          end
        end
        for _, args in ipairs(kind.others or {}) do
          local code, _, err = run(args)
          assert.equal(0, code, "moonbase " .. table.concat(args, " ") .. ": " .. err)
        end
        if kind.finally then
          assert.equal(0, (run(kind.finally)))
          h:ok({ "launch", "--name", "db" })
          originals[path] = fs.read(path)
        end
        assert(fs.write(path, originals[path]))
      end)
    end
  end
end)
