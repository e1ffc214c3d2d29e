--[[ queue_return.lua: record that skipped waiters at these positions polled again.

KEYS[1]  state       hash    the queue's state: hbms/hbttl as in queue_heartbeat.lua
KEYS[2]  skipped     bitmap  bit = position passed over by the ticker as silent
KEYS[3]  returning   zset    skipped positions that polled again, scored by position
KEYS[4]  readmitted  zset    returners readmitted by the ticker, scored by readmission ms
ARGV[1]  heartbeat key prefix ("<tag>:queue:seen:")
ARGV[2]  bucket ms, ARGV[3] bucket ttl ms: used only until the ticker has published its own
ARGV[4]  ttl ms of the queue keys
ARGV[5..] queue positions the status path found skipped and not yet readmitted

Returns the number of positions recorded.

For each position still skipped and not readmitted: add it to `returning` and set its
heartbeat bit (the liveness queue_admit.lua checks before readmitting it). The guard makes a
late batch harmless: a position readmitted meanwhile, or whose readmission has lapsed (its
skipped bit cleared), is not recorded again, so nobody is readmitted twice. Idempotent; a
lost call only delays the readmission until the next poll's batch.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local published = redis.call('HMGET', KEYS[1], 'hbms', 'hbttl')
local seen = ARGV[1] .. math.floor(now / (tonumber(published[1]) or tonumber(ARGV[2])))
local recorded = 0
for i = 5, #ARGV do
  local position = ARGV[i]
  if redis.call('GETBIT', KEYS[2], position) == 1 and not redis.call('ZSCORE', KEYS[4], position) then
    redis.call('SETBIT', seen, position, 1)
    redis.call('ZADD', KEYS[3], position, position)
    recorded = recorded + 1
  end
end
if recorded > 0 then
  redis.call('PEXPIRE', seen, tonumber(published[2]) or tonumber(ARGV[3]))
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return recorded
