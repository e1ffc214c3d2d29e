--[[ hold_best.lua: pick the best available seats of one event and hold them, in one step.

KEYS[1..14] as hold.lua: seats, version, loaded, idem, holdseats, holders, expiries, hold
            (the new hold), changes, rows, fits, due, bought, generation
ARGV[1]  hold id        ARGV[2] user id         ARGV[3] ttl ms
ARGV[4]  fingerprint    ARGV[5] max seats a user may hold or buy for this event
ARGV[6]  idempotency record ttl ms
ARGV[7]  generation floor (generation.lua)
ARGV[8]  count (1..8)   ARGV[9] "1" adjacent, "0" the best seats one by one
ARGV[10..] the allowed rows: pairs first, last row index, ascending and disjoint (the
          request's filters, domain/best_available.row_ranges)

Returns one of
  {"OK", expiresAtMs, version, generation, seatId...}   the seats chosen and held
  {"REPLAY", holdId, fingerprint, expiresAtMs, seats, generation}   as hold.lua
  {"UNAVAILABLE", complete, version}             nothing fits at this version
  {"LIMIT", seatsHeld, complete, seatsBought}    as hold.lua
  {"NOT_LOADED"}                                 rebuild the event from PostgreSQL first
  {"STALE"}                                      as hold.lua

The choice is domain/best_available.py's rule, found without reading every seat: the
index (seat_state.lua) keeps, per row, which counts of adjacent seats fit and whether one
fits without stranding a seat, scored so that one ZRANGEBYSCORE per range of allowed rows
returns the best row for a count. Only the rows whose summary is due (a hold on them has
lapsed since it was made) are summarized again first, so expired holds are free here as
everywhere (I4) without a sweeper. Then only the chosen row (adjacent) or the first rows
(one by one) are read. The chosen seats are checked against the seat states with hold.lua's
rule before anything is written; should the index ever disagree (drift), the row is rebuilt
from the seat states and the search runs again, so the index can cost a choice but never
double-hold a seat.

Atomicity: like hold.lua, one script on one event's keys (all passed in KEYS): the search,
the check and the writes cannot interleave with any other change of these seats.
]]
local seats_key, version_key, loaded_key, idem_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local holdseats_key, holders_key, expiries_key = KEYS[5], KEYS[6], KEYS[7]
local hold_key, changes_key = KEYS[8], KEYS[9]
local rows_key, fits_key, due_key, bought_key = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local generation_key = KEYS[14]
local hold_id, user, ttl_ms, fingerprint = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local max_seats, idem_ttl_ms, floor = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local count, adjacent = tonumber(ARGV[8]), ARGV[9] == '1'
local ranges = {unpack(ARGV, 10)}
--#include changes.lua
--#include generation.lua
--#include seat_state.lua
--#include hold_record.lua
--#include new_hold.lua

local MAX_SEARCHES = 32

local loaded = redis.call('GET', loaded_key)
if not loaded then
  return {'NOT_LOADED'}
end
if is_stale() then
  return {'STALE'}
end
local replay = replay_of()
if replay then
  return replay
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

for _, index in ipairs(redis.call('ZRANGEBYSCORE', due_key, '-inf', now)) do
  summarize(index, row_values(index) or {}, now)
end

local function is_free(v)
  return v == 0 or (v > 0 and v <= now)
end

-- The indexes of the best rows (at most `limit`) whose summary has `count` in `class` (0:
-- a choice strands no seat, SPAN: every choice strands one), in the first range with any.
local function best_rows(n, class, first, last, limit)
  local base = n * 2 * SPAN + class
  local found = redis.call('ZRANGEBYSCORE', fits_key, base + first, base + last, 'LIMIT', 0, limit)
  local indexes = {}
  for _, member in ipairs(found) do
    indexes[#indexes + 1] = tonumber(string.match(member, ':(%d+)$'))
  end
  return indexes
end

-- The start of the best block of `count` free seats in a row (clean: stranding none), or nil.
local function best_block(values, clean)
  local n, best_start, best_distance = #values, nil, nil
  local i = 1
  while i <= n do
    if is_free(values[i]) then
      local j = i
      while j < n and is_free(values[j + 1]) do
        j = j + 1
      end
      for s = i, j - count + 1 do
        if not clean or (s - i ~= 1 and j - (s + count - 1) ~= 1) then
          local distance = math.abs(2 * s + count - 1 - (n + 1))
          if best_distance == nil or distance < best_distance then
            best_start, best_distance = s, distance
          end
        end
      end
      i = j + 1
    else
      i = i + 1
    end
  end
  return best_start
end

-- {row index, seat numbers} pairs of the choice; nil when nothing fits; false when a row's
-- summary was wrong (it is summarized again: search again).
local function search_adjacent()
  for _, class in ipairs({0, SPAN}) do
    for r = 1, #ranges, 2 do
      local index = best_rows(count, class, ranges[r], ranges[r + 1], 1)[1]
      if index then
        local values = row_values(tostring(index)) or {}
        local start = best_block(values, class == 0)
        if not start then
          summarize(tostring(index), values, now)
          return false
        end
        local numbers = {}
        for s = start, start + count - 1 do
          numbers[#numbers + 1] = s
        end
        return {{index, numbers}}
      end
    end
  end
  return nil
end

local function search_one_by_one()
  local rows = {}
  for r = 1, #ranges, 2 do
    for _, class in ipairs({0, SPAN}) do
      for _, index in ipairs(best_rows(1, class, ranges[r], ranges[r + 1], count)) do
        rows[#rows + 1] = index
      end
    end
    if #rows >= count then
      break  -- ranges ascend: the rows of later ones rank lower
    end
  end
  table.sort(rows)
  local picks, taken = {}, 0
  for _, index in ipairs(rows) do
    if taken == count then
      break
    end
    local values = row_values(tostring(index)) or {}
    local free, middle = {}, #values + 1
    for n = 1, #values do
      if is_free(values[n]) then
        free[#free + 1] = n
      end
    end
    if #free == 0 then
      summarize(tostring(index), values, now)
      return false
    end
    table.sort(free, function(a, b)
      local da, db = math.abs(2 * a - middle), math.abs(2 * b - middle)
      return da < db or (da == db and a < b)
    end)
    local numbers = {}
    for k = 1, math.min(#free, count - taken) do
      numbers[k] = free[k]
    end
    taken = taken + #numbers
    picks[#picks + 1] = {index, numbers}
  end
  if taken < count then
    return nil
  end
  return picks
end

local chosen = nil
for _ = 1, MAX_SEARCHES do
  local picks
  if adjacent then
    picks = search_adjacent()
  else
    picks = search_one_by_one()
  end
  if picks == nil then
    break
  end
  if picks then
    local seats, drifted = {}, false
    for _, pick in ipairs(picks) do
      local index, numbers = pick[1], pick[2]
      local prefix = redis.call('HGET', rows_key, '@' .. index)
      for _, n in ipairs(numbers) do
        local seat = prefix .. n
        seats[#seats + 1] = seat
        if seat_taken(redis.call('HGET', seats_key, seat), now) then
          drifted = true
        end
      end
      if drifted then
        install_row(tostring(index), prefix, #(row_values(tostring(index)) or {}))
        save_rows(now)
        break
      end
    end
    if not drifted then
      chosen = seats
      break
    end
  end
end
if not chosen then
  return {'UNAVAILABLE', records_complete(loaded, now), tonumber(redis.call('GET', version_key) or '0')}
end

local reply = grant(chosen, loaded, now)
if reply[1] == 'OK' then
  for _, seat in ipairs(chosen) do
    reply[#reply + 1] = seat
  end
end
return reply
