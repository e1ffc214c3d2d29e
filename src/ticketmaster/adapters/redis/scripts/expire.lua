--[[ expire.lua: release the seats of a hold whose time is up.

KEYS[1] seats hash   KEYS[2] version   KEYS[3] hold hash   KEYS[4] user_holds set
KEYS[5] expiries zset   KEYS[6] changes stream (seat change log, see log_changes)
ARGV[1] hold id   ARGV[2..] seat ids of the hold (from PostgreSQL)

Returns -1 when the hold is still live in Redis (its key exists: not expired, or its
expiry was pushed to a payment deadline when a purchase started); otherwise the number
of seats freed. A seat is freed only if it still points at this hold with an expiry
that has passed on Redis's clock, so neither a purchase in flight (its seats carry the
later deadline) nor a newer hold on the seat can be undone. Idempotent. The version is
bumped, and the freed seats logged under it, only when a seat was freed.
]]
--#include changes.lua (log_changes: the seat change log; see that file)
--#include hold_index.lua (forget_hold: the event's indexes of live holds; see that file)

-- PTTL 0 is the hold's last millisecond: lapsed for the gate already (exp > now is live).
if redis.call('PTTL', KEYS[3]) > 0 then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = ARGV[1] .. '|'
local changed, changes = 0, {}
for i = 2, #ARGV do
  local state = redis.call('HGET', KEYS[1], ARGV[i])
  if state and string.sub(state, 1, #mine) == mine and tonumber(string.sub(state, #mine + 1)) <= now then
    redis.call('HDEL', KEYS[1], ARGV[i])
    changed = changed + 1
    changes[#changes + 1] = ARGV[i]
    changes[#changes + 1] = ''
  end
end
forget_hold(KEYS[4], KEYS[5], ARGV[1])
if changed > 0 then
  log_changes(KEYS[6], redis.call('INCR', KEYS[2]), changes)
end
return changed
