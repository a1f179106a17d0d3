-- Apply a redemption or refund decided in Python, if what it was decided on is unchanged
-- (compare-and-set on the coupon state text and the redemption json); otherwise {'retry'}.
-- KEYS: 1 counters, 2 outcomes, 3 coupon states, 4 redemptions, 5 ledger, 6 expiry zset.
-- ARGV: 1 request id, 2 request json, 3 result json, 4 coupon id, 5 expected coupon state,
--       6 new coupon state or '', 7 redemption id or '', 8 expected redemption json or '',
--       9 new redemption json or '', 10-13 deltas of available, reserved, spent, redeemed,
--       14 expiry score or '' (a returned coupon), 15.. ledger entries.
local p = prior(KEYS[2], ARGV[1], ARGV[2])
if p then
  return p
end
if redis.call('HGET', KEYS[3], ARGV[4]) ~= ARGV[5] then
  return {'retry'}
end
if ARGV[8] ~= '' and redis.call('HGET', KEYS[4], ARGV[7]) ~= ARGV[8] then
  return {'retry'}
end
local names = {'available_fen', 'reserved_fen', 'spent_fen', 'redeemed'}
local now = redis.call('HMGET', KEYS[1], unpack(names))
for i = 1, 4 do
  if tonumber(now[i]) + tonumber(ARGV[9 + i]) < 0 then
    return {'retry'}
  end
end
-- every check passed: write
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[7], ARGV[9])
end
for i = 1, 4 do
  if tonumber(ARGV[9 + i]) ~= 0 then
    redis.call('HINCRBY', KEYS[1], names[i], ARGV[9 + i])
  end
end
if ARGV[14] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[14], ARGV[4])
end
for i = 15, #ARGV do
  redis.call('RPUSH', KEYS[5], ARGV[i])
end
return save(KEYS[2], ARGV[1], ARGV[2], ARGV[3])
