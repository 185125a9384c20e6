-- Images: references (ALIAS, REMOTE:ALIAS, file:///path, http(s)://...),
-- finding them on remotes, resolving one to a verified image in the cache
-- (downloaded once however many processes ask), listing and pruning the
-- cache. The work is moonbase._core.images's.
-- layer: facade
local core = require("moonbase._core.images")

local M = {}

M.default_remote, M.default_image = core.default_remote, core.default_image

---Parses an image reference (syntax only: nothing is looked up).
---@param ref string
---@return moonbase.ImageRef? ref, string? message
M.parse_ref = core.parse_ref

---Checks the syntax of an image reference.
---@param ref string
---@return boolean? ok, string? message
M.check_ref = core.check_ref

---Images that remotes offer ("REMOTE:", "REMOTE:TEXT" or "TEXT").
---@param query? string
---@param o? {force_update?: boolean, all?: boolean, quiet?: boolean}
---@return moonbase.FindRow[] rows, string[] warnings
M.find = core.find

---Resolves an image reference to a verified image in the cache.
---@param ref? string  default: the local.image.default setting
---@param o? moonbase.ResolveOptions
---@return moonbase.Image
M.resolve = core.resolve

---The cached images, most recently used first.
---@return moonbase.CachedImage[]
M.list = core.list

---Removes cached images that no instance uses.
---@param o? {older_than?: number, dry_run?: boolean}
M.prune = core.prune

return M
