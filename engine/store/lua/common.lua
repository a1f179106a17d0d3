-- Shared prelude of every Couponlab script (prepended by engine/store/redis_scripts.py).
-- Outcome records are "<request json>\n<result json>": the request text is the fingerprint.

local function int(n)
  return string.format('%d', n)
end

-- {'replay', result} when the outcome record is of the same request, else {'conflict'}.
local function replay(record, request_text)
  local n = #request_text
  if string.sub(record, 1, n) == request_text and string.sub(record, n + 1, n + 1) == '\n' then
    return {'replay', string.sub(record, n + 2)}
  end
  return {'conflict'}
end

-- {'replay', result} when this request id has an outcome for the same request,
-- {'conflict'} when it was used by another request, nil when it is new.
local function prior(outcomes_key, request_id, request_text)
  local record = redis.call('HGET', outcomes_key, request_id)
  if not record then
    return nil
  end
  return replay(record, request_text)
end

local function save(outcomes_key, request_id, request_text, result)
  redis.call('HSET', outcomes_key, request_id, request_text .. '\n' .. result)
  return {'new', result}
end
