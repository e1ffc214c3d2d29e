--[[ sell.lua: mark a paid hold's seats SOLD (after the booking rows were committed).

KEYS[1] seats hash  KEYS[2] version  KEYS[3] hold hash  KEYS[4] holdseats hash
KEYS[5] holders hash   KEYS[6] expiries zset   KEYS[7] changes stream (see changes.lua)
KEYS[8] rows hash   KEYS[9] fits zset   KEYS[10] due zset: the availability index
        (seat_state.lua), kept in step
KEYS[11] bought hash  userId -> seats bought: the buyer's count grows by the seats sold here
KEYS[12] generation int (generation.lua)
ARGV[1] hold id   ARGV[2] user id   ARGV[3] generation floor (generation.lua)
ARGV[4..] seat ids of the booking

Returns {seats changed, generation}, or {-1, generation} changing nothing when the event's
state is stale (rebuild it from PostgreSQL, which has the sale, then call again). A sale
that changed a seat bumps the generation; the one returned is the event's after the call. PostgreSQL has already accepted the booking
under its unique (event, seat) constraint, so the sale is a fact: the seats become SOLD
whatever Redis believed (even a hold Redis granted to someone else after losing state;
that buyer's purchase will meet the constraint and be refunded), and count toward the
buyer's limit from now on. Idempotent: a seat already SOLD is not counted again. The version
is bumped, and the newly SOLD seats logged under it, only when a seat changed.
]]
local seats_key, version_key, hold_key, holdseats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holders_key, expiries_key, changes_key = KEYS[5], KEYS[6], KEYS[7]
local rows_key, fits_key, due_key, bought_key = KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local generation_key = KEYS[12]
local hold_id, user, floor = ARGV[1], ARGV[2], tonumber(ARGV[3])
local seat_ids = {unpack(ARGV, 4)}
--#include changes.lua
--#include generation.lua
--#include seat_state.lua
--#include hold_record.lua

if is_stale() then
  return {-1, current_generation()}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local changed, changes = 0, {}
for _, seat in ipairs(seat_ids) do
  if redis.call('HGET', seats_key, seat) ~= 'SOLD' then
    set_seat(seat, 'SOLD')
    changed = changed + 1
    changes[#changes + 1] = seat
    changes[#changes + 1] = 'SOLD'
  end
end
save_rows(now)
if changed > 0 then
  redis.call('HINCRBY', bought_key, user, changed)
end
redis.call('DEL', hold_key)
forget_hold(hold_id, user, now)
if changed > 0 then
  log_changes(changes_key, redis.call('INCR', version_key), changes)
  return {changed, next_generation()}
end
return {0, current_generation()}
