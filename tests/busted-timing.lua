-- Loaded by run-busted.lua as busted's --helper: times each spec file and, when
-- the run ends, prints the slowest ones to stderr ("slowest spec files"), so a
-- suite that grows slow says where.
local busted = require("busted")
local started, rows = {}, {}

busted.subscribe({ "file", "start" }, function(file)
    started[file] = busted.monotime()
    return nil, true
end)

busted.subscribe({ "file", "end" }, function(file)
    if started[file] then
        rows[#rows + 1] = { name = file.name, seconds = busted.monotime() - started[file] }
    end
    return nil, true
end)

busted.subscribe({ "suite", "end" }, function()
    table.sort(rows, function(a, b) return a.seconds > b.seconds end)
    local total = 0
    for _, row in ipairs(rows) do total = total + row.seconds end
    io.stderr:write(string.format("# slowest spec files (%d files, %.1f s in all):\n", #rows, total))
    for i = 1, math.min(#rows, 8) do
        local name = rows[i].name:gsub("^.*/tests/", "tests/")
        io.stderr:write(string.format("#   %7.1f s  %s\n", rows[i].seconds, name))
    end
    return nil, true
end)
