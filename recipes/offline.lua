-- offline.lua: a three-instance mini-cloud that needs nothing but the tiny
-- test image (local:tiny, busybox guests built by tests/images/build-tiny.sh
-- from Debian packages): no internet, no package installs. A "db" keeps a
-- record and serves it over HTTP; N web servers each fetch the record from the
-- db when they are provisioned and serve a page built from it.
--
--   moonbase up recipes/offline.lua                 # db, web1, web2 (web ones in parallel)
--   moonbase outputs recipes/offline.lua
--   moonbase plan recipes/offline.lua --param db_cpus=2   # "change db: cpus 1 → 2"
--   moonbase down recipes/offline.lua --purge
--
-- What the outputs prove:
--   record     the db's record, read in the db
--   pages      each web server's page, read in that web server: it holds the
--              record it got from the db through moonbase (ref("db").exec),
--              which works on any network
--   web_to_db  web1 fetching the record from the db by name over the network
--              (http://<project>-db.moonbase:8080/) when the instances share
--              moonbase's private network; with user networking (no root, or
--              before networking is set up) instances cannot reach each other,
--              and the output says so instead of trying
--   shared     a file of recipes/offline/shared read in web1 (once this build
--              has mounts: has("mounts"))
--   urls       each web server's page on the host through a port forward
--              (once this build has forwards: has("forwards"))
local webs = param("webs", 2, "number of web servers")
local db_cpus = param("db_cpus", 1, "CPUs of the db")
local image = param("image", "local:tiny", "image of every instance")
local first_port = param("first_port", 18081, "host port forwarded to web1's 8080, then +1")

instance "db" {
  image = image, cpus = db_cpus, memory = "256M", disk = "1G",
  cloud_init = file "offline/httpd.yaml",
  provision = {
    write { "/srv/www/record.txt", "id=42 name=moonbase\n" },
  },
  ready = probe.tcp(8080),
}

for i = 1, webs do
  instance ("web" .. i) {
    image = image, memory = "256M", disk = "1G",
    cloud_init = file "offline/httpd.yaml",
    mounts = (has("mounts") and i == 1) and { { "offline/shared", "/srv/shared",
      readonly = true } } or nil,
    forwards = has("forwards") and { [first_port + i - 1] = 8080 } or nil,
    provision = {
      -- the record crosses from db to web through moonbase, not the network
      write { "/srv/www/index.html",
        "web" .. i .. " serves: " .. ref("db").exec "cat /srv/www/record.txt" .. "\n" },
    },
    ready = probe.tcp(8080),
  }
end

output("record", function(c) return c.exec("db", "cat /srv/www/record.txt") end)

output("pages", function(c)
  local pages = {}
  for i = 1, webs do pages[#pages + 1] = c.exec("web" .. i, "cat /srv/www/index.html") end
  return pages
end)

output("web_to_db", function(c)
  -- only on moonbase's private network (its DNS search domain is "moonbase");
  -- never a lookup through user networking. busybox nc connects by name (the
  -- static busybox wget cannot resolve names), sed drops the HTTP header.
  local host = c.instances.db.name .. ".moonbase"
  return c.exec("web1", "if grep -q moonbase /etc/resolv.conf 2>/dev/null; then " ..
    "printf 'GET /record.txt HTTP/1.0\\r\\n\\r\\n' | nc -w 5 " .. host .. " 8080 | " ..
    "sed '1,/^\\r*$/d' | grep . || echo 'unreachable: " .. host .. ":8080'; else " ..
    "echo 'no private network: user networking keeps instances apart'; fi")
end)

output("shared", function(c)
  if not has("mounts") then return "mounts are not available in this build yet" end
  return c.exec("web1", "cat /srv/shared/hello.txt")
end)

output("urls", function()
  if not has("forwards") then return "forwards are not available in this build yet" end
  local urls = {}
  for i = 1, webs do urls[#urls + 1] = "http://127.0.0.1:" .. (first_port + i - 1) .. "/" end
  return urls
end)
