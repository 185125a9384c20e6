-- Settings: `moonbase get/set/unset` and your commands read and change them
-- here. Every key is registered by the module that owns it with the leaf
-- moonbase._core.settings; this facade loads those owners first, so every
-- key is known and checked.
-- layer: facade
local core = require("moonbase._core.settings")
require("moonbase._core.drivers")   -- local.driver, the drivers' keys
require("moonbase._core.lifecycle") -- local.<instance>.cpus|memory|disk
require("moonbase._core.snapshots") -- local.<instance>.<snapshot>.name|comment
require("moonbase._core.images")    -- local.image.default
require("moonbase._core.network")   -- local.network.subnet
require("moonbase._core.bridged")   -- local.bridged-network

local M = {}

---The keys registered so far (a driver's keys only once asked for: use
---describe or all).
---@type table<string, moonbase.SettingKey>
M.schema = core.schema

---A key's type, values, default and help (nil for an unknown key or a
---per-instance one); a driver's keys are known once asked for.
---@param key string
---@return moonbase.SettingKey?
M.describe = core.describe

---Every key's definition, the drivers' keys included.
---@return table<string, moonbase.SettingKey>
M.all = core.all

---All keys, sorted (per-instance keys of the current scope included).
---@return string[]
M.keys = core.keys

---A key's help text (nil for an unknown key).
---@param key string
---@return string?
M.help = core.help

---Reads a setting (its default when unset).
---@param key string
---@return any
M.get = core.get

---True when the key was set explicitly (not a default).
---@param key string
---@return boolean
M.is_set = core.is_set

---Checks KEY=VALUE without storing it; raises a usage error when invalid.
---@param key string
---@param raw string
---@param pending? table<string, string>  the other KEY=VALUE of the same change
M.check = core.check

---Validates and stores a setting; nothing is written when it is invalid.
---@param key string
---@param raw string
---@param pending? table<string, string>  the other KEY=VALUE of the same change
M.set = core.set

---Returns a setting to its default.
---@param key string
M.unset = core.unset

return M
