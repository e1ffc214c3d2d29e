--[[ index_rows.lua: rebuild rows of an event's availability index from its seat states
(reconcile, when the index was found to disagree with them).

KEYS[1] seats hash   KEYS[2] rows hash   KEYS[3] fits zset   KEYS[4] due zset (seat_state.lua)
ARGV    triples: row index, seat-id prefix, seats

Returns the number of rows rebuilt. Atomic: the rows are read from the seat states and
written back in one step, so no hold or sale can slip between (it would be in the states).
]]
local seats_key, rows_key, fits_key, due_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local triples = {unpack(ARGV, 1)}
--#include seat_state.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #triples, 3 do
  install_row(triples[i], triples[i + 1], tonumber(triples[i + 2]))
end
save_rows(now)
return #triples / 3
