--[[ queue_admit.lua: one step of the admission ticker for one event.

KEYS[1]  issued  str   numbers handed out so far (the queue's one counter)
KEYS[2]  state   hash  m seed opened (the pre-queue freeze); a (admitted up to), cum
                       (buyers admitted ever), xu/xc (up-to and cum of the newest lapsed log
                       entry), last (ms of the last step), carry, rate (measured positions/s),
                       rcfg (configured rate/min), win (window ms), hbms/hbttl (heartbeat
                       bucket length and lifetime, published for the heartbeat writers), ra
                       (readmitted returners whose window runs, for the status path's view)
KEYS[3]  log     zset  "<upTo>:<atMs>:<cum>" scored by upTo, one per step that moved the counter
KEYS[4]  skipped     bitmap  bit = position: passed over as silent (see "Returners")
KEYS[5]  returning   zset    skipped positions that polled again, scored by position
                             (written by queue_return.lua)
KEYS[6]  readmitted  zset    returners readmitted by this script, scored by readmission ms
KEYS[7..] seen       bitmaps the heartbeat ring (heartbeats.lua; the state hash's hb<slot>
                             fields say which bucket each holds)
ARGV[1]  on-sale time, Unix ms       ARGV[2] seed to keep if this step freezes the pre-queue
ARGV[3]  admission rate per minute   ARGV[4] max concurrently admitted buyers
ARGV[5]  admission window ms         ARGV[6] heartbeat timeout ms
ARGV[7]  heartbeat bucket ms         ARGV[8] most positions examined in one step
ARGV[9]  time constant of the measured rate (EWMA), ms
ARGV[10] most time credited to one step, ms   ARGV[11] ttl ms of the queue keys
ARGV[12] heartbeat bucket ttl ms   ARGV[13] epoch to keep if the queue has none yet

Returns {"CLOSED"} before the on-sale time, else
  {a, admitted this step, skipped this step, active admissions, issued, rate (string),
   returners readmitted this step}

What a step does: freeze the pre-queue if the sale just opened (as queue_join.lua does);
forget log entries older than the window (their buyers' admissions have lapsed, so they
no longer count against the cap); then move the counter forward over at most
rate x (time since the previous step) live waiters, and never so far that the admissions
younger than the window exceed the cap. A waiter is live when its position has a
heartbeat bit in one of the buckets covering the timeout, or, for the pre-queue, during
the first timeout after the opening (nobody could poll under a position before the
shuffle). Silent waiters are passed over without using budget or cap: abandoners cannot
stall the line.

Returners. A passed-over position gets its bit in `skipped`, and then holds no admission:
the status path answers it "waiting" (never a token) and, when it polls again, records it in
`returning` (queue_return.lua, which also sets its heartbeat bit). Each step first forgets
readmissions older than the window (clearing their `skipped` bit, so the position reads as
an ordinary lapsed admission from then on), then readmits returners in position order
before moving the counter: same allowance (rate x time), same cap. A returner is readmitted
only if it is live by the same heartbeat rule, else it is dropped from `returning` (it stays
skipped; polling again records it again). A readmitted returner's admission runs one window
from its readmission time, its score in `readmitted`, which the status path binds its
token to. So after every step (and in between, when admissions can only lapse)

  active = (cum - xc)            counter admissions younger than the window (the log)
         + ZCARD readmitted      readmissions younger than the window
        <= cap

and no position ever holds an admission this script did not count. The log and its lapse
accounting (ZREMRANGEBYSCORE on upTo, xu/xc) are about the counter alone: readmissions
never enter it.

Atomicity and several workers: the script runs alone on the event's slot and credits
only the time since the previous step of *any* worker (Redis TIME), so any number of
tickers together admit at the configured rate, never faster.
]]
local issued_key, state_key, log_key = KEYS[1], KEYS[2], KEYS[3]
local skipped_key, returning_key, readmitted_key = KEYS[4], KEYS[5], KEYS[6]
local seen_keys = {unpack(KEYS, 7)}
local on_sale_ms, seed = tonumber(ARGV[1]), ARGV[2]
local rate_cfg, cap, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local timeout, bucket_ms, scan_max = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local rate_time_constant_ms, max_credit_ms = tonumber(ARGV[9]), tonumber(ARGV[10])
local queue_ttl_ms, bucket_ttl_ms, new_epoch = tonumber(ARGV[11]), ARGV[12], ARGV[13]
--#include heartbeats.lua

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < on_sale_ms then
  return {'CLOSED'}
end

local issued = tonumber(redis.call('GET', issued_key) or '0')
local f = redis.call('HMGET', state_key, 'm', 'opened', 'a', 'cum', 'xu', 'xc', 'last', 'carry', 'rate', 'ep')
if not f[10] then
  redis.call('HSET', state_key, 'ep', new_epoch)
end
local m, opened = tonumber(f[1]), tonumber(f[2])
if not m then
  m, opened = issued, now
  redis.call('HSET', state_key, 'm', m, 'seed', seed, 'opened', opened)
end
local a = tonumber(f[3]) or 0
local cum = tonumber(f[4]) or 0
local xu, xc = tonumber(f[5]) or 0, tonumber(f[6]) or 0
local last = tonumber(f[7]) or opened
local carry = tonumber(f[8]) or 0
local rate = tonumber(f[9]) or rate_cfg / 60

-- Admissions older than the window have lapsed: drop their log entries, remember the newest.
while true do
  local head = redis.call('ZRANGE', log_key, 0, 63)
  local dropped = 0
  for _, entry in ipairs(head) do
    local upto, at, c = string.match(entry, '^(%d+):(%d+):(%d+)$')
    if tonumber(at) + window > now then
      break
    end
    xu, xc, dropped = tonumber(upto), tonumber(c), dropped + 1
  end
  if dropped > 0 then
    redis.call('ZREMRANGEBYSCORE', log_key, '-inf', xu)
  end
  if dropped < 64 then
    break
  end
end

-- Readmissions older than the window have lapsed: the position reads as lapsed from now on.
while true do
  local gone = redis.call('ZRANGEBYSCORE', readmitted_key, '-inf', now - window, 'LIMIT', 0, 256)
  for _, position in ipairs(gone) do
    redis.call('SETBIT', skipped_key, position, 0)
  end
  if #gone > 0 then
    redis.call('ZREM', readmitted_key, unpack(gone))
  end
  if #gone < 256 then
    break
  end
end
local back = redis.call('ZCARD', readmitted_key)

local heard = seen_in(math.floor((now - timeout) / bucket_ms), math.floor(now / bucket_ms))
local function live(position)
  if position <= m and now < opened + timeout then
    return true
  end
  return heard(position)
end

local elapsed = math.min(math.max(now - last, 0), max_credit_ms)
local budget = carry + rate_cfg * elapsed / 60000
local allowance = math.min(math.floor(budget), cap - (cum - xc) - back)

-- Returners first, in position order; every one examined leaves `returning`.
local readmitted, examined = 0, 0
while readmitted < allowance and examined < scan_max do
  local batch = redis.call('ZRANGE', returning_key, 0, 63)
  if #batch == 0 then
    break
  end
  for _, position in ipairs(batch) do
    if readmitted >= allowance or examined >= scan_max then
      break
    end
    examined = examined + 1
    redis.call('ZREM', returning_key, position)
    if live(tonumber(position)) then
      redis.call('ZADD', readmitted_key, now, position)
      readmitted = readmitted + 1
    end
  end
end

local limit = math.min(issued, a + scan_max)
local a0, admitted, skipped = a, 0, 0
while admitted + readmitted < allowance and a < limit do
  a = a + 1
  if live(a) then
    admitted = admitted + 1
  else
    redis.call('SETBIT', skipped_key, a, 1)
    skipped = skipped + 1
  end
end
cum = cum + admitted
back = back + readmitted

-- Unused budget is kept only below one buyer (no bursts after a stall or an empty queue).
carry = budget - admitted - readmitted
if carry >= 1 then
  carry = 0
end
-- The counter's speed is measured only while waiters remain behind it (a drained queue
-- says nothing about how fast the line moves).
if elapsed > 0 and a < issued then
  local alpha = 1 - math.exp(-elapsed / rate_time_constant_ms)
  rate = rate + alpha * ((a - a0) * 1000 / elapsed - rate)
end
if a > a0 then
  redis.call('ZADD', log_key, a, a .. ':' .. now .. ':' .. cum)
end
redis.call('HSET', state_key, 'a', a, 'cum', cum, 'xu', xu, 'xc', xc, 'last', now,
  'carry', tostring(carry), 'rate', tostring(rate), 'rcfg', rate_cfg, 'win', window,
  'hbms', bucket_ms, 'hbttl', bucket_ttl_ms, 'ra', back)
redis.call('PEXPIRE', issued_key, queue_ttl_ms)
redis.call('PEXPIRE', state_key, queue_ttl_ms)
redis.call('PEXPIRE', log_key, queue_ttl_ms)
redis.call('PEXPIRE', skipped_key, queue_ttl_ms)
redis.call('PEXPIRE', returning_key, queue_ttl_ms)
redis.call('PEXPIRE', readmitted_key, queue_ttl_ms)
return {a, admitted, skipped, cum - xc + back, issued, tostring(rate), readmitted}
