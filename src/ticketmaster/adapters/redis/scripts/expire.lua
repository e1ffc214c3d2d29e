--[[ expire.lua: release the seats of a hold whose time is up.

KEYS[1] seats hash   KEYS[2] version   KEYS[3] hold hash   KEYS[4] holdseats hash
KEYS[5] holders hash   KEYS[6] expiries zset   KEYS[7] changes stream (see changes.lua)
KEYS[8] rows hash   KEYS[9] fits zset   KEYS[10] due zset: the availability index
        (seat_state.lua), kept in step
ARGV[1] hold id   ARGV[2] user id   ARGV[3..] seat ids of the hold (from PostgreSQL or Redis)

Returns -1 when the hold is still live in Redis (its key exists: not expired, or its
expiry was pushed to a payment deadline when a purchase started); otherwise the number
of seats freed. A seat is freed only if it still points at this hold with an expiry
that has passed on Redis's clock, so neither a purchase in flight (its seats carry the
later deadline) nor a newer hold on the seat can be undone. Idempotent. The version is
bumped, and the freed seats logged under it, only when a seat was freed.
]]
local seats_key, version_key, hold_key, holdseats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holders_key, expiries_key, changes_key = KEYS[5], KEYS[6], KEYS[7]
local rows_key, fits_key, due_key = KEYS[8], KEYS[9], KEYS[10]
local hold_id, user = ARGV[1], ARGV[2]
local seat_ids = {unpack(ARGV, 3)}
--#include changes.lua
--#include seat_state.lua
--#include hold_record.lua

-- PTTL 0 is the hold's last millisecond: lapsed for the gate already (exp > now is live).
if redis.call('PTTL', hold_key) > 0 then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local changes = {}
local changed = free_hold_seats(hold_id, seat_ids, changes, now)
save_rows(now)
forget_hold(hold_id, user, now)
if changed > 0 then
  log_changes(changes_key, redis.call('INCR', version_key), changes)
end
return changed
