--[[ release.lua: make a hold's seats AVAILABLE again (cancel, expiry, failed write).

KEYS[1]  seats      hash  seatId -> "SOLD" | "<holdId>|<expiresAtMs>"
KEYS[2]  version    int
KEYS[3]  holdseats  hash  (hold_record.lua)
KEYS[4]  holders    hash  (hold_record.lua)
KEYS[5]  expiries   zset
KEYS[6]  hold       hash  the hold being released
KEYS[7]  changes    stream seat change log: an entry for the version bump, if any (changes.lua)
KEYS[8]  rows       hash  the availability index (seat_state.lua), kept in step
KEYS[9]  fits       zset  its row summaries
KEYS[10] due        zset  when each row's summary must be made again
KEYS[11] idem       str   optional: the idempotency record to delete too if it names this hold
                          (undo of a hold whose write failed)
ARGV[1]  hold id    ARGV[2] user id
ARGV[3..] seat ids of the hold (from PostgreSQL; the hold key may already have expired);
          none: the seats Redis recorded for it (undo of a best-available hold whose reply
          was lost)

Returns the number of seats that changed (0 when nothing did: idempotent).
Only seats still pointing at this hold change: a seat since sold, or held by a newer
hold, is left alone, so a late or duplicate release can never free someone else's seat.
The version is bumped (and logged) only when a seat changed.
]]
local seats_key, version_key, holdseats_key, holders_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local expiries_key, hold_key, changes_key = KEYS[5], KEYS[6], KEYS[7]
local rows_key, fits_key, due_key, idem_key = KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local hold_id, user = ARGV[1], ARGV[2]
local seat_ids = {unpack(ARGV, 3)}
--#include changes.lua
--#include seat_state.lua
--#include hold_record.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if #seat_ids == 0 then
  local record = redis.call('HGET', holdseats_key, hold_id)
  for seat in string.gmatch(record and string.match(record, '^[^|]*|(.*)$') or '', '[^,]+') do
    seat_ids[#seat_ids + 1] = seat
  end
end
local changes = {}
local changed = free_hold_seats(hold_id, seat_ids, changes, nil)
save_rows(now)
redis.call('DEL', hold_key)
forget_hold(hold_id, user, now)
if idem_key then
  local record = redis.call('GET', idem_key)
  if record and string.sub(record, 1, #hold_id + 1) == hold_id .. '|' then
    redis.call('DEL', idem_key)
  end
end
if changed > 0 then
  log_changes(changes_key, redis.call('INCR', version_key), changes)
end
return changed
