--[[ hold_index.lua: not a script of its own; `--#include hold_index.lua` lines of the seat
scripts are replaced by this text when they are loaded (seat_gate.load_script).

forget_hold(user_holds_key, expiries_key, hold_id): take a hold out of the event's indexes
of live holds: its buyer's set, the expiries set the sweepers read, and the holdseats hash
(derived from the expiries key: same hash tag) that expiry reads once the hold key is gone.
]]
local function forget_hold(user_holds_key, expiries_key, hold_id)
  redis.call('SREM', user_holds_key, hold_id)
  redis.call('ZREM', expiries_key, hold_id)
  redis.call('HDEL', (string.gsub(expiries_key, 'expiries$', 'holdseats')), hold_id)
end
