-- Admit and issue several claims of one stock, in order, in one atomic script call. Each claim
-- makes the checks of engine.decide.admit_claim, in its order, on the counters as Redis holds
-- them plus what the claims before it in this call changed; every check of every claim happens
-- before the first write of the call, which writes each counter once at the end. So a claim
-- later in the call sees the earlier ones (the last coupon, a limit, a request id sent twice),
-- exactly as if each claim were its own script; a rejection writes only its outcome.
-- The stored texts are cut by Python (engine.store.redis_args) around holes: the script only
-- joins codec-encoded pieces, it never encodes a value itself.
-- KEYS: 1 counters, 2 daily, 3 limits, 4 outcomes, 5 coupon->request, 6 coupon states,
--       7 expiry zset, 8 ledger, 9 coupon->person limit field (person-limited stocks).
-- ARGV: 1 quota, 2 daily quota or '', 3 daily budget or '', 4 coupon id prefix,
--       5-10 issued result around (seq, customer, value, claimed_s, valid_until_s),
--       11-12 refused result around (outcome), 13-17 ledger entry around (value, request id,
--       seq, claimed_s), 18 number of limits L, 19..18+L limit counts, 19+L position P of the
--       person limit among the limits (0: none; its field, [index, person, period], is kept
--       per coupon for reconciliation's recount); then per claim 9 + L
--       fields: request id, request json, value_fen drawn, min_value_fen, day key, and the
--       JSON of valid_until_s (also the expiry score), customer id, claimed_s and request id,
--       then L limit fields.
-- Returns one reply per claim: {'issued', seq, value}, {'refused', outcome},
-- {'replay', result}, {'conflict'} or {'unknown'} (no such stock).
local limit_count = tonumber(ARGV[18])
local person_limit = tonumber(ARGV[19 + limit_count])
local first = 20 + limit_count
local width = 9 + limit_count
local claims = (#ARGV - first + 1) / width
local counters = redis.call('HMGET', KEYS[1], 'issued', 'available_fen')
local replies = {}
if not counters[1] then
  for c = 1, claims do
    replies[c] = {'unknown'}
  end
  return replies
end
local issued_before = tonumber(counters[1])
local issued, available, claimed = issued_before, tonumber(counters[2]), 0
local quota = tonumber(ARGV[1])
local daily_quota = ARGV[2] ~= '' and tonumber(ARGV[2]) or nil
local daily_budget = ARGV[3] ~= '' and tonumber(ARGV[3]) or nil

local days, day_order = {}, {} -- day key -> {issued, reserved, issued here, reserved here}
local function day_of(key)
  local day = days[key]
  if not day then
    local now = redis.call('HMGET', KEYS[2], 'i:' .. key, 'r:' .. key)
    day = {tonumber(now[1] or '0'), tonumber(now[2] or '0'), 0, 0}
    days[key] = day
    day_order[#day_order + 1] = key
  end
  return day
end

local limits, limit_order = {}, {} -- limit field -> {used, used here}
local function limit_of(field)
  local limit = limits[field]
  if not limit then
    limit = {tonumber(redis.call('HGET', KEYS[3], field) or '0'), 0}
    limits[field] = limit
    limit_order[#limit_order + 1] = field
  end
  return limit
end

-- the outcome of one claim whose fields start after ARGV[b], or nil if every check passes
local function refusal(b, day)
  if issued >= quota then
    return 'sold_out'
  end
  if daily_quota and day[1] >= daily_quota then
    return 'daily_sold_out'
  end
  for i = 1, limit_count do
    if limit_of(ARGV[b + 9 + i])[1] >= tonumber(ARGV[18 + i]) then
      return 'limit_reached'
    end
  end
  return nil
end

local records, written = {}, {} -- request id -> record of this call; HSET arguments
local coupon_requests, coupon_states, expiry, ledger, persons = {}, {}, {}, {}, {}
local function issue(b, day, value)
  issued, available, claimed = issued + 1, available - value, claimed + value
  day[1], day[2], day[3], day[4] = day[1] + 1, day[2] + value, day[3] + 1, day[4] + value
  for i = 1, limit_count do
    local limit = limit_of(ARGV[b + 9 + i])
    limit[1], limit[2] = limit[1] + 1, limit[2] + 1
  end
  local seq, fen = int(issued), int(value)
  local coupon_id = ARGV[4] .. seq
  local valid, claimed = ARGV[b + 6], ARGV[b + 8]
  local n = #coupon_requests
  coupon_requests[n + 1], coupon_requests[n + 2] = coupon_id, ARGV[b + 1]
  coupon_states[n + 1], coupon_states[n + 2] = coupon_id, 'issued|1|' .. fen .. '|'
  expiry[n + 1], expiry[n + 2] = valid, coupon_id
  if person_limit > 0 then
    persons[n + 1], persons[n + 2] = coupon_id, ARGV[b + 9 + person_limit]
  end
  ledger[#ledger + 1] = ARGV[13] .. fen .. ARGV[14] .. ARGV[b + 9] .. ARGV[15] .. seq ..
    ARGV[16] .. claimed .. ARGV[17]
  -- the outcome record "<request json>\n<result json>" in one concatenation
  local record = ARGV[b + 2] .. '\n' .. ARGV[5] .. seq .. ARGV[6] .. ARGV[b + 7] .. ARGV[7] ..
    fen .. ARGV[8] .. claimed .. ARGV[9] .. valid .. ARGV[10]
  return record, {'issued', seq, fen}
end

local request_ids = {}
for c = 1, claims do
  request_ids[c] = ARGV[first + (c - 1) * width]
end
local stored = redis.call('HMGET', KEYS[4], unpack(request_ids)) -- false where none

local function claim(c, b)
  local request_id, request_text = ARGV[b + 1], ARGV[b + 2]
  local record = records[request_id] or stored[c]
  if record then
    return replay(record, request_text)
  end
  local day = day_of(ARGV[b + 5])
  local outcome = refusal(b, day)
  local value = 0
  if not outcome then
    local room = available
    if daily_budget then
      room = math.min(room, daily_budget - day[2])
    end
    value = math.min(tonumber(ARGV[b + 3]), room)
    if value < tonumber(ARGV[b + 4]) then
      outcome = 'budget_exhausted'
    end
  end
  local record, reply
  if outcome then
    record = request_text .. '\n' .. ARGV[11] .. outcome .. ARGV[12]
    reply = {'refused', outcome}
  else
    record, reply = issue(b, day, value)
  end
  records[request_id] = record
  written[#written + 1], written[#written + 2] = request_id, record
  return reply
end

for c = 1, claims do
  replies[c] = claim(c, first - 1 + (c - 1) * width)
end

-- every check is done: write
if issued > issued_before then
  redis.call('HINCRBY', KEYS[1], 'issued', issued - issued_before)
  redis.call('HINCRBY', KEYS[1], 'available_fen', -claimed)
  redis.call('HINCRBY', KEYS[1], 'reserved_fen', claimed)
  for _, key in ipairs(day_order) do
    local day = days[key]
    if day[3] > 0 then
      redis.call('HINCRBY', KEYS[2], 'i:' .. key, day[3])
      redis.call('HINCRBY', KEYS[2], 'r:' .. key, day[4])
    end
  end
  for _, field in ipairs(limit_order) do
    if limits[field][2] > 0 then
      redis.call('HINCRBY', KEYS[3], field, limits[field][2])
    end
  end
  redis.call('HSET', KEYS[5], unpack(coupon_requests))
  redis.call('HSET', KEYS[6], unpack(coupon_states))
  redis.call('ZADD', KEYS[7], unpack(expiry))
  redis.call('RPUSH', KEYS[8], unpack(ledger))
  if #persons > 0 then
    redis.call('HSET', KEYS[9], unpack(persons))
  end
end
if #written > 0 then
  redis.call('HSET', KEYS[4], unpack(written))
end
return replies
