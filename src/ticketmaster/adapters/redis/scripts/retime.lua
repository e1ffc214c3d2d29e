--[[ retime.lua: (re)point one hold's seats at it with a new status and expiry, all or none.

KEYS[1] seats  hash   KEYS[2] version  KEYS[3] hold hash  KEYS[4] holdseats hash
KEYS[5] holders hash   KEYS[6] expiries zset   KEYS[7] loaded marker
KEYS[8] changes stream (seat change log, see changes.lua)
KEYS[9] rows hash   KEYS[10] fits zset   KEYS[11] due zset: the availability index
        (seat_state.lua), kept in step
KEYS[12] generation int (generation.lua)
ARGV[1] hold id   ARGV[2] user id   ARGV[3] status (ACTIVE | PURCHASING)
ARGV[4] new expiry ms   ARGV[5] "1" = the hold must still be live in Redis (starting a
        purchase: an expired hold is never honoured), "0" = re-create it if its seats are free
ARGV[6] generation floor (generation.lua)
ARGV[7..] seat ids of the hold

Returns {code, generation}: code 1 on success, 0 when the hold had expired (ARGV[5] =
"1"), -1 when a seat is sold or held by another live hold (nothing changed), -2 when the
event is not loaded, -3 when its state is stale (for both: rebuild it from PostgreSQL,
then call again). A new expiry already past releases the hold's seats instead (returns
2). Code 1 bumps the generation (a purchase started must survive a failover); the
generation returned is the event's after the call.

Used when a purchase starts (ACTIVE -> PURCHASING until the payment deadline) and when a
declined payment hands the hold back to the buyer (PURCHASING -> ACTIVE until its own
expiry). Atomic like every script: no hold, release or sale can interleave. Returns 1 and
2 bump the version, always, and log the seats whose state changed under it (changes.lua).
]]
local seats_key, version_key, hold_key, holdseats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holders_key, expiries_key, loaded_key, changes_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local rows_key, fits_key, due_key = KEYS[9], KEYS[10], KEYS[11]
local hold_id, user, status, exp = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local generation_key = KEYS[12]
local require_live, floor = ARGV[5] == '1', tonumber(ARGV[6])
local seat_ids = {unpack(ARGV, 7)}
--#include changes.lua
--#include generation.lua
--#include seat_state.lua
--#include hold_record.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = hold_id .. '|'

if redis.call('EXISTS', loaded_key) == 0 then
  return {-2, 0}
end
if is_stale() then
  return {-3, current_generation()}
end
if require_live and redis.call('EXISTS', hold_key) == 0 then
  return {0, current_generation()}
end
for _, seat in ipairs(seat_ids) do
  local state = redis.call('HGET', seats_key, seat)
  if state and string.sub(state, 1, #mine) ~= mine and seat_taken(state, now) then
    return {-1, current_generation()}
  end
end
local changes = {}
if exp <= now then
  free_hold_seats(hold_id, seat_ids, changes, nil)
  save_rows(now)
  redis.call('DEL', hold_key)
  forget_hold(hold_id, user, now)
  log_changes(changes_key, redis.call('INCR', version_key), changes)
  return {2, current_generation()}
end
local state = hold_id .. '|' .. exp
for _, seat in ipairs(seat_ids) do
  if redis.call('HGET', seats_key, seat) ~= state then
    set_seat(seat, state)
    changes[#changes + 1] = seat
    changes[#changes + 1] = state
  end
end
save_rows(now)
put_hold(hold_key, hold_id, user, seat_ids, exp, status, now)
log_changes(changes_key, redis.call('INCR', version_key), changes)
return {1, next_generation()}
