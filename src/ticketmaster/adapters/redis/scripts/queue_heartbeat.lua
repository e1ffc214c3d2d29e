--[[ queue_heartbeat.lua: record that waiters at these positions are still polling.

KEYS[1]  state  hash  the queue's state; not touched, named so the call is routed to the
                      event's slot (the bitmaps share its hash tag)
ARGV[1]  heartbeat key prefix ("<tag>:queue:seen:")   ARGV[2] bucket ms
ARGV[3]  bucket ttl ms
ARGV[4..] queue positions

Returns the number of positions recorded.

Sets one bit per position in the bitmap of the current time bucket (Redis TIME, the
clock queue_admit.lua reads the buckets with). Idempotent; a lost call only makes the
waiters look silent for one bucket longer.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seen = ARGV[1] .. math.floor(now / tonumber(ARGV[2]))
for i = 4, #ARGV do
  redis.call('SETBIT', seen, ARGV[i], 1)
end
redis.call('PEXPIRE', seen, ARGV[3])
return #ARGV - 3
