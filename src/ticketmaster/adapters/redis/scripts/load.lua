--[[ load.lua: install an event's seat state rebuilt from PostgreSQL, once.

KEYS[1]  seats     hash   KEYS[2] version   KEYS[3] loaded   KEYS[4] expiries
KEYS[5]  changes   stream seat change log: replaced by one "*reset" entry at the new version
ARGV[1]  hold key prefix ("<tag>:hold:")   ARGV[2] user-holds key prefix ("<tag>:uholds:")
ARGV[3]  idempotency gap ms: 0 when PostgreSQL knows no hold of the event (so Redis will see
         every record), else how long records of earlier holds may be missing (their TTL)
ARGV[4]  number of sold seats S, then S seat ids
then     holds, each: holdId, userId, expiresAtMs, status, n, seat ids x n

Returns 1 when installed, 0 when the event was already loaded (a concurrent loader won).
Holds already past expiry are skipped: expired means free.
]]
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local i = 4
local sold = tonumber(ARGV[i]); i = i + 1
for _ = 1, sold do
  redis.call('HSET', KEYS[1], ARGV[i], 'SOLD'); i = i + 1
end
while i <= #ARGV do
  local hold_id, user, exp, status, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3],
    tonumber(ARGV[i + 4])
  i = i + 5
  local seats = {}
  for j = 0, n - 1 do seats[#seats + 1] = ARGV[i + j] end
  i = i + n
  if exp > now then
    local hold_key = ARGV[1] .. hold_id
    for _, seat in ipairs(seats) do
      if redis.call('HGET', KEYS[1], seat) ~= 'SOLD' then
        redis.call('HSET', KEYS[1], seat, hold_id .. '|' .. exp)
      end
    end
    redis.call('HSET', hold_key, 'user', user, 'seats', table.concat(seats, ','), 'n', n,
      'exp', exp, 'status', status)
    redis.call('PEXPIREAT', hold_key, exp)
    redis.call('SADD', ARGV[2] .. user, hold_id)
    redis.call('ZADD', KEYS[4], exp, hold_id)
    redis.call('HSET', (string.gsub(KEYS[4], 'expiries$', 'holdseats')), hold_id, user .. '|' .. table.concat(seats, ','))
  end
end
local gap = tonumber(ARGV[3])
redis.call('SET', KEYS[3], gap > 0 and ('g' .. (now + gap)) or 'c')
-- The version must keep growing across a Redis restart, so it restarts from the clock,
-- scaled so that even a million changes a second since the last load stay below it.
local version = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, now * 1000)
redis.call('SET', KEYS[2], version)
-- The state jumped: no reader may replay across this version, only take a snapshot.
redis.call('DEL', KEYS[5])
redis.call('XADD', KEYS[5], string.format('%d-0', version), '*reset', '')
return 1
