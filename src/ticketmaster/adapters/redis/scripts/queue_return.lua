--[[ queue_return.lua: record that skipped waiters at these positions polled again.

KEYS[1]  state       hash    the queue's state: hbms/hbttl and the ring's hb<slot> fields
                             as in queue_heartbeat.lua
KEYS[2]  skipped     bitmap  bit = position passed over by the ticker as silent
KEYS[3]  returning   zset    skipped positions that polled again, scored by position
KEYS[4]  readmitted  zset    returners readmitted by the ticker, scored by readmission ms
KEYS[5..] seen       bitmaps the heartbeat ring (heartbeats.lua)
ARGV[1]  bucket ms, ARGV[2] bucket ttl ms: used only until the ticker has published its own
ARGV[3]  ttl ms of the queue keys
ARGV[4..] queue positions the status path found skipped and not yet readmitted

Returns the number of positions recorded.

For each position still skipped and not readmitted: add it to `returning` and set its
heartbeat bit (the liveness queue_admit.lua checks before readmitting it). The guard makes a
late batch harmless: a position readmitted meanwhile, or whose readmission has lapsed (its
skipped bit cleared), is not recorded again, so nobody is readmitted twice. Idempotent; a
lost call only delays the readmission until the next poll's batch.
]]
local state_key, skipped_key, returning_key, readmitted_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local seen_keys = {unpack(KEYS, 5)}
local default_bucket_ms, default_ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local queue_ttl_ms = tonumber(ARGV[3])
local positions = {unpack(ARGV, 4)}
--#include heartbeats.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local recorded = {}
for _, position in ipairs(positions) do
  if redis.call('GETBIT', skipped_key, position) == 1 and not redis.call('ZSCORE', readmitted_key, position) then
    redis.call('ZADD', returning_key, position, position)
    recorded[#recorded + 1] = position
  end
end
if #recorded > 0 then
  local published = redis.call('HMGET', state_key, 'hbms', 'hbttl')
  local bucket = math.floor(now / (tonumber(published[1]) or default_bucket_ms))
  mark_seen(bucket, tonumber(published[2]) or default_ttl_ms, recorded)
  redis.call('PEXPIRE', returning_key, queue_ttl_ms)
end
return #recorded
