--[[ expire_due.lua: release every hold of one event whose time is up, in one call.

KEYS[1] seats hash   KEYS[2] version   KEYS[3] expiries zset   KEYS[4] holdseats hash
KEYS[5] holders hash   KEYS[6] changes stream (seat change log, see changes.lua)
KEYS[7] rows hash   KEYS[8] fits zset   KEYS[9] due zset: the availability index
        (seat_state.lua), kept in step
ARGV[1] most holds released in one call

Returns {released, unknown, next}:
  released  flat list holdId, expiresAtMs, seatsFreed for each due hold settled here
  unknown   hold ids due in the expiries set with no holdseats record (the caller settles
            them from PostgreSQL, which knows their seats)
  next      the earliest expiry still ahead (ms, as a string), or false

The sweeper's fast path: what expire.lua does for one hold, for all due holds of the event
at once, so a sweep costs one round trip however many holds lapse together. Due means
scored at or before Redis's clock: the expiries score is the hold key's expiry (put_hold
writes both), so the key is gone or in its last millisecond (already lapsed for the
gate); a hold whose purchase pushed it to the payment deadline was re-scored with it and
is left alone. A seat is freed only if it still points at the hold with an expiry that
has passed, so neither a sale nor a newer hold is undone. One version bump and one
change-log entry cover every seat freed. Idempotent.
]]
local seats_key, version_key, expiries_key, holdseats_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holders_key, changes_key = KEYS[5], KEYS[6]
local rows_key, fits_key, due_key = KEYS[7], KEYS[8], KEYS[9]
local batch = tonumber(ARGV[1])
--#include changes.lua
--#include seat_state.lua
--#include hold_record.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', expiries_key, '-inf', now, 'WITHSCORES', 'LIMIT', 0, batch)
local released, unknown, changes = {}, {}, {}
for i = 1, #due, 2 do
  local hold_id, exp = due[i], due[i + 1]
  local record = redis.call('HGET', holdseats_key, hold_id)
  if record then
    local user, list = string.match(record, '^([^|]*)|(.*)$')
    local seats = {}
    for seat in string.gmatch(list, '[^,]+') do
      seats[#seats + 1] = seat
    end
    local freed = free_hold_seats(hold_id, seats, changes, now)
    forget_hold(hold_id, user, now)
    released[#released + 1] = hold_id
    released[#released + 1] = exp
    released[#released + 1] = freed
  else
    unknown[#unknown + 1] = hold_id
  end
end
save_rows(now)
if #changes > 0 then
  log_changes(changes_key, redis.call('INCR', version_key), changes)
end
local ahead = redis.call('ZRANGEBYSCORE', expiries_key, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {released, unknown, ahead[2] or false}
