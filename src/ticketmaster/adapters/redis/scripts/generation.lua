--[[ generation.lua: not a script of its own; `--#include generation.lua` lines of the
scripts whose changes must survive a failover (hold.lua, hold_best.lua, retime.lua,
sell.lua) are replaced by this text when they are loaded (lua.load_script).

Uses the including script's generation_key (from its KEYS: RedisKeys.generation) and
floor (from its ARGV: the highest generation the calling process knows was acknowledged,
adapters/redis/generations.py).

is_stale(): true when the event's generation is below the floor: this Redis lacks changes
  the service acknowledged (a replica promoted before it received them, a restart from an
  older snapshot). The script then changes nothing and answers STALE, and the gate rebuilds
  the event from PostgreSQL before asking again.
next_generation(): bump the generation and return it, for a change that must survive.
current_generation(): the generation as it is.
]]
local function current_generation()
  return tonumber(redis.call('GET', generation_key) or '0')
end

local function is_stale()
  return current_generation() < floor
end

local function next_generation()
  return redis.call('INCR', generation_key)
end
