-- What cmake/embed.lua and cmake/embed-files.lua share: bytes as a C array,
-- and the generated file written whole (a temporary file renamed).
local M = {}

---`static const unsigned char NAME[] = {b,b,...,0};` for the bytes of data.
function M.c_array(name, data)
  local bytes = {}
  for b = 1, #data, 4096 do
    bytes[#bytes + 1] = data:sub(b, b + 4095):gsub(".", function(c) return c:byte() .. "," end)
  end
  return string.format("static const unsigned char %s[] = {%s0};\n", name, table.concat(bytes))
end

function M.write(out, text)
  local tmp = out .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, out))
end

return M
