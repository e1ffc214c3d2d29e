--[[ rate_limit.lua: take one request from a user's token bucket.

KEYS[1]  bucket  hash  tokens (float), ts (ms of the last refill)
ARGV[1]  refill rate, tokens per second   ARGV[2] burst (bucket capacity)
ARGV[3]  cost of this request

Returns {allowed (1|0), retry after ms (0 when allowed)}

Atomicity: refill, check and take happen in one script on the user's slot, so every API
process shares one bucket per user and concurrent requests cannot overspend it. The key
expires once a full bucket would have refilled, so idle users cost nothing.
]]
local bucket_key = KEYS[1]
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', bucket_key, 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)

local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', bucket_key, 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', bucket_key, math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry}
