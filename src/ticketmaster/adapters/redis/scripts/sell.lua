--[[ sell.lua: mark a paid hold's seats SOLD (after the booking rows were committed).

KEYS[1] seats hash  KEYS[2] version  KEYS[3] hold hash  KEYS[4] user_holds set
KEYS[5] expiries zset
ARGV[1] hold id   ARGV[2..] seat ids of the booking

Returns the number of seats that changed. PostgreSQL has already accepted the booking
under its unique (event, seat) constraint, so the sale is a fact: the seats become SOLD
whatever Redis believed (even a hold Redis granted to someone else after losing state;
that buyer's purchase will meet the constraint and be refunded). Idempotent.
]]
local changed = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= 'SOLD' then
    redis.call('HSET', KEYS[1], ARGV[i], 'SOLD')
    changed = changed + 1
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HDEL', (string.gsub(KEYS[5], 'expiries$', 'holdseats')), ARGV[1])
if changed > 0 then
  redis.call('INCR', KEYS[2])
end
return changed
