-- webapp.lua: a two-tier web app. An nginx load balancer spreads requests
-- over N web servers (a small Python app, recipes/webapp/app.py) that keep
-- their state in one PostgreSQL database.
--
-- NEEDS INTERNET: the image comes from cloud-images.ubuntu.com and the
-- guests install packages (postgresql, nginx, python3-psycopg2) from
-- Ubuntu's archive. Instances talk to each other over moonbase's private
-- network (run as root, or with CAP_NET_ADMIN); the load balancer's port 80
-- is forwarded to the host once this build has forwards.
--
--   moonbase up recipes/webapp.lua                   # lb, web1, web2, db
--   moonbase up recipes/webapp.lua --param webs=4    # two more web servers
--   curl "$(moonbase outputs recipes/webapp.lua url)"
--   moonbase down recipes/webapp.lua --purge
local image = param("image", "ubuntu:24.04", "image of every instance")
local webs = param("webs", 2, "number of web servers")
local password = param("db_password", "change-me", "password of the webapp database user")
local lb_port = param("lb_port", 8080, "host port forwarded to the load balancer's 80")

-- the database keeps to a network of its own with the web servers
if has("networks") then network "backend" {} end
local backend = has("networks") and { "backend" } or nil

instance "db" {
  image = image, cpus = 2, memory = "2G", disk = "10G",
  networks = backend,
  cloud_init = file "webapp/db-cloud-init.yaml",
  provision = {
    sh([[
      conf=$(ls -d /etc/postgresql/*/main | head -n 1)
      echo "listen_addresses = '*'" > "$conf/conf.d/webapp.conf"
      echo "host webapp webapp 0.0.0.0/0 scram-sha-256" >> "$conf/pg_hba.conf"
      systemctl restart postgresql
      sudo -u postgres psql -v ON_ERROR_STOP=1 <<SQL
        CREATE ROLE webapp LOGIN PASSWORD '$DB_PASSWORD';
        CREATE DATABASE webapp OWNER webapp;
SQL
      sudo -u postgres psql -v ON_ERROR_STOP=1 -d webapp <<SQL
        CREATE TABLE visits (id serial PRIMARY KEY, at timestamptz DEFAULT now());
        ALTER TABLE visits OWNER TO webapp;
SQL
    ]], { env = { DB_PASSWORD = password } }),
  },
  ready = probe.tcp(5432),
}

for i = 1, webs do
  instance ("web" .. i) {
    image = image, memory = "1G",
    networks = backend,
    depends_on = { "db" },
    provision = {
      sh [[
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q python3-psycopg2
      ]],
      copy { src = "webapp/app.py", dst = "/opt/webapp/app.py", mode = "0755" },
      write { "/etc/webapp.env",
        "DB_HOST=" .. ref("db").ipv4 .. "\nDB_PASSWORD=" .. password .. "\n", mode = "0600" },
      copy { src = "webapp/webapp.service", dst = "/etc/systemd/system/webapp.service" },
      sh "systemctl daemon-reload && systemctl enable --now webapp",
    },
    ready = probe.tcp(8000),
  }
end

-- nginx's upstream block, from the web servers' addresses (known at run time)
local upstream = "upstream webapp {\n"
for i = 1, webs do
  upstream = upstream .. "  server " .. ref("web" .. i).ipv4 .. ":8000;\n"
end
upstream = upstream .. "}\n"

instance "lb" {
  image = image, memory = "512M",
  forwards = has("forwards") and { [lb_port] = 80 } or nil,
  provision = {
    sh [[
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q nginx
      rm -f /etc/nginx/sites-enabled/default
    ]],
    write { "/etc/nginx/conf.d/webapp.conf", upstream .. [[
server {
  listen 80 default_server;
  location / { proxy_pass http://webapp; }
}
]] },
    sh "nginx -t && systemctl reload nginx",
  },
  ready = probe.tcp(80),
}

output("url", function(c)
  if has("forwards") then return "http://127.0.0.1:" .. lb_port .. "/" end
  return "http://" .. c.instances.lb.ipv4 .. "/"
end)

-- one request per web server through the load balancer: who answered
output("answers", function(c)
  local seen = {}
  for _ = 1, webs do
    seen[#seen + 1] = c.exec("lb", "curl -s --max-time 10 http://127.0.0.1/")
  end
  return seen
end)
