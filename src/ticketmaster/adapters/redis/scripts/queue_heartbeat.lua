--[[ queue_heartbeat.lua: record that waiters at these positions are still polling.

KEYS[1]  state  hash  the queue's state: hbms/hbttl, the bucket length and lifetime the
                      ticker reads heartbeats with (the bitmaps share its hash tag)
ARGV[1]  heartbeat key prefix ("<tag>:queue:seen:")
ARGV[2]  bucket ms, ARGV[3] bucket ttl ms: used only until the ticker has published its own
ARGV[4..] queue positions

Returns the number of positions recorded.

Sets one bit per position in the bitmap of the current time bucket, with the clock
(Redis TIME) and the bucket length queue_admit.lua reads them with, so API processes and
workers agree even if their heartbeat settings differ. Idempotent; a lost call only makes
the waiters look silent for one bucket longer.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local published = redis.call('HMGET', KEYS[1], 'hbms', 'hbttl')
local seen = ARGV[1] .. math.floor(now / (tonumber(published[1]) or tonumber(ARGV[2])))
for i = 4, #ARGV do
  redis.call('SETBIT', seen, ARGV[i], 1)
end
redis.call('PEXPIRE', seen, tonumber(published[2]) or tonumber(ARGV[3]))
return #ARGV - 3
