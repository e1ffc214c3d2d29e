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
row_values(index): the row's values as numbers (decoded once per script run), or nil.
save_rows(now): write every row set_seat or install_row changed, with its summary.

Cost (issue 11): a seat change costs its row one HGET and one HSET of the values, decoded
by cjson (C) and encoded with each distinct value formatted once; of the summary only what
differs from the stored one is written (a one-seat change rarely changes any fits member
or the due score). The stored summary is known without reading it: it was made from the
values this script found, as of the row's last change or search, and a summary as of now
differs from it only if a hold on the row lapsed in between; then the stored due says.
So a summary that drifted from its values is no longer rewritten by the row's next change,
only whole: by a rebuild (install_row: reconcile's index repair, hold_best's drift check)
or by hold_best's summarize (of a due row, or of one whose summary promised a choice).
]]
local SPAN = 16777216  -- 2^24: rows an event's summary scores tell apart
local MAX_BLOCK = 8
-- Per row index touched by this script run: its values (false: no such row), whether they
-- changed, its values as this run found them (the stored summary's, false once the row
-- is rebuilt or summarized whole) and, per seat-id prefix, its row index (false: none).
local row_cache, dirty_rows, row_before, index_of_prefix = {}, {}, {}, {}

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
    values = text and cjson.decode('[' .. text .. ']') or false
    row_cache[index] = values
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
    if row_before[index] == nil then
      row_before[index] = {unpack(values)}  -- what the stored summary was made from
    end
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
  row_before[index] = false  -- rebuilt: its summary is written whole
end

-- The row's summary as of now: scores[count] (its fits score, false when no choice of
-- count seats fits), the earliest hold expiry ahead (nil: none), and whether a hold on the
-- row has lapsed (a value that is an expiry at or before now).
local function summary_of(index, values, now)
  local longest, exact, run, due, lapsed = 0, {}, 0, nil, false
  for i = 1, #values do
    local v = values[i]
    if v == 0 or (v > 0 and v <= now) then
      run = run + 1
      lapsed = lapsed or v > 0
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
  local scores, row = {}, tonumber(index)
  for count = 1, MAX_BLOCK do
    scores[count] = longest >= count
      and count * 2 * SPAN + ((exact[count] or longest >= count + 2) and 0 or SPAN) + row
  end
  return scores, due, lapsed
end

-- Store a row's summary, writing only what differs from the stored one (before_scores and
-- before_due; before_scores nil: unknown, write it whole).
local function write_summary(index, scores, due, before_scores, before_due)
  local add, gone = {}, {}
  for count = 1, MAX_BLOCK do
    local score = scores[count]
    if not before_scores or score ~= before_scores[count] then
      if score then
        add[#add + 1] = score
        add[#add + 1] = count .. ':' .. index
      else
        gone[#gone + 1] = count .. ':' .. index
      end
    end
  end
  if #add > 0 then
    redis.call('ZADD', fits_key, unpack(add))
  end
  if #gone > 0 then
    redis.call('ZREM', fits_key, unpack(gone))
  end
  if not before_scores or due ~= before_due then
    if due then
      redis.call('ZADD', due_key, due, index)
    else
      redis.call('ZREM', due_key, index)
    end
  end
end

local function summarize(index, values, now)
  local scores, due = summary_of(index, values, now)
  write_summary(index, scores, due, nil, nil)
  if dirty_rows[index] then
    row_before[index] = false  -- stored as of other values than this run found
  end
end

-- The stored summary of a row whose values were `before` when this run first changed them
-- (scores, due), or nil when unknown. It was made from them as of some instant up to now
-- (their last change or search) and equals their summary as of now unless a hold on the
-- row lapsed in between: then the stored due, the earliest expiry after that instant, is
-- at or before now.
local function stored_summary(index, before, now)
  if not before then
    return nil
  end
  local scores, due, lapsed = summary_of(index, before, now)
  if lapsed then
    local stored_due = redis.call('ZSCORE', due_key, index)
    if stored_due and tonumber(stored_due) <= now then
      return nil
    end
  end
  return scores, due
end

local function save_rows(now)
  for index in pairs(dirty_rows) do
    local values = row_cache[index]
    redis.call('HSET', rows_key, index, encode(values))
    local scores, due = summary_of(index, values, now)
    local before_scores, before_due = stored_summary(index, row_before[index], now)
    write_summary(index, scores, due, before_scores, before_due)
  end
  dirty_rows, row_before = {}, {}
end
