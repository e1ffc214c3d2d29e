--[[ queue_heartbeat.lua: record that waiters at these positions are still polling.

KEYS[1]  state  hash  the queue's state: hbms/hbttl, the bucket length and lifetime the
                      ticker reads heartbeats with; hb<slot>, the bucket of each ring slot
KEYS[2..] seen  bitmaps  the heartbeat ring (heartbeats.lua)
ARGV[1]  bucket ms, ARGV[2] bucket ttl ms: used only until the ticker has published its own
ARGV[3..] queue positions

Returns the number of positions recorded.

Sets one bit per position in the bitmap of the current time bucket, with the clock
(Redis TIME) and the bucket length queue_admit.lua reads them with, so API processes and
workers agree even if their heartbeat settings differ. Idempotent; a lost call only makes
the waiters look silent for one bucket longer.
]]
local state_key = KEYS[1]
local seen_keys = {unpack(KEYS, 2)}
local default_bucket_ms, default_ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local positions = {unpack(ARGV, 3)}
--#include heartbeats.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local published = redis.call('HMGET', state_key, 'hbms', 'hbttl')
local bucket = math.floor(now / (tonumber(published[1]) or default_bucket_ms))
mark_seen(bucket, tonumber(published[2]) or default_ttl_ms, positions)
return #positions
