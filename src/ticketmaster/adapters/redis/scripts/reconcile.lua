--[[ reconcile.lua: compare-and-set seat states of one event (drift repair).

KEYS[1] seats hash   KEYS[2] version   KEYS[3] changes stream (seat change log)
ARGV    triples: seat id, expected raw state ("" = absent), new raw state ("" = delete)

A triple applies only if the seat's state is still the expected one, so a hold or sale
that happened after the reconciler looked is never overwritten. Returns the seat ids
that were changed; the version is bumped, and those seats logged under it, only if any was.
]]
--#include changes.lua (log_changes: the seat change log; see that file)

local applied, changes = {}, {}
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
    changes[#changes + 1] = seat
    changes[#changes + 1] = new
  end
end
if #applied > 0 then
  log_changes(KEYS[3], redis.call('INCR', KEYS[2]), changes)
end
return applied
