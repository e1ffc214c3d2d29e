--[[ seat_state.lua: not a script of its own; `--#include seat_state.lua` lines of the seat
scripts are replaced by this text when they are loaded (lua.load_script). The one writer of
seat states: every change goes through set_seat, which keeps the event's availability
index (domain/availability.py) in step, and save_rows(now) ends every script that called it.

Uses the including script's locals, bound from its KEYS:
  seats_key  hash  seatId -> "SOLD" | "<holdId>|<expiresAtMs>" (absent: AVAILABLE)
  rows_key   hash  the index, one row per venue row in rank order (index 0, 1, ...):
                   "<index>"   -> the row's seat values "v1,v2,...": 0 AVAILABLE, -1 SOLD,
                                  else the expiry of the hold on the seat (a lapsed one
                                  leaves it available: the values need no sweeper)
                   "@<index>"  -> the seat-id prefix of the row (its seats: prefix .. n)
                   "#<prefix>" -> the row's index
  fits_key   zset  the rows' summaries: member "<count>:<index>" for each count 1..8 the row
                   has a choice of adjacent available seats for, scored
                   count * 2 * SPAN + (0 if a choice strands no seat, else SPAN) + index,
                   so one ZRANGEBYSCORE finds the best row for a count among a range of rows
  due_key    zset  index scored by the earliest hold expiry of the row after its summary
                   was made: when the summary must be made again (hold_best.lua does)

set_seat(seat, state): write a seat's state (nil = AVAILABLE) and its index value.
install_row(index, prefix, n): (re)build a row's index entry from the seat states.
summarize(index, values, now): store the row's summary as of now.
row_values(index): the row's values (decoded once per script run), or nil.
save_rows(now): write every row set_seat or install_row changed, with its summary.
]]
local SPAN = 16777216  -- 2^24: rows an event's summary scores tell apart
local MAX_BLOCK = 8
local row_cache, dirty_rows, index_of_prefix = {}, {}, {}

local function seat_value(state)
  if not state then
    return 0
  end
  if state == 'SOLD' then
    return -1
  end
  return tonumber(string.match(state, '|(%d+)$')) or 0
end

local function row_values(index)
  local values = row_cache[index]
  if values == nil then
    local text = redis.call('HGET', rows_key, index)
    values = false
    if text then
      values = {}
      for v in string.gmatch(text, '[^,]+') do
        values[#values + 1] = tonumber(v)
      end
    end
    row_cache[index] = values
  end
  return values or nil
end

local function set_seat(seat, state)
  if state then
    redis.call('HSET', seats_key, seat, state)
  else
    redis.call('HDEL', seats_key, seat)
  end
  local prefix, number = string.match(seat, '^(.*%-)(%d+)$')
  if not prefix then
    return
  end
  local index = index_of_prefix[prefix]
  if index == nil then
    index = redis.call('HGET', rows_key, '#' .. prefix) or false
    index_of_prefix[prefix] = index
  end
  local values = index and row_values(index)
  number = tonumber(number)
  if values and number >= 1 and number <= #values then
    values[number] = seat_value(state)
    dirty_rows[index] = true
  end
end

local function install_row(index, prefix, n)
  local fields = {}
  for i = 1, n do
    fields[i] = prefix .. i
  end
  local states = redis.call('HMGET', seats_key, unpack(fields))
  local values = {}
  for i = 1, n do
    values[i] = seat_value(states[i])
  end
  redis.call('HSET', rows_key, '#' .. prefix, index, '@' .. index, prefix)
  index_of_prefix[prefix] = index
  row_cache[index] = values
  dirty_rows[index] = true
end

local function summarize(index, values, now)
  local longest, exact, run, due = 0, {}, 0, nil
  for i = 1, #values + 1 do
    local v = values[i]
    if v and (v == 0 or (v > 0 and v <= now)) then
      run = run + 1
    else
      if run > 0 then
        if run > longest then
          longest = run
        end
        exact[run] = true
        run = 0
      end
      if v and v > now and (due == nil or v < due) then
        due = v
      end
    end
  end
  local add, gone, row = {}, {}, tonumber(index)
  for count = 1, MAX_BLOCK do
    local member = count .. ':' .. index
    if longest >= count then
      local strands = (exact[count] or longest >= count + 2) and 0 or SPAN
      add[#add + 1] = count * 2 * SPAN + strands + row
      add[#add + 1] = member
    else
      gone[#gone + 1] = member
    end
  end
  if #add > 0 then
    redis.call('ZADD', fits_key, unpack(add))
  end
  if #gone > 0 then
    redis.call('ZREM', fits_key, unpack(gone))
  end
  if due then
    redis.call('ZADD', due_key, due, index)
  else
    redis.call('ZREM', due_key, index)
  end
end

local function save_rows(now)
  for index in pairs(dirty_rows) do
    local values = row_cache[index]
    redis.call('HSET', rows_key, index, table.concat(values, ','))
    summarize(index, values, now)
  end
  dirty_rows = {}
end
