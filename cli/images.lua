-- moonbase images [--format FORMAT] | images pull REF | images prune [--older-than D]
local images = require("moonbase.images")
local format = require("moonbase.format")
local units = require("moonbase.units")
local errors = require("moonbase.errors")

local usage = "moonbase images [--format FORMAT] | images pull IMAGE [--quiet] " ..
  "[--limit-rate SIZE] | " ..
  "images prune [--older-than DURATION]"

local columns = {
  { key = "id", title = "ID", kind = "id" }, { key = "image", title = "Image" },
  { key = "os", title = "OS" }, { key = "release", title = "Release" },
  { key = "version", title = "Version" }, { key = "size", title = "Size", kind = "bytes" },
  { key = "last_used", title = "Last used", kind = "age" },
  { key = "used_by", title = "Used by", kind = "list" },
}

local function list(opts)
  format.print(images.list(), opts.format, { columns = columns, empty = "No cached images." })
end

local function pull(opts)
  local img = images.resolve(opts[2], { quiet = opts.quiet, force_update = opts.force_update,
    rate_limit = opts.limit_rate })
  if not opts.quiet then
    print(string.format("%s %s (%s, %s)", img.fetched and "Pulled" or "Already cached:",
      opts[2], img.id:sub(1, 12), units.format_size(img.size)))
  end
end

local function prune(opts)
  local removed, kept = images.prune({ older_than = opts.older_than })
  local freed = 0
  for _, r in ipairs(removed) do
    freed = freed + (r.size or 0)
    if not opts.quiet then print(string.format("Removed %s (%s)", r.id:sub(1, 12), r.image)) end
  end
  if not opts.quiet then
    for _, k in ipairs(kept) do
      print(string.format("Kept %s (%s): %s", k.id:sub(1, 12), k.image, k.reason))
    end
    print(string.format("%d image%s removed, %s freed", #removed, #removed == 1 and "" or "s",
      units.format_size(freed)))
  end
end

return {
  summary = "List, pull or prune cached images",
  complete = { sub = { pull = { "image" }, prune = {} } },
  usage = usage,
  columns = columns,
  description = "Without a subcommand, lists the images in the cache with their size and " ..
    "last use. 'pull IMAGE' downloads and verifies an image into the cache without " ..
    "launching anything. 'prune' removes cached images no instance uses (with " ..
    "--older-than, only those unused for that long).",
  options = {
    format.option,
    { "quiet", "q", type = "flag", help = "no progress output" },
    { "force-update", type = "flag", help = "pull: read the remote's manifest again" },
    { "limit-rate", type = "size", metavar = "SIZE",
      help = "pull: download at most SIZE bytes per second, e.g. 10M" },
    { "older-than", type = "duration", metavar = "DURATION",
      help = "prune: only images last used longer ago than this, e.g. 14d" },
  },
  max_args = 2,
  run = function(opts)
    local sub = opts[1]
    if sub == nil then
      list(opts)
    elseif sub == "pull" then
      if not opts[2] then errors.usage("images pull needs an IMAGE: " .. usage) end
      pull(opts)
    elseif sub == "prune" then
      if opts[2] then errors.usage("images prune takes no arguments: " .. usage) end
      prune(opts)
    else
      errors.usage(string.format('unknown subcommand "%s" (use pull or prune, or nothing to ' ..
        "list)", sub))
    end
    return 0
  end,
}
