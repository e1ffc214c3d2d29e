--[[ idempotency.lua: not a script of its own; `--#include idempotency.lua` lines of the hold
scripts are replaced by this text when they are loaded (seat_gate.load_script).

Uses the including script's locals idem_key (the buyer's record for this Idempotency-Key)
and holdseats_key (see hold_record.lua), bound from its KEYS.

replay_of(): {"REPLAY", holdId, fingerprint, expiresAtMs, seats} when the buyer used
  this Idempotency-Key on the event before (seats as Redis still records them, "" once the
  hold is gone), else nil.
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
  return {'REPLAY', id, fp, exp, record and string.match(record, '^[^|]*|(.*)$') or ''}
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
