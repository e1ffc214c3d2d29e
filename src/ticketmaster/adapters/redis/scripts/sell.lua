--[[ sell.lua: mark a paid hold's seats SOLD (after the booking rows were committed).

KEYS[1] seats hash  KEYS[2] version  KEYS[3] hold hash  KEYS[4] user_holds set
KEYS[5] expiries zset   KEYS[6] changes stream (seat change log, see log_changes)
ARGV[1] hold id   ARGV[2..] seat ids of the booking

Returns the number of seats that changed. PostgreSQL has already accepted the booking
under its unique (event, seat) constraint, so the sale is a fact: the seats become SOLD
whatever Redis believed (even a hold Redis granted to someone else after losing state;
that buyer's purchase will meet the constraint and be refunded). Idempotent. The version
is bumped, and the newly SOLD seats logged under it, only when a seat changed.
]]
--#include changes.lua (log_changes: the seat change log; see that file)
--#include hold_index.lua (forget_hold: the event's indexes of live holds; see that file)

local changed, changes = 0, {}
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= 'SOLD' then
    redis.call('HSET', KEYS[1], ARGV[i], 'SOLD')
    changed = changed + 1
    changes[#changes + 1] = ARGV[i]
    changes[#changes + 1] = 'SOLD'
  end
end
redis.call('DEL', KEYS[3])
forget_hold(KEYS[4], KEYS[5], ARGV[1])
if changed > 0 then
  log_changes(KEYS[6], redis.call('INCR', KEYS[2]), changes)
end
return changed
