--[[ hold_record.lua: not a script of its own; `--#include hold_record.lua` lines of the seat
scripts are replaced by this text when they are loaded (seat_gate.load_script). The one
place that writes and reads what Redis records about a hold.

Uses the including script's locals, bound from its KEYS (every key stays declared), and
seat_state.lua, included before it:
  seats_key      hash  the seat states (seat_state.lua)
  expiries_key   zset  holdId scored by expiresAtMs (the sweepers' work list)
  holdseats_key  hash  holdId -> "<user>|<seat,seat..>" of every hold with seats in the view:
                       what expiry needs once the hold key is gone, and the gate's proof
                       that a hold is still live
  holders_key    hash  userId -> "<holdId>:<n>:<expiresAtMs>,..." the buyer's holds, for
                       the per-buyer limit

put_hold(record_key, hold_id, user, seats, exp, status, now): record a hold (the hold hash,
  which expires at exp: its keyspace notification wakes the sweeper), its expiry, its seats
  and its buyer's entry. The seat states themselves are the caller's (set_seat).
forget_hold(hold_id, user, now): take the hold out of the three event-wide records.
hold_live(hold_id, exp, now): whether a seat state "<holdId>|<exp>" still blocks its seat: not
  past its expiry on Redis's clock and still recorded (a released or sold hold is not).
seat_taken(state, now): whether a raw seat state (nil = absent) blocks the seat.
seats_held(user, now): seats of the buyer's live holds; lapsed or forgotten entries are
  dropped on the way.
free_hold_seats(hold_id, seats, changes, lapsed_by): make AVAILABLE each of the seats still
  pointing at the hold (if lapsed_by is given, only those whose expiry is at or before it),
  appending (seat, "") to the change list; returns how many.
]]
local function hold_live(hold_id, exp, now)
  return tonumber(exp) > now and redis.call('HEXISTS', holdseats_key, hold_id) == 1
end

local function seat_taken(state, now)
  if not state then
    return false
  end
  if state == 'SOLD' then
    return true
  end
  local holder, exp = string.match(state, '^([^|]*)|(%d+)$')
  return hold_live(holder, exp, now)
end

local function holder_entries(user, now, without)
  local entries, count = {}, 0
  local recorded = redis.call('HGET', holders_key, user)
  if recorded then
    for hold_id, n, exp in string.gmatch(recorded, '([^,:]+):(%d+):(%d+)') do
      if hold_id ~= without and hold_live(hold_id, exp, now) then
        entries[#entries + 1] = hold_id .. ':' .. n .. ':' .. exp
        count = count + tonumber(n)
      end
    end
  end
  return entries, count, recorded
end

local function save_entries(user, entries, recorded)
  if #entries > 0 then
    local text = table.concat(entries, ',')
    if text ~= recorded then
      redis.call('HSET', holders_key, user, text)
    end
  elseif recorded then
    redis.call('HDEL', holders_key, user)
  end
end

local function seats_held(user, now)
  local entries, count, recorded = holder_entries(user, now, nil)
  save_entries(user, entries, recorded)
  return count
end

local function put_hold(record_key, hold_id, user, seats, exp, status, now)
  local list = table.concat(seats, ',')
  redis.call('HSET', record_key, 'user', user, 'seats', list, 'n', #seats, 'exp', exp, 'status', status)
  redis.call('PEXPIREAT', record_key, exp)
  redis.call('ZADD', expiries_key, exp, hold_id)
  redis.call('HSET', holdseats_key, hold_id, user .. '|' .. list)
  local entries, _, recorded = holder_entries(user, now, hold_id)
  if exp > now then
    entries[#entries + 1] = hold_id .. ':' .. #seats .. ':' .. exp
  end
  save_entries(user, entries, recorded)
end

local function forget_hold(hold_id, user, now)
  redis.call('ZREM', expiries_key, hold_id)
  redis.call('HDEL', holdseats_key, hold_id)
  local entries, _, recorded = holder_entries(user, now, hold_id)
  save_entries(user, entries, recorded)
end

local function free_hold_seats(hold_id, seats, changes, lapsed_by)
  local mine, freed = hold_id .. '|', 0
  for _, seat in ipairs(seats) do
    local state = redis.call('HGET', seats_key, seat)
    if state and string.sub(state, 1, #mine) == mine
        and (not lapsed_by or tonumber(string.sub(state, #mine + 1)) <= lapsed_by) then
      set_seat(seat, nil)
      freed = freed + 1
      changes[#changes + 1] = seat
      changes[#changes + 1] = ''
    end
  end
  return freed
end
