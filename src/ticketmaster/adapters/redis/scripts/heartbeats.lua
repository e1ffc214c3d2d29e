--[[ heartbeats.lua: not a script of its own; `--#include heartbeats.lua` lines of the queue
scripts are replaced by this text when they are loaded (waiting_room._script).

Heartbeats live in a ring of bitmaps, one per time bucket (bucket = floor(now / bucket ms),
bit = queue position). The ring has a fixed set of keys, passed in KEYS like every other
key: bucket b uses slot b mod #ring, and the queue's state hash remembers which bucket each
slot holds (field "hb<slot>"), so a slot reused for a newer bucket is emptied first and a
stale one reads as silent. The ring is longer than the buckets a timeout covers (see
RedisWaitingRoom), so no slot a reader needs is ever reused under it.

Uses the including script's locals, bound from its KEYS: state_key (the queue's state hash)
and seen_keys (the ring, a list).

mark_seen(bucket, ttl_ms, positions): set the positions' bits in the bucket's bitmap.
seen_in(buckets_from, buckets_to): a function position -> whether its bit is set in one of
  those buckets (the slots' owners are read once).
]]
local function mark_seen(bucket, ttl_ms, positions)
  local slot = bucket % #seen_keys
  if tonumber(redis.call('HGET', state_key, 'hb' .. slot)) ~= bucket then
    redis.call('DEL', seen_keys[slot + 1])
    redis.call('HSET', state_key, 'hb' .. slot, bucket)
  end
  for _, position in ipairs(positions) do
    redis.call('SETBIT', seen_keys[slot + 1], position, 1)
  end
  redis.call('PEXPIRE', seen_keys[slot + 1], ttl_ms)
end

local function seen_in(first, last)
  local fields = {}
  for slot = 0, #seen_keys - 1 do
    fields[#fields + 1] = 'hb' .. slot
  end
  local owners = redis.call('HMGET', state_key, unpack(fields))
  local slots = {}
  for b = last, first, -1 do
    local slot = b % #seen_keys
    if tonumber(owners[slot + 1]) == b then
      slots[#slots + 1] = slot + 1
    end
  end
  return function(position)
    for _, index in ipairs(slots) do
      if redis.call('GETBIT', seen_keys[index], position) == 1 then
        return true
      end
    end
    return false
  end
end
