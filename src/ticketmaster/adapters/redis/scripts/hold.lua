--[[ hold.lua: hold every requested seat of one event, or none.

KEYS[1]  seats      hash  seatId -> "SOLD" | "<holdId>|<expiresAtMs>"
KEYS[2]  version    int   seat-map version, bumped on every change
KEYS[3]  loaded     str   present once the event's state was rebuilt from PostgreSQL: "c" when
                          every idempotency record of the event is in Redis, "g<ms>" when
                          records made before the rebuild may be missing until then (load.lua)
KEYS[4]  idem       str   "<holdId>|<fingerprint>|<expiresAtMs>" for (user, Idempotency-Key)
KEYS[5]  holdseats  hash  holdId -> "<user>|<seat,seat..>" (hold_record.lua)
KEYS[6]  holders    hash  userId -> the buyer's holds (hold_record.lua), for the limit
KEYS[7]  expiries   zset  holdId scored by expiresAtMs (for the sweepers)
KEYS[8]  hold       hash  the new hold: user, seats, n, exp, status; expires at exp (PEXPIREAT)
KEYS[9]  changes    stream the seat change log: on "OK", one entry "<version>-0" naming every
                          held seat with its new state (see changes.lua)
KEYS[10] rows       hash  the availability index (seat_state.lua), kept in step
KEYS[11] fits       zset  its row summaries
KEYS[12] due        zset  when each row's summary must be made again
KEYS[13] bought     hash  userId -> seats bought (sell.lua), for the limit
KEYS[14] generation int   bumped by every change that must survive (generation.lua)
ARGV[1]  hold id        ARGV[2] user id         ARGV[3] ttl ms
ARGV[4]  fingerprint    ARGV[5] max seats a user may hold or buy for this event
ARGV[6]  idempotency record ttl ms
ARGV[7]  generation floor (generation.lua)
ARGV[8..] seat ids (already validated against the layout, distinct)

Returns one of
  {"OK", expiresAtMs, version, generation}
  {"REPLAY", holdId, fingerprint, expiresAtMs, seats, generation}  the key was used before: nothing
                                                 changed ("seats" as recorded, "" if gone)
  {"UNAVAILABLE", complete, seatId...}           some seat is sold or held: nothing changed
  {"LIMIT", seatsHeld, complete, seatsBought}    per-buyer limit (held + bought + these
                                                 would pass it): nothing changed
  {"NOT_LOADED"}                                 rebuild the event from PostgreSQL first
  {"STALE"}                                      Redis lacks acknowledged changes: rebuild
                                                 the event from PostgreSQL first

"complete" is 1 when the absence of an idempotency record proves the key is new for this
event, 0 when a record may have been lost with an earlier Redis state (then the caller
asks PostgreSQL before answering a refusal). Records live 24 h; the deployment must not
evict keys (maxmemory-policy noeviction), or "complete" would be a lie.

Atomicity: a script runs alone on the server, so the check and the writes cannot
interleave with another hold, release or sale of these seats. A held seat whose expiry
has passed, or whose hold is no longer recorded, is AVAILABLE: expiry needs no sweeper
to be honoured. Every key is passed in KEYS and shares the event's hash tag, so this runs
unchanged on a Cluster.
]]
local seats_key, version_key, loaded_key, idem_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holdseats_key, holders_key, expiries_key = KEYS[5], KEYS[6], KEYS[7]
local hold_key, changes_key = KEYS[8], KEYS[9]
local rows_key, fits_key, due_key, bought_key = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local generation_key = KEYS[14]
local hold_id, user, ttl_ms, fingerprint = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local max_seats, idem_ttl_ms, floor = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local seat_ids = {unpack(ARGV, 8)}
--#include changes.lua
--#include generation.lua
--#include seat_state.lua
--#include hold_record.lua
--#include new_hold.lua

local loaded = redis.call('GET', loaded_key)
if not loaded then
  return {'NOT_LOADED'}
end
if is_stale() then
  return {'STALE'}
end
local replay = replay_of()
if replay then
  return replay
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local unavailable = {'UNAVAILABLE', 0}
for _, seat in ipairs(seat_ids) do
  if seat_taken(redis.call('HGET', seats_key, seat), now) then
    unavailable[#unavailable + 1] = seat
  end
end
if #unavailable > 2 then
  unavailable[2] = records_complete(loaded, now)
  return unavailable
end

return grant(seat_ids, loaded, now)
