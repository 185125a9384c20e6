-- Human-readable sizes and durations for output (parsing is in C: util.parse_size).
-- layer: records
local M = {}

---1073741824 -> "1G", 1610612736 -> "1.5G", 1000 -> "1000B"
function M.format_size(bytes)
  if type(bytes) ~= "number" then return nil end
  local units = { { "T", 1024 ^ 4 }, { "G", 1024 ^ 3 }, { "M", 1024 ^ 2 }, { "K", 1024 } }
  for _, u in ipairs(units) do
    if bytes >= u[2] then
      local v = bytes / u[2]
      if v == math.floor(v) then return string.format("%d%s", v, u[1]) end
      return (string.format("%.1f", v):gsub("%.0$", "")) .. u[1]
    end
  end
  return string.format("%dB", bytes)
end

---3725 -> "1h 2m 5s"
function M.format_duration(secs)
  if type(secs) ~= "number" then return nil end
  secs = math.floor(secs)
  local d, h, m, s = secs // 86400, secs % 86400 // 3600, secs % 3600 // 60, secs % 60
  local parts = {}
  if d > 0 then parts[#parts + 1] = d .. "d" end
  if h > 0 then parts[#parts + 1] = h .. "h" end
  if m > 0 then parts[#parts + 1] = m .. "m" end
  if s > 0 or #parts == 0 then parts[#parts + 1] = s .. "s" end
  return table.concat(parts, " ")
end

return M
