--[[ queue_join.lua: give a buyer their number in an event's waiting-room queue.

KEYS[1]  issued   str   numbers handed out so far (the queue's one counter)
KEYS[2]  members  hash  user id -> number
KEYS[3]  state    hash  m (pre-queue size), seed, opened (ms) once the sale has opened;
                       ep, the queue's epoch
KEYS[4..] seen    bitmaps the heartbeat ring (heartbeats.lua)
ARGV[1]  user id                     ARGV[2] on-sale time, Unix ms
ARGV[3]  seed to keep if this call is the one that freezes the pre-queue
ARGV[4]  heartbeat bucket ms   ARGV[5] heartbeat bucket ttl ms (both used only until the
         ticker published its own, see queue_heartbeat.lua)   ARGV[6] ttl ms of the queue keys
ARGV[7]  requeue-from number or "": when the buyer's number equals it (their admission
         lapsed), hand out a new number at the back instead of returning it
ARGV[8]  epoch to keep if this queue has none yet

Returns {number, fresh (1 new number, 0 the buyer's existing one), pre-queue size (-1
while the sale has not opened), seed, opened at ms, epoch, 1 if this call began the epoch}

Atomicity: one script, one event slot, Redis TIME as the one clock. The freeze (size :=
numbers handed out so far, seed, opened) happens exactly once, in this script or in
queue_admit.lua, whichever first runs at or after the on-sale time; every number handed
out before it is in the pre-queue, every number after it is above the pre-queue size.
A fresh number after the opening gets its first heartbeat here, in the same step, so the
ticker never skips a buyer who has not had time to poll yet.

Epoch. The numbers mean something only beside the counter, members and freeze they were
handed out with. A Redis that lost them (restarted empty, or from an older snapshot) would
hand the same numbers out again, so the queue carries an epoch, a random id set once by
whichever of this script or queue_admit.lua first finds none; queue tokens carry it and the
status path refuses a token of another epoch (its buyer joins again, at the back of the
new line). The heartbeat and return scripts never set it: their writes alone do not make a
queue.
]]
local issued_key, members_key, state_key = KEYS[1], KEYS[2], KEYS[3]
local seen_keys = {unpack(KEYS, 4)}
local user, on_sale_ms, seed = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local default_bucket_ms, default_ttl_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local queue_ttl_ms, requeue_from, new_epoch = tonumber(ARGV[6]), ARGV[7], ARGV[8]
--#include heartbeats.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local frozen = redis.call('HMGET', state_key, 'm', 'seed', 'opened', 'hbms', 'hbttl', 'ep')
local epoch, began = frozen[6], 0
if not epoch then
  epoch, began = new_epoch, 1
  redis.call('HSET', state_key, 'ep', epoch)
end
if not frozen[1] and now >= on_sale_ms then
  frozen = {tonumber(redis.call('GET', issued_key) or '0'), seed, now, frozen[4], frozen[5]}
  redis.call('HSET', state_key, 'm', frozen[1], 'seed', frozen[2], 'opened', frozen[3])
end

local number = redis.call('HGET', members_key, user)
local fresh = 0
if (not number) or number == requeue_from then
  number = redis.call('INCR', issued_key)
  redis.call('HSET', members_key, user, number)
  fresh = 1
end
number = tonumber(number)

if frozen[1] and number > tonumber(frozen[1]) then
  local bucket = math.floor(now / (tonumber(frozen[4]) or default_bucket_ms))
  mark_seen(bucket, tonumber(frozen[5]) or default_ttl_ms, {number})
end
redis.call('PEXPIRE', issued_key, queue_ttl_ms)
redis.call('PEXPIRE', members_key, queue_ttl_ms)
redis.call('PEXPIRE', state_key, queue_ttl_ms)
if frozen[1] then
  return {number, fresh, tonumber(frozen[1]), frozen[2], tonumber(frozen[3]), epoch, began}
end
return {number, fresh, -1, '', 0, epoch, began}
