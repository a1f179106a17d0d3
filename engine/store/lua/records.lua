-- Read every record of one stock in one atomic step: the snapshot reconciliation replays
-- (engine.store.base.StockRecords), with no claim landing between two of its parts.
-- KEYS: 1 counters, 2 ledger, 3 coupon->request, 4 outcomes, 5 coupon states, 6 limits,
--       7 daily, 8 coupon->person limit field. ARGV: 1 coupon id prefix ("<stock id>.").
-- Returns {'unknown'} when there is no such stock, else {'records', counters (HGETALL pairs),
-- ledger entries, claim outcome records and coupon state texts of coupons 1..issued (in issue
-- order), limits, daily and persons (HGETALL pairs)}. Fields are read 1000 at a time (unpack
-- has a bound); the script runs alone however long it takes, like every script.
local counters = redis.call('HGETALL', KEYS[1])
if #counters == 0 then
  return {'unknown'}
end
local function hmget(key, fields)
  local found = {}
  for start = 1, #fields, 1000 do
    local part = {}
    for i = start, math.min(#fields, start + 999) do
      part[#part + 1] = fields[i]
    end
    local got = redis.call('HMGET', key, unpack(part))
    for i = 1, #part do
      found[#found + 1] = got[i]
    end
  end
  return found
end
local ids = {}
for seq = 1, tonumber(redis.call('HGET', KEYS[1], 'issued')) do
  ids[seq] = ARGV[1] .. seq
end
local records = hmget(KEYS[4], hmget(KEYS[3], ids))
return {'records', counters, redis.call('LRANGE', KEYS[2], 0, -1), records,
  hmget(KEYS[5], ids), redis.call('HGETALL', KEYS[6]), redis.call('HGETALL', KEYS[7]),
  redis.call('HGETALL', KEYS[8])}
