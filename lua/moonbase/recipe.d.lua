---@meta
-- LuaCATS definitions of the recipe language, for lua-language-server: with
-- this file in your workspace library, editors complete and check recipes.
--   .luarc.json next to your recipes:
--   { "workspace.library": ["/path/to/moonbase/lua/moonbase/recipe.d.lua"],
--     "runtime.version": "Lua 5.4" }
-- (recipes/.luarc.json in moonbase's source tree does this for the bundled
-- recipes). The language is described in docs/recipes.md. This file is only
-- read by editors; moonbase itself never runs it.

---A value known only when the step that uses it runs, such as an
---instance's address: `ref("db").ipv4`. Join it with strings using `..`
---(the result is lazy too) and use it in `sh`, `copy`, `write`,
---`cloud_init`, `env`, `probe.exec` or an output. Lua string functions
---cannot see it.
---@class moonbase.recipe.Lazy

---@alias moonbase.recipe.Text string|moonbase.recipe.Lazy

---Another instance of the recipe, for its values at run time. Using a ref
---in an instance's cloud_init or steps makes that instance wait for it.
---@class moonbase.recipe.Ref
---@field name string                  the instance's full name, "<project>-<name>" (known at once)
---@field ipv4 moonbase.recipe.Lazy    its primary IPv4 address
---@field ssh moonbase.recipe.Lazy     "host:port" of its SSH server, as moonbase reaches it
local Ref = {}

---The standard output (without the final newline) of a shell command run
---as root in that instance when the step that uses it runs: how instances
---pass each other keys and tokens. `ref("control").exec "cat /root/.ssh/id_ed25519.pub"`
---@param command string
---@return moonbase.recipe.Lazy
function Ref.exec(command) end

---@class moonbase.recipe.Step
---@field kind "sh"|"copy"|"write"

---@class moonbase.recipe.ShOptions
---@field env? table<string, moonbase.recipe.Text|number|boolean>  environment of the script
---@field sudo? boolean               run as root (default true)
---@field workdir? moonbase.recipe.Text  directory to run in

---@class moonbase.recipe.CopySpec
---@field src string    a file or directory of the recipe's folder (or [1])
---@field dst moonbase.recipe.Text    absolute guest path (or [2]); a directory's contents go into dst; a file goes to dst, or into dst when it ends with /
---@field mode? string  octal permissions, "0644"
---@field [1]? string
---@field [2]? moonbase.recipe.Text

---@class moonbase.recipe.WriteSpec
---@field path moonbase.recipe.Text      absolute guest path (or [1])
---@field content moonbase.recipe.Text   the file's content (or [2])
---@field mode? string                   octal permissions, "0600"
---@field [1]? moonbase.recipe.Text
---@field [2]? moonbase.recipe.Text

---@class moonbase.recipe.Probe
---@field kind "tcp"|"exec"|"file"

---@class moonbase.recipe.ProbeOptions
---@field timeout? string|number   how long to keep trying ("90s", "5m"; default 5m)
---@field interval? string|number  pause between tries (default 1s)

---A network the instance joins: the name of a `network` block, or
---`{ "name", ip = "10.77.0.10" }` for a fixed address.
---@alias moonbase.recipe.NetworkRef string|{ [1]: string, name?: string, ip?: string }

---A shared host folder: `{ "./site", "/srv/site" }` (relative to the
---recipe's folder), optionally `readonly = true` and `type = "native"|"classic"`.
---@class moonbase.recipe.Mount
---@field [1] string     host directory (or src)
---@field [2] string     absolute guest path (or dst)
---@field src? string
---@field dst? string
---@field readonly? boolean
---@field type? "native"|"classic"

---@class moonbase.recipe.Instance
---@field image? string            image to launch, e.g. "local:tiny", "debian:12" (default: the local.image.default setting)
---@field cpus? integer            1 to 256 (default 1)
---@field memory? string           size with a unit, at least "128M" (default "1G")
---@field disk? string             size with a unit, at least "512M" (default "5G"); it can only grow
---@field cloud_init? moonbase.recipe.Text  cloud-init user-data: `file "user-data.yaml"` or text (#cloud-config or a script)
---@field networks? moonbase.recipe.NetworkRef[]  networks of this recipe to join (when has("networks"))
---@field bridged? boolean          also a NIC on the host bridge in local.bridged-network, address from its DHCP (like launch --bridged)
---@field host? string             "local" (default: where local.libvirt.uri points) or a remote libvirt URI, e.g. "qemu+ssh://user@host/system": the instance runs on that libvirt host (local.driver=libvirt; see docs/libvirt.md)
---@field mounts? moonbase.recipe.Mount[]        host folders to share (when has("mounts"))
---@field forwards? table<integer|string, integer>|string[]  host port → guest port: `{ [8080] = 80 }`, `{ "8080:80" }`, UDP `{ ["5353/udp"] = 53 }` or `{ "5353:53/udp" }` (when has("forwards"))
---@field depends_on? string[]|string  instances that must be up, ready and provisioned first
---@field provision? moonbase.recipe.Step[]|moonbase.recipe.Step  steps run once, in order, as root: sh, copy, write
---@field ready? moonbase.recipe.Probe  what "ready" means; up waits for it (bounded) before provisioning and dependents
---@field timeout? string|number   how long launching may take ("5m")
---@field labels? table<string, string>  extra labels on the instance

---@class moonbase.recipe.Network
---@field subnet? string  CIDR, e.g. "10.77.0.0/24" (default: one moonbase picks)

---What an output function receives.
---@class moonbase.recipe.Context
---@field project string
---@field params table<string, any>  the parameters' values
---@field instances table<string, moonbase.recipe.InstanceInfo>  by name, as declared
local Context = {}

---Runs a shell command as root in a running instance of the recipe and
---returns its standard output without the final newline; raises when it
---exits non-zero.
---@param name string   the instance, as declared ("web", not "shop-web")
---@param command moonbase.recipe.Text
---@return string
function Context.exec(name, command) end

---@class moonbase.recipe.InstanceInfo
---@field name string     full instance name
---@field state string    running, stopped, suspended, deleted, absent
---@field ipv4? string    primary address (when running)
---@field ipv4s? string[] every address (when running)
---@field ssh? string     "host:port" (when running)

---Declares a parameter and returns its value: the default, or what
---`--param name=value` says, converted to the default's type (integer,
---number, boolean: true/false/yes/no/1/0, or string).
---@generic T: integer|number|boolean|string
---@param name string
---@param default T
---@param help? string  one line for people reading the recipe
---@return T
function param(name, default, help) end

---Sets the project name that prefixes every instance ("<project>-<name>")
---and network of the recipe (default: the file's name without .lua; for
---moonbase.lua, its folder's name). Must come before instances, networks,
---outputs and refs.
---@param name string  lowercase letters, digits and dashes, at most 40
function project(name) end

---Declares an instance: `instance "web" { image = "local:tiny", ... }`.
---@param name string  lowercase letters, digits and dashes
---@return fun(spec: moonbase.recipe.Instance)
function instance(name) end

---Declares a private network of the recipe: `network "backend" { subnet = "10.77.0.0/24" }`.
---Needs has("networks").
---@param name string
---@return fun(spec: moonbase.recipe.Network)
function network(name) end

---Declares an output: a value (refs allowed) or a function of the context,
---printed at the end of `up` and by `moonbase outputs`.
---@param name string
---@param value string|number|boolean|table|moonbase.recipe.Lazy|fun(c: moonbase.recipe.Context): any
function output(name, value) end

---Another instance of this recipe, for values known at run time.
---@param name string  as declared
---@return moonbase.recipe.Ref
function ref(name) end

---A provisioning step: a shell script run as root with `sh -e` (it stops at
---the first failing command). MOONBASE_INSTANCE and MOONBASE_PROJECT are set.
---@param script moonbase.recipe.Text|{ [1]: moonbase.recipe.Text, env?: table, sudo?: boolean, workdir?: moonbase.recipe.Text }
---@param opts? moonbase.recipe.ShOptions
---@return moonbase.recipe.Step
function sh(script, opts) end

---A provisioning step: copies a file or directory of the recipe's folder
---into the guest, as root.
---@param spec moonbase.recipe.CopySpec
---@return moonbase.recipe.Step
function copy(spec) end

---A provisioning step: writes a file in the guest, as root (refs resolved).
---@param path moonbase.recipe.Text|moonbase.recipe.WriteSpec
---@param content? moonbase.recipe.Text
---@param opts? { mode?: string }
---@return moonbase.recipe.Step
function write(path, content, opts) end

---The text of a file in the recipe's folder (read when the recipe loads).
---@param name string  relative to the recipe's folder
---@return string
function file(name) end

---Whether this build can do something recipes may use: "networks",
---"mounts", "forwards".
---@param capability "networks"|"mounts"|"forwards"
---@return boolean
function has(capability) end

---Readiness probes for `ready = ...`; each runs in the guest, as root,
---until it passes.
probe = {}

---Passes when a process in the guest listens on this TCP port.
---@param port integer
---@param opts? moonbase.recipe.ProbeOptions
---@return moonbase.recipe.Probe
function probe.tcp(port, opts) end

---Passes when this shell command exits 0.
---@param command moonbase.recipe.Text
---@param opts? moonbase.recipe.ProbeOptions
---@return moonbase.recipe.Probe
function probe.exec(command, opts) end

---Passes when this path exists in the guest.
---@param path string
---@param opts? moonbase.recipe.ProbeOptions
---@return moonbase.recipe.Probe
function probe.file(path, opts) end
