--[[ reconcile.lua: compare-and-set seat states of one event (drift repair).

KEYS[1] seats hash   KEYS[2] version   KEYS[3] changes stream (seat change log)
KEYS[4] rows hash   KEYS[5] fits zset   KEYS[6] due zset: the availability index
        (seat_state.lua), kept in step
ARGV    triples: seat id, expected raw state ("" = absent), new raw state ("" = delete)

A triple applies only if the seat's state is still the expected one, so a hold or sale
that happened after the reconciler looked is never overwritten. Returns the seat ids
that were changed; the version is bumped, and those seats logged under it, only if any was.
]]
local seats_key, version_key, changes_key = KEYS[1], KEYS[2], KEYS[3]
local rows_key, fits_key, due_key = KEYS[4], KEYS[5], KEYS[6]
local triples = {unpack(ARGV, 1)}
--#include changes.lua
--#include seat_state.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local applied, changes = {}, {}
for i = 1, #triples, 3 do
  local seat, expected, new = triples[i], triples[i + 1], triples[i + 2]
  local current = redis.call('HGET', seats_key, seat) or ''
  if current == expected then
    set_seat(seat, new ~= '' and new or nil)
    applied[#applied + 1] = seat
    changes[#changes + 1] = seat
    changes[#changes + 1] = new
  end
end
save_rows(now)
if #applied > 0 then
  log_changes(changes_key, redis.call('INCR', version_key), changes)
end
return applied
