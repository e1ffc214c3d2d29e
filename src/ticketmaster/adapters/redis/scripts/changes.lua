--[[ changes.lua: not a script of its own; `--#include changes.lua` lines of the seat
scripts are replaced by this text when they are loaded (seat_gate.load_script), so every
script that bumps an event's seat-map version logs the change the same way.

log_changes(key, version, fields): append the entry "<version>-0" to the event's seat change
log (RedisKeys.seat_changes), whose readers (RedisSeatGate.changes_since) replay it to keep a
snapshot current without reading the whole seats hash.
]]
-- The seat change log (RedisKeys.seat_changes): one entry per version bump, id
-- "<version>-0", seat id -> new raw state ("" = AVAILABLE), "-" when no seat changed, "*reset"
-- when readers must take a snapshot. Trimmed to ~10000 entries (CHANGE_LOG_MAXLEN).
local function log_changes(key, version, fields)
  local id = string.format('%d-0', version)
  if #fields == 0 then
    fields = {'-', ''}
  elseif #fields > 2000 then
    fields = {'*reset', ''}  -- too big to replay cheaply (or to unpack)
  end
  local added = redis.pcall('XADD', key, 'MAXLEN', '~', 10000, id, unpack(fields))
  if type(added) == 'table' and added.err then
    -- The log is ahead of the version (its key was lost): restart the log from here.
    redis.call('DEL', key)
    redis.call('XADD', key, id, '*reset', '')
  end
end
