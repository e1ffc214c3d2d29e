--[[ hold.lua: hold every requested seat of one event, or none.

KEYS[1]  seats      hash  seatId -> "SOLD" | "<holdId>|<expiresAtMs>"
KEYS[2]  version    int   seat-map version, bumped on every change
KEYS[3]  loaded     str   present once the event's state was rebuilt from PostgreSQL: "c" when
                          every idempotency record of the event is in Redis, "g<ms>" when
                          records made before the rebuild may be missing until then (load.lua)
KEYS[4]  idem       str   "<holdId>|<fingerprint>|<expiresAtMs>" for (user, Idempotency-Key)
KEYS[5]  user_holds set   hold ids of this user for this event
KEYS[6]  expiries   zset  holdId scored by expiresAtMs (for the sweepers)
KEYS[7]  hold       hash  the new hold: user, seats, n, exp, status; expires at exp (PEXPIREAT)
KEYS[8]  changes    stream the seat change log: on "OK", one entry "<version>-0" naming every
                          held seat with its new state (see log_changes below)
(also   <tag>:holdseats hash holdId -> "<user>|<seat,seat..>", derived from KEYS[6]: what
        expiry needs once the hold key is gone; same hash tag, so same slot)
ARGV[1]  hold id        ARGV[2] user id         ARGV[3] ttl ms
ARGV[4]  fingerprint    ARGV[5] max seats a user may hold for this event
ARGV[6]  idempotency record ttl ms               ARGV[7] hold key prefix ("<tag>:hold:")
ARGV[8..] seat ids (already validated against the layout, distinct)

Returns one of
  {"OK", expiresAtMs, version}
  {"REPLAY", holdId, fingerprint, expiresAtMs}   the key was used before: nothing changed
  {"UNAVAILABLE", complete, seatId...}           some seat is sold or held: nothing changed
  {"LIMIT", seatsAlreadyHeld, complete}          per-user limit: nothing changed
  {"NOT_LOADED"}                                 rebuild the event from PostgreSQL first

"complete" is 1 when the absence of an idempotency record proves the key is new for this
event, 0 when a record may have been lost with an earlier Redis state (then the caller
asks PostgreSQL before answering a refusal). Records live 24 h; the deployment must not
evict keys (maxmemory-policy noeviction), or "complete" would be a lie.

Atomicity: a script runs alone on the server, so the check and the writes cannot
interleave with another hold, release or sale of these seats. A held seat whose hold key
is gone (TTL) or whose expiry has passed is AVAILABLE: expiry needs no sweeper to be
honoured. Every key shares the event's hash tag, so this runs unchanged on a Cluster.
]]
--#include changes.lua (log_changes: the seat change log; see that file)

local loaded = redis.call('GET', KEYS[3])
if not loaded then
  return {'NOT_LOADED'}
end
local previous = redis.call('GET', KEYS[4])
if previous then
  local hold_id, fingerprint, exp = string.match(previous, '^([^|]*)|([^|]*)|([^|]*)$')
  return {'REPLAY', hold_id, fingerprint, exp}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[7]

local function complete()
  if loaded == 'c' then
    return 1
  end
  local gap_until = tonumber(string.match(loaded, '^g(%d+)$'))
  if gap_until and now >= gap_until then
    return 1
  end
  return 0
end

local function live(hold_id, exp)
  return tonumber(exp) > now and redis.call('EXISTS', prefix .. hold_id) == 1
end

local unavailable = {'UNAVAILABLE', 0}
for i = 8, #ARGV do
  local state = redis.call('HGET', KEYS[1], ARGV[i])
  if state then
    if state == 'SOLD' then
      unavailable[#unavailable + 1] = ARGV[i]
    else
      local holder, exp = string.match(state, '^([^|]*)|(%d+)$')
      if live(holder, exp) then
        unavailable[#unavailable + 1] = ARGV[i]
      end
    end
  end
end
if #unavailable > 2 then
  unavailable[2] = complete()
  return unavailable
end

local requested = #ARGV - 7
local already = 0
for _, hold_id in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local n = redis.call('HGET', prefix .. hold_id, 'n')
  if n then
    already = already + tonumber(n)
  else
    redis.call('SREM', KEYS[5], hold_id)
  end
end
if already + requested > tonumber(ARGV[5]) then
  return {'LIMIT', already, complete()}
end

local exp = now + tonumber(ARGV[3])
local state = ARGV[1] .. '|' .. exp
local seats, changes = {}, {}
for i = 8, #ARGV do
  seats[#seats + 1] = ARGV[i]
  changes[#changes + 1] = ARGV[i]
  changes[#changes + 1] = state
  redis.call('HSET', KEYS[1], ARGV[i], state)
end
redis.call('HSET', KEYS[7], 'user', ARGV[2], 'seats', table.concat(seats, ','), 'n', requested,
  'exp', exp, 'status', 'ACTIVE')
redis.call('PEXPIREAT', KEYS[7], exp)
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[3]) * 4)
redis.call('ZADD', KEYS[6], exp, ARGV[1])
redis.call('HSET', (string.gsub(KEYS[6], 'expiries$', 'holdseats')), ARGV[1], ARGV[2] .. '|' .. table.concat(seats, ','))
redis.call('SET', KEYS[4], ARGV[1] .. '|' .. ARGV[4] .. '|' .. exp, 'PX', tonumber(ARGV[6]))
local version = redis.call('INCR', KEYS[2])
log_changes(KEYS[8], version, changes)
return {'OK', exp, version}
