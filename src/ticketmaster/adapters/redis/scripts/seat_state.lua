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
                   "=<index>"  -> a copy of the row's summary as fits and due hold it:
                                  per count 1..8 "c" (a choice strands no seat), "s"
                                  (every choice strands one) or "-" (none), then "|"
                                  and the due score ("" when the row has none)
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
summarize(index, values, now): store the row's summary as of now, whole.
row_values(index): the row's values as numbers (decoded once per script run), or nil.
save_rows(now): write every row set_seat or install_row changed, with its summary.

Cost (issue 11): a seat change costs its row one HMGET (values and summary copy) and one
HSET; the values are decoded by cjson (C) and encoded with each distinct value formatted
once, and of the summary only what differs from the copy is written: a one-seat change
rarely changes any fits member or the due score. Every summary write goes through
write_summary, which keeps the copy in step; a row without a copy (rebuilt, or stored by
an older version) has its summary written whole. So a summary that drifted from its copy
is not rewritten by the row's next change, only by a rebuild (install_row: reconcile's
index repair, hold_best's drift check); the index check (domain/availability.py) compares
the copy with the sorted sets too. (Scripts of a version without the copy, still running
beside this one, would leave copies stale: the check reports those rows, reconcile
rebuilds them.)
]]
local SPAN = 16777216  -- 2^24: rows an event's summary scores tell apart
local MAX_BLOCK = 8
-- Per row index touched by this script run: its values (false: no such row), whether they
-- changed, its summary copy (false: none, write the summary whole) and, per seat-id prefix,
-- its row index (false: none).
local row_cache, dirty_rows, summary_copy, index_of_prefix = {}, {}, {}, {}

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
    local found = redis.call('HMGET', rows_key, index, '=' .. index)
    values = found[1] and cjson.decode('[' .. found[1] .. ']') or false
    row_cache[index] = values
    summary_copy[index] = found[2] or false
  end
  return values or nil
end

-- "v1,v2,...", each distinct value formatted once per script run (a row holds few: 0, -1
-- and the expiry of each hold on it).
local formatted = {[0] = '0', [-1] = '-1'}
local function encode(values)
  local texts = {}
  for i = 1, #values do
    local v = values[i]
    local text = formatted[v]
    if not text then
      text = tostring(v)
      formatted[v] = text
    end
    texts[i] = text
  end
  return table.concat(texts, ',')
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
  summary_copy[index] = false  -- rebuilt: its summary is written whole
end

-- The row's summary as of now, as its copy is stored ("=<index>" above).
local function summary_of(values, now)
  local longest, exact, run, due = 0, {}, 0, nil
  for i = 1, #values do
    local v = values[i]
    if v == 0 or (v > 0 and v <= now) then
      run = run + 1
    else
      if run > 0 then
        if run > longest then
          longest = run
        end
        exact[run] = true
        run = 0
      end
      if v > now and (due == nil or v < due) then
        due = v
      end
    end
  end
  if run > 0 then  -- the run at the row's end
    if run > longest then
      longest = run
    end
    exact[run] = true
  end
  local marks = {}
  for count = 1, MAX_BLOCK do
    marks[count] = longest < count and '-' or ((exact[count] or longest >= count + 2) and 'c' or 's')
  end
  return table.concat(marks) .. '|' .. (due and string.format('%d', due) or '')
end

-- Write the fits members and due score of a row's summary (its copy's text) that differ
-- from the copy stored before (false: write them all); returns whether anything differed.
local function write_summary(index, summary, before)
  if summary == before then
    return false
  end
  local add, gone = {}, {}
  for count = 1, MAX_BLOCK do
    local mark = string.sub(summary, count, count)
    if not before or mark ~= string.sub(before, count, count) then
      if mark == '-' then
        gone[#gone + 1] = count .. ':' .. index
      else
        add[#add + 1] = count * 2 * SPAN + (mark == 'c' and 0 or SPAN) + tonumber(index)
        add[#add + 1] = count .. ':' .. index
      end
    end
  end
  if #add > 0 then
    redis.call('ZADD', fits_key, unpack(add))
  end
  if #gone > 0 then
    redis.call('ZREM', fits_key, unpack(gone))
  end
  local due = string.sub(summary, MAX_BLOCK + 2)
  if not before or due ~= string.sub(before, MAX_BLOCK + 2) then
    if due ~= '' then
      redis.call('ZADD', due_key, due, index)
    else
      redis.call('ZREM', due_key, index)
    end
  end
  summary_copy[index] = summary
  return true
end

local function summarize(index, values, now)
  write_summary(index, summary_of(values, now), false)
  if row_cache[index] then
    redis.call('HSET', rows_key, '=' .. index, summary_copy[index])
  end
end

local function save_rows(now)
  for index in pairs(dirty_rows) do
    local values = row_cache[index]
    if write_summary(index, summary_of(values, now), summary_copy[index]) then
      redis.call('HSET', rows_key, index, encode(values), '=' .. index, summary_copy[index])
    else
      redis.call('HSET', rows_key, index, encode(values))
    end
  end
  dirty_rows = {}
end
