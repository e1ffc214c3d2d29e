--[[ release.lua: make a hold's seats AVAILABLE again (cancel, expiry, failed write).

KEYS[1]  seats      hash  seatId -> "SOLD" | "<holdId>|<expiresAtMs>"
KEYS[2]  version    int
KEYS[3]  user_holds set   of the hold's user
KEYS[4]  expiries   zset
KEYS[5]  hold       hash  the hold being released
KEYS[6]  changes    stream seat change log: an entry for the version bump, if any (log_changes)
ARGV[1]  hold id
ARGV[2]  idempotency record key to delete too if it names this hold, or "" (undo of a hold
         whose write failed; it shares the event's hash tag, so it is in this slot)
ARGV[3..] seat ids of the hold (from PostgreSQL; the hold key may already have expired)

Returns the number of seats that changed (0 when nothing did: idempotent).
Only seats still pointing at this hold change: a seat since sold, or held by a newer
hold, is left alone, so a late or duplicate release can never free someone else's seat.
The version is bumped (and logged) only when a seat changed.
]]
--#include changes.lua (log_changes: the seat change log; see that file)
--#include hold_index.lua (forget_hold: the event's indexes of live holds; see that file)

local changed, changes = 0, {}
local mine = ARGV[1] .. '|'
for i = 3, #ARGV do
  local state = redis.call('HGET', KEYS[1], ARGV[i])
  if state and string.sub(state, 1, #mine) == mine then
    redis.call('HDEL', KEYS[1], ARGV[i])
    changed = changed + 1
    changes[#changes + 1] = ARGV[i]
    changes[#changes + 1] = ''
  end
end
redis.call('DEL', KEYS[5])
forget_hold(KEYS[3], KEYS[4], ARGV[1])
if ARGV[2] ~= '' then
  local record = redis.call('GET', ARGV[2])
  if record and string.sub(record, 1, #mine) == mine then
    redis.call('DEL', ARGV[2])
  end
end
if changed > 0 then
  log_changes(KEYS[6], redis.call('INCR', KEYS[2]), changes)
end
return changed
