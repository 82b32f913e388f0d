"""The Lua scripts RedisStore runs: each one a single atomic step of the StateStore contract.

Every script gets KEYS = recording hash, spec counter, chunk rows, seq map, finalize lease,
id index; ARGV[1] = recordId. Chunk rows are "seq|size|state|created_at" (seq empty if none).
Refusals: {-2} unknown recording, {-1, state} recording not live.
"""

from __future__ import annotations

_LIVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-2} end
if state ~= 'recording' then return {-1, state} end
"""

START = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'recording', 'chunks', 0, 'bytes', 0,
             'created_at', ARGV[2], 'updated_at', ARGV[2])
  redis.call('SET', KEYS[2], 0)
  redis.call('ZADD', KEYS[6], ARGV[2], ARGV[1])
  return {1}
end
if state ~= 'recording' then return {-1, state} end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- the counter was lost: rebuild it from the rows (storage is checked by the service)
  local next = 0
  for _, idx in ipairs(redis.call('HKEYS', KEYS[3])) do
    if tonumber(idx) >= next then next = tonumber(idx) + 1 end
  end
  redis.call('SET', KEYS[2], next)
end
return {0}
"""

RESERVE = (
    _LIVE
    + """
local seq, size, now = ARGV[2], ARGV[3], ARGV[4]
if seq ~= '' then
  local seen = redis.call('HGET', KEYS[4], seq)
  if seen then
    local row = redis.call('HGET', KEYS[3], seen)
    if row then
      local _, _, _, rsize, rstate = string.find(row, '^([^|]*)|([^|]*)|([^|]*)|')
      return {1, tonumber(seen), rsize, rstate}
    end
  end
end
if ARGV[5] ~= '' then
  local stored = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
  if stored + tonumber(size) > tonumber(ARGV[5]) then return {-4} end
end
local idx = redis.call('INCR', KEYS[2]) - 1
redis.call('HSET', KEYS[3], idx, seq .. '|' .. size .. '|pending|' .. now)
if seq ~= '' then redis.call('HSET', KEYS[4], seq, idx) end
redis.call('HSET', KEYS[1], 'updated_at', now)
return {0, idx}
"""
)

COMMIT = """
local row = redis.call('HGET', KEYS[3], ARGV[2])
if not row then return 0 end
local _, _, seq, size, state, created = string.find(row, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
if state ~= 'pending' then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], seq .. '|' .. size .. '|stored|' .. created)
redis.call('HINCRBY', KEYS[1], 'chunks', 1)
redis.call('HINCRBY', KEYS[1], 'bytes', size)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
return 1
"""

RELEASE = """
local row = redis.call('HGET', KEYS[3], ARGV[2])
if not row then return 0 end
local _, _, seq, state = string.find(row, '^([^|]*)|[^|]*|([^|]*)|')
if state ~= 'pending' then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
if seq ~= '' then redis.call('HDEL', KEYS[4], seq) end
return 1
"""

ENSURE_NEXT = """
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
return 1
"""

BEGIN = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-2} end
if state == 'ready' then return {0} end
if not redis.call('SET', KEYS[5], ARGV[2], 'NX', 'PX', ARGV[3]) then return {-3} end
redis.call('HSET', KEYS[1], 'state', 'processing', 'updated_at', ARGV[4], 'error', '')
return {1}
"""

SEAL = """
local function mark(list, to)
  for idx in string.gmatch(list, '[^,]+') do
    local row = redis.call('HGET', KEYS[3], idx)
    if row then
      local _, _, seq, size, state, created = string.find(row, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
      if state == 'pending' then
        redis.call('HSET', KEYS[3], idx, seq .. '|' .. size .. '|' .. to .. '|' .. created)
      end
    end
  end
end
mark(ARGV[2], 'stored')
mark(ARGV[3], 'abandoned')
for idx, size in string.gmatch(ARGV[4], '(%d+):(%d+)') do
  redis.call('HSETNX', KEYS[3], idx, '|' .. size .. '|stored|0')
end
local chunks, bytes = 0, 0
for _, row in ipairs(redis.call('HVALS', KEYS[3])) do
  local _, _, size, state = string.find(row, '^[^|]*|([^|]*)|([^|]*)|')
  if state == 'stored' then chunks = chunks + 1; bytes = bytes + tonumber(size) end
end
redis.call('HSET', KEYS[1], 'chunks', chunks, 'bytes', bytes)
return 1
"""

FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-2} end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'updated_at', ARGV[4], 'duration_ms', ARGV[5],
           'final_bytes', ARGV[6], 'error', ARGV[7], 'warnings', ARGV[8],
           'final_name', ARGV[9], 'poster', ARGV[10])
if ARGV[3] == 'ready' then
  -- the spec: the counter is deleted after finalize; keep its last value in the hash
  redis.call('HSET', KEYS[1], 'next_index', redis.call('GET', KEYS[2]) or 0)
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[5]) == ARGV[2] then redis.call('DEL', KEYS[5]) end
return {1}
"""

MEDIA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'container', ARGV[2], 'video_codec', ARGV[3], 'audio_codec', ARGV[4])
return 1
"""

# Derivatives: a JSON object in the recording hash (field `derivatives`), and a queue of jobs
# (a sorted set: "recordId<TAB>kind" -> when it is due) with attempts counted in a hash.
# KEYS: the recording hash, the queue, the attempts hash.
ENQUEUE_DERIVATIVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[1], 'derivatives')
local found = (raw and raw ~= '') and cjson.decode(raw) or {}
if found[ARGV[2]] and found[ARGV[2]].status == 'ready' then return 0 end
found[ARGV[2]] = {status = 'pending'}
redis.call('HSET', KEYS[1], 'derivatives', cjson.encode(found))
local job = ARGV[1] .. '\t' .. ARGV[2]
redis.call('ZADD', KEYS[2], ARGV[3], job)
redis.call('HDEL', KEYS[3], job)
return 1
"""

# KEYS: the queue, the attempts hash. ARGV: now, lease, recordId or ''.
CLAIM_DERIVATIVE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, job in ipairs(due) do
  if ARGV[3] == '' or string.sub(job, 1, #ARGV[3] + 1) == ARGV[3] .. '\t' then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), job)
    return {job, redis.call('HINCRBY', KEYS[2], job, 1)}
  end
end
return nil
"""

# KEYS: the recording hash, the queue, the attempts hash.
# ARGV: recordId, kind, status, error, retry_at or ''.
FINISH_DERIVATIVE = """
local job = ARGV[1] .. '\t' .. ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then
  local raw = redis.call('HGET', KEYS[1], 'derivatives')
  local found = (raw and raw ~= '') and cjson.decode(raw) or {}
  local entry = {status = ARGV[3]}
  if ARGV[4] ~= '' then entry.error = ARGV[4] end
  found[ARGV[2]] = entry
  redis.call('HSET', KEYS[1], 'derivatives', cjson.encode(found))
end
if ARGV[3] == 'pending' and ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[5], job)
else
  redis.call('ZREM', KEYS[2], job)
  redis.call('HDEL', KEYS[3], job)
end
return 1
"""

POSTER = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'poster', '1')
return 1
"""

SCRIPTS = {
    "start": START,
    "reserve": RESERVE,
    "commit": COMMIT,
    "release": RELEASE,
    "ensure_next": ENSURE_NEXT,
    "begin": BEGIN,
    "seal": SEAL,
    "finish": FINISH,
    "media": MEDIA,
    "poster": POSTER,
    "enqueue_derivative": ENQUEUE_DERIVATIVE,
    "claim_derivative": CLAIM_DERIVATIVE,
    "finish_derivative": FINISH_DERIVATIVE,
}
