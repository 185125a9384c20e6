-- Copying files between the host and instances: "NAME:path" for an
-- instance (relative to the default user's home), host paths otherwise, "-"
-- for stdin or stdout.
-- layer: facade
local core = require("moonbase._core.transfer")

local M = {}

---Splits "NAME:path" (an existing instance) from a host path.
---@param arg string
---@return {instance?: string, path: string}
M.parse = core.parse

---The parsed destination and sources; a usage error unless exactly one side is
---an instance.
---@param sources string[]
---@param dest string
---@return moonbase.Endpoint dest, moonbase.Endpoint[] sources
M.endpoints = core.endpoints

---Copies sources to dest; exactly one side is an instance.
---@param sources string[]
---@param dest string
---@param o? {recursive?: boolean, preserve?: boolean}
M.copy = core.copy

return M
