--[[ index_read.lua: read an event's seat states and availability index, with Redis's clock,
in one atomic step, to check the one against the other (adapters/redis/seat_index.py). A
script, not a MULTI: a Redis Cluster pipeline refuses the keyless TIME, while a script on
keys of one hash tag runs on the event's own primary.

KEYS[1] seats hash   KEYS[2] rows hash   KEYS[3] fits zset   KEYS[4] due zset (seat_state.lua)

Returns {seats, rows, fits, due, now}: the two hashes as flat field, value lists, the two
sorted sets as flat member, score lists, and Redis's time in milliseconds.
]]
local seats_key, rows_key, fits_key, due_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local t = redis.call('TIME')
return {
  redis.call('HGETALL', seats_key),
  redis.call('HGETALL', rows_key),
  redis.call('ZRANGE', fits_key, 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', due_key, 0, -1, 'WITHSCORES'),
  tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000),
}
