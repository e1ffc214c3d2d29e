--[[ load_lock.lua: take or free an event's load lock, owned by a process's token.

KEYS[1]  lock       str  the token of the process loading the event
ARGV[1]  token      the caller's token
ARGV[2]  lifetime   ms: take the lock for this long; 0: free it

Take: sets the lock if it is free, or renews it if it already holds the caller's token (an
earlier load of the same process lost its reply or its unlock); returns 1 when the caller
holds it. Free: deletes it only if it holds the caller's token, so a load whose lock lapsed
never frees the lock another process has since taken; returns 1 when it did.
]]
local lock_key = KEYS[1]
local token, lifetime_ms = ARGV[1], tonumber(ARGV[2])
local holder = redis.call('GET', lock_key)
if lifetime_ms == 0 then
  if holder == token then
    return redis.call('DEL', lock_key)
  end
  return 0
end
if holder == false or holder == token then
  redis.call('SET', lock_key, token, 'PX', lifetime_ms)
  return 1
end
return 0
