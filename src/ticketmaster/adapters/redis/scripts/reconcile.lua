--[[ reconcile.lua: compare-and-set seat states of one event (drift repair).

KEYS[1] seats hash   KEYS[2] version
ARGV    triples: seat id, expected raw state ("" = absent), new raw state ("" = delete)

A triple applies only if the seat's state is still the expected one, so a hold or sale
that happened after the reconciler looked is never overwritten. Returns the seat ids
that were changed.
]]
local applied = {}
for i = 1, #ARGV, 3 do
  local seat, expected, new = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('HGET', KEYS[1], seat) or ''
  if current == expected then
    if new == '' then
      redis.call('HDEL', KEYS[1], seat)
    else
      redis.call('HSET', KEYS[1], seat, new)
    end
    applied[#applied + 1] = seat
  end
end
if #applied > 0 then
  redis.call('INCR', KEYS[2])
end
return applied
