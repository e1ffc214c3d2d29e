--[[ load.lua: install an event's seat state rebuilt from PostgreSQL, once.

KEYS[1]  seats     hash   KEYS[2] version   KEYS[3] loaded (or the staging marker)
KEYS[4]  expiries  zset   KEYS[5] changes stream: replaced by one "*reset" entry at the new
                                  version
KEYS[6]  holdseats hash   KEYS[7] holders hash (hold_record.lua)
KEYS[8]  rows hash   KEYS[9] fits zset   KEYS[10] due zset: the availability index
         (seat_state.lua)
KEYS[11] bought    hash   userId -> seats the buyer bought (the per-buyer limit)
KEYS[12] generation int   (generation.lua): left above the floor
KEYS[13..] the hold key of each hold in ARGV, in the same order
ARGV[1]  idempotency gap ms: 0 when PostgreSQL knows no hold of the event (so Redis will see
         every record), else how long records of earlier holds may be missing (their TTL)
ARGV[2]  generation floor: the highest generation the loader knows was acknowledged
ARGV[3]  number of venue rows R, then R x (row index, seat-id prefix, seats)
then     number of sold seats S, then S seat ids
then     number of buyers B, then B x (userId, seats bought): each buyer in one call only
then     holds, each: holdId, userId, expiresAtMs, status, n, seat ids x n

Returns 1 when installed, 0 when the event was already loaded (a concurrent loader won).
Holds already past expiry are skipped: expired means free. A big event is installed by
several calls (seat_loader.py), the rows of the index first: all but the last against a
staging marker, so partial data never reads as loaded. A row's index entry is built from
the seat states as they are when it is installed, and every seat written after that goes
through set_seat, so the index matches the seats whatever Redis held before.
]]
local seats_key, version_key, loaded_key, expiries_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local changes_key, holdseats_key, holders_key = KEYS[5], KEYS[6], KEYS[7]
local rows_key, fits_key, due_key, bought_key = KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local generation_key = KEYS[12]
local hold_keys = {unpack(KEYS, 13)}
local gap_ms, floor = tonumber(ARGV[1]), tonumber(ARGV[2])
local payload = {unpack(ARGV, 3)}
--#include seat_state.lua
--#include hold_record.lua

if redis.call('EXISTS', loaded_key) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local i = 1
local rows = tonumber(payload[i]); i = i + 1
for _ = 1, rows do
  install_row(payload[i], payload[i + 1], tonumber(payload[i + 2])); i = i + 3
end
local sold = tonumber(payload[i]); i = i + 1
for _ = 1, sold do
  set_seat(payload[i], 'SOLD'); i = i + 1
end
local buyers = tonumber(payload[i]); i = i + 1
for _ = 1, buyers do
  redis.call('HSET', bought_key, payload[i], payload[i + 1]); i = i + 2
end
local h = 0
while i <= #payload do
  local hold_id, user, exp, status, n = payload[i], payload[i + 1], tonumber(payload[i + 2]),
    payload[i + 3], tonumber(payload[i + 4])
  i = i + 5
  local seats = {}
  for j = 0, n - 1 do seats[#seats + 1] = payload[i + j] end
  i = i + n
  h = h + 1
  if exp > now then
    for _, seat in ipairs(seats) do
      if redis.call('HGET', seats_key, seat) ~= 'SOLD' then
        set_seat(seat, hold_id .. '|' .. exp)
      end
    end
    put_hold(hold_keys[h], hold_id, user, seats, exp, status, now)
  end
end
save_rows(now)
redis.call('SET', loaded_key, gap_ms > 0 and ('g' .. (now + gap_ms)) or 'c')
-- The version must keep growing across a Redis restart, so it restarts from the clock,
-- scaled so that even a million changes a second since the last load stay below it.
local version = math.max(tonumber(redis.call('GET', version_key) or '0') + 1, now * 1000)
redis.call('SET', version_key, version)
-- The generation, likewise, and above every change acknowledged before this rebuild: from
-- now on this state is the one the service's floors are measured against.
local generation = tonumber(redis.call('GET', generation_key) or '0')
redis.call('SET', generation_key, math.max(generation + 1, now * 1000, floor + 1))
-- The state jumped: no reader may replay across this version, only take a snapshot.
redis.call('DEL', changes_key)
redis.call('XADD', changes_key, string.format('%d-0', version), '*reset', '')
return 1
