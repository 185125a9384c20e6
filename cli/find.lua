-- moonbase find [REMOTE:][TEXT]
local images = require("moonbase.images")
local format = require("moonbase.format")

local columns = {
  { key = "image", title = "Image" }, { key = "aliases", title = "Aliases", kind = "list" },
  { key = "os", title = "OS" }, { key = "release", title = "Release" },
  { key = "version", title = "Version" }, { key = "remote", title = "Remote" },
}

return {
  columns = columns,
  summary = "Find images on the remotes",
  complete = { "remote-colon" },
  usage = "moonbase find [REMOTE:][TEXT] [--format FORMAT] [--force-update] [--all]",
  description = "Lists the images the remotes offer: each product's newest version, with " ..
    "its aliases. REMOTE: searches one remote; TEXT keeps the images whose alias, OS or " ..
    "release contains it. Manifests are cached for 15 minutes; --force-update reads them " ..
    "again. Launch one with: moonbase launch REMOTE:ALIAS",
  options = {
    format.option,
    { "force-update", type = "flag", help = "read the manifests again, ignoring the cache" },
    { "all", type = "flag", help = "list every version, not only the newest" },
  },
  max_args = 1,
  run = function(opts)
    local rows, warnings = images.find(opts[1], { force_update = opts.force_update,
      all = opts.all })
    for _, w in ipairs(warnings) do io.stderr:write("find: warning: ", w, "\n") end
    format.print(rows, opts.format, {
      columns = columns,
      empty = opts[1] and string.format('No images match "%s".', opts[1]) or "No images found.",
    })
    return 0
  end,
}
