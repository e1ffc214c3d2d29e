--[[ new_hold.lua: not a script of its own; `--#include new_hold.lua` lines of the hold
scripts (hold.lua, hold_best.lua) are replaced by this text when they are loaded
(lua.load_script): what both do around choosing the seats. Include after changes.lua,
generation.lua, seat_state.lua and hold_record.lua.

Uses the including script's locals: from its KEYS idem_key (the buyer's record for this
Idempotency-Key), hold_key, version_key, changes_key, bought_key (userId -> seats bought)
(and holdseats_key, see hold_record.lua); from its ARGV hold_id, user, ttl_ms, fingerprint, max_seats, idem_ttl_ms.

replay_of(): {"REPLAY", holdId, fingerprint, expiresAtMs, seats, generation} when the
  buyer used this Idempotency-Key on the event before (seats as Redis still records them,
  "" once the hold is gone; the event's generation now, what a request adopting the hold
  records), else nil.
grant(seats, loaded, now): hold the seats for the buyer unless that takes the seats they
  hold and bought past the per-buyer limit: {"OK", expiresAtMs, version, generation} or
  {"LIMIT", seatsHeld, complete, seatsBought}.
records_complete(loaded, now): 1 when the "loaded" marker proves every idempotency record of
  the event is in Redis ("c", or "g<ms>" once that gap is over: see load.lua), else 0.
]]
local function replay_of()
  local previous = redis.call('GET', idem_key)
  if not previous then
    return nil
  end
  local id, fp, exp = string.match(previous, '^([^|]*)|([^|]*)|([^|]*)$')
  local record = redis.call('HGET', holdseats_key, id)
  local seats = record and string.match(record, '^[^|]*|(.*)$') or ''
  return {'REPLAY', id, fp, exp, seats, current_generation()}
end

local function records_complete(loaded, now)
  if loaded == 'c' then
    return 1
  end
  local gap_until = tonumber(string.match(loaded, '^g(%d+)$'))
  if gap_until and now >= gap_until then
    return 1
  end
  return 0
end

local function grant(seats, loaded, now)
  local held = seats_held(user, now)
  local bought = tonumber(redis.call('HGET', bought_key, user) or '0')
  if held + bought + #seats > max_seats then
    return {'LIMIT', held, records_complete(loaded, now), bought}
  end
  local exp = now + ttl_ms
  local state = hold_id .. '|' .. exp
  local changes = {}
  for _, seat in ipairs(seats) do
    changes[#changes + 1] = seat
    changes[#changes + 1] = state
    set_seat(seat, state)
  end
  save_rows(now)
  put_hold(hold_key, hold_id, user, seats, exp, 'ACTIVE', now)
  redis.call('SET', idem_key, hold_id .. '|' .. fingerprint .. '|' .. exp, 'PX', idem_ttl_ms)
  local version = redis.call('INCR', version_key)
  log_changes(changes_key, version, changes)
  return {'OK', exp, version, next_generation()}
end
