-- Remotes: the simplestreams image hosts that REMOTE:ALIAS image references
-- name (moonbase._core.remotes).
-- layer: facade
local core = require("moonbase._core.remotes")

local M = {}

M.builtin, M.default, M.reserved = core.builtin, core.default, core.reserved

---Every remote, sorted by name: {name, url, builtin}.
---@return {name: string, url: string, builtin: boolean}[]
M.list = core.list

---The base URL of a remote, or nil, message, "notfound".
---@param name string
M.url = core.url

---Checks a remote's URL (http, https or file).
M.check_url = core.check_url

---Adds a remote.
---@param name string
---@param url string
M.add = core.add

---Removes a user's remote.
---@param name string
M.remove = core.remove

return M
