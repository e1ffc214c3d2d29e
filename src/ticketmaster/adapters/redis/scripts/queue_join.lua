--[[ queue_join.lua: give a buyer their number in an event's waiting-room queue.

KEYS[1]  issued   str   numbers handed out so far (the queue's one counter)
KEYS[2]  members  hash  user id -> number
KEYS[3]  state    hash  m (pre-queue size), seed, opened (ms) once the sale has opened
ARGV[1]  user id                     ARGV[2] on-sale time, Unix ms
ARGV[3]  seed to keep if this call is the one that freezes the pre-queue
ARGV[4]  heartbeat key prefix ("<tag>:queue:seen:")   ARGV[5] heartbeat bucket ms
ARGV[6]  heartbeat bucket ttl ms (both used only until the ticker published its own, see
         queue_heartbeat.lua)   ARGV[7] ttl ms of the queue keys
ARGV[8]  requeue-from number or "": when the buyer's number equals it (their admission
         lapsed), hand out a new number at the back instead of returning it

Returns {number, fresh (1 new number, 0 the buyer's existing one), pre-queue size (-1
while the sale has not opened), seed, opened at ms}

Atomicity: one script, one event slot, Redis TIME as the one clock. The freeze (size :=
numbers handed out so far, seed, opened) happens exactly once, in this script or in
queue_admit.lua, whichever first runs at or after the on-sale time; every number handed
out before it is in the pre-queue, every number after it is above the pre-queue size.
A fresh number after the opening gets its first heartbeat here, in the same step, so the
ticker never skips a buyer who has not had time to poll yet.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local frozen = redis.call('HMGET', KEYS[3], 'm', 'seed', 'opened', 'hbms', 'hbttl')
if not frozen[1] and now >= tonumber(ARGV[2]) then
  frozen = {tonumber(redis.call('GET', KEYS[1]) or '0'), ARGV[3], now, frozen[4], frozen[5]}
  redis.call('HSET', KEYS[3], 'm', frozen[1], 'seed', frozen[2], 'opened', frozen[3])
end

local number = redis.call('HGET', KEYS[2], ARGV[1])
local fresh = 0
if (not number) or number == ARGV[8] then
  number = redis.call('INCR', KEYS[1])
  redis.call('HSET', KEYS[2], ARGV[1], number)
  fresh = 1
end
number = tonumber(number)

if frozen[1] and number > tonumber(frozen[1]) then
  local seen = ARGV[4] .. math.floor(now / (tonumber(frozen[4]) or tonumber(ARGV[5])))
  redis.call('SETBIT', seen, number, 1)
  redis.call('PEXPIRE', seen, tonumber(frozen[5]) or tonumber(ARGV[6]))
end
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], ARGV[7])
end
if frozen[1] then
  return {number, fresh, tonumber(frozen[1]), frozen[2], tonumber(frozen[3])}
end
return {number, fresh, -1, '', 0}
