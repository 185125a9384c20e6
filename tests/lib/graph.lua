-- Cycles in a directed graph, for the tests that keep the code's dependency
-- graphs acyclic (tests/lint/include_graph.lua for C, tests/lua/layers_spec.lua
-- for Lua): the strongly connected components of more than one node, or of
-- one node with an edge to itself (Tarjan's algorithm).
--   local cycles = dofile(".../tests/lib/graph.lua").cycles(nodes, successors)
-- nodes: a list of names (visited in that order); successors(v): the names v
-- has edges to (names that are not nodes are passed over). Returns a list of
-- cycles, each a sorted list of names.
local M = {}

function M.cycles(nodes, successors)
  local known = {}
  for _, v in ipairs(nodes) do known[v] = true end
  local index, low, on, stack, n, cycles = {}, {}, {}, {}, 0, {}
  local function connect(v)
    n = n + 1
    index[v], low[v] = n, n
    stack[#stack + 1], on[v] = v, true
    local self_loop = false
    for _, w in ipairs(successors(v)) do
      if w == v then
        self_loop = true
      elseif known[w] then
        if not index[w] then
          connect(w)
          low[v] = math.min(low[v], low[w])
        elseif on[w] then
          low[v] = math.min(low[v], index[w])
        end
      end
    end
    if low[v] == index[v] then
      local scc = {}
      repeat
        local w = table.remove(stack)
        on[w] = nil
        scc[#scc + 1] = w
      until w == v
      if #scc > 1 or self_loop then
        table.sort(scc)
        cycles[#cycles + 1] = scc
      end
    end
  end
  for _, v in ipairs(nodes) do
    if not index[v] then connect(v) end
  end
  return cycles
end

return M
