--[[ retime.lua: (re)point one hold's seats at it with a new status and expiry, all or none.

KEYS[1] seats  hash   KEYS[2] version  KEYS[3] hold hash  KEYS[4] user_holds set
KEYS[5] expiries zset   KEYS[6] loaded marker   KEYS[7] changes stream (seat change log)
ARGV[1] hold id   ARGV[2] user id   ARGV[3] status (ACTIVE | PURCHASING)
ARGV[4] new expiry ms   ARGV[5] "1" = the hold must still be live in Redis (starting a
        purchase: an expired hold is never honoured), "0" = re-create it if its seats are free
ARGV[6..] seat ids of the hold

Returns 1 on success, 0 when the hold had expired (ARGV[5] = "1"), -1 when a seat is sold
or held by another live hold (nothing changed), -2 when the event is not loaded (rebuild
it from PostgreSQL, then call again). A new expiry already past releases the
hold's seats instead (returns 2).

Used when a purchase starts (ACTIVE -> PURCHASING until the payment deadline) and when a
declined payment hands the hold back to the buyer (PURCHASING -> ACTIVE until its own
expiry). Atomic like every script: no hold, release or sale can interleave. Returns 1 and
2 bump the version, always, and log the seats whose state changed under it (log_changes).
]]
--#include changes.lua (log_changes: the seat change log; see that file)
--#include hold_index.lua (forget_hold: the event's indexes of live holds; see that file)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold_id, exp = ARGV[1], tonumber(ARGV[4])
local mine = hold_id .. '|'
local prefix = string.sub(KEYS[3], 1, #KEYS[3] - #hold_id)

if redis.call('EXISTS', KEYS[6]) == 0 then
  return -2
end
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then
  return 0
end
for i = 6, #ARGV do
  local state = redis.call('HGET', KEYS[1], ARGV[i])
  if state and string.sub(state, 1, #mine) ~= mine then
    if state == 'SOLD' then
      return -1
    end
    local other, other_exp = string.match(state, '^([^|]*)|(%d+)$')
    if tonumber(other_exp) > now and redis.call('EXISTS', prefix .. other) == 1 then
      return -1
    end
  end
end
local changes = {}
if exp <= now then
  for i = 6, #ARGV do
    local state = redis.call('HGET', KEYS[1], ARGV[i])
    if state and string.sub(state, 1, #mine) == mine then
      redis.call('HDEL', KEYS[1], ARGV[i])
      changes[#changes + 1] = ARGV[i]
      changes[#changes + 1] = ''
    end
  end
  redis.call('DEL', KEYS[3])
  forget_hold(KEYS[4], KEYS[5], hold_id)
  log_changes(KEYS[7], redis.call('INCR', KEYS[2]), changes)
  return 2
end
local seats, state = {}, hold_id .. '|' .. exp
for i = 6, #ARGV do
  seats[#seats + 1] = ARGV[i]
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= state then
    redis.call('HSET', KEYS[1], ARGV[i], state)
    changes[#changes + 1] = ARGV[i]
    changes[#changes + 1] = state
  end
end
redis.call('HSET', KEYS[3], 'user', ARGV[2], 'seats', table.concat(seats, ','), 'n', #seats,
  'exp', exp, 'status', ARGV[3])
redis.call('PEXPIREAT', KEYS[3], exp)
redis.call('SADD', KEYS[4], hold_id)
redis.call('ZADD', KEYS[5], exp, hold_id)
redis.call('HSET', (string.gsub(KEYS[5], 'expiries$', 'holdseats')), hold_id, ARGV[2] .. '|' .. table.concat(seats, ','))
log_changes(KEYS[7], redis.call('INCR', KEYS[2]), changes)
return 1
