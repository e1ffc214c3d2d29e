--[[ release.lua: make a hold's seats AVAILABLE again (cancel, expiry, failed write).

KEYS[1]  seats      hash  seatId -> "SOLD" | "<holdId>|<expiresAtMs>"
KEYS[2]  version    int
KEYS[3]  holdseats  hash  (hold_record.lua)
KEYS[4]  holders    hash  (hold_record.lua)
KEYS[5]  expiries   zset
KEYS[6]  hold       hash  the hold being released
KEYS[7]  changes    stream seat change log: an entry for the version bump, if any (changes.lua)
KEYS[8]  idem       str   optional: the idempotency record to delete too if it names this hold
                          (undo of a hold whose write failed)
ARGV[1]  hold id    ARGV[2] user id
ARGV[3..] seat ids of the hold (from PostgreSQL; the hold key may already have expired)

Returns the number of seats that changed (0 when nothing did: idempotent).
Only seats still pointing at this hold change: a seat since sold, or held by a newer
hold, is left alone, so a late or duplicate release can never free someone else's seat.
The version is bumped (and logged) only when a seat changed.
]]
local seats_key, version_key, holdseats_key, holders_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local expiries_key, hold_key, changes_key, idem_key = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local hold_id, user = ARGV[1], ARGV[2]
local seat_ids = {unpack(ARGV, 3)}
--#include changes.lua
--#include hold_record.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local changed, changes = 0, {}
local mine = hold_id .. '|'
for _, seat in ipairs(seat_ids) do
  local state = redis.call('HGET', seats_key, seat)
  if state and string.sub(state, 1, #mine) == mine then
    redis.call('HDEL', seats_key, seat)
    changed = changed + 1
    changes[#changes + 1] = seat
    changes[#changes + 1] = ''
  end
end
redis.call('DEL', hold_key)
forget_hold(hold_id, user, now)
if idem_key then
  local record = redis.call('GET', idem_key)
  if record and string.sub(record, 1, #mine) == mine then
    redis.call('DEL', idem_key)
  end
end
if changed > 0 then
  log_changes(changes_key, redis.call('INCR', version_key), changes)
end
return changed
