-- Expire this stock's issued coupons valid until <= until_s. KEYS: 1 counters, 2 this stock's
-- part of each expiry request (its own hash: an expiry's request id is store-wide, never one of
-- the stock's request ids), 3 coupon states, 4 expiry zset, 5 ledger. ARGV: 1 request id,
-- 2 request json, 3 until_s, 4 request id as json, 5 until_s as json.
-- Result: {"expired_coupons":N,"released_fen":M}.
local p = prior(KEYS[2], ARGV[1], ARGV[2])
if p then
  return p
end
local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[3])
local count, released = 0, 0
for _, coupon_id in ipairs(due) do
  local state = redis.call('HGET', KEYS[3], coupon_id)
  local name, version, value = string.match(state, '^(%a+)|(%d+)|(%d+)|')
  if name == 'issued' then
    redis.call('HSET', KEYS[3], coupon_id,
      'expired|' .. int(tonumber(version) + 1) .. '|' .. value .. '|')
    redis.call('RPUSH', KEYS[5], '["expire",' .. value .. ',' .. ARGV[4] .. ',"' .. coupon_id
      .. '",' .. ARGV[5] .. ']')
    count = count + 1
    released = released + tonumber(value)
  end
  redis.call('ZREM', KEYS[4], coupon_id)
end
if count > 0 then
  redis.call('HINCRBY', KEYS[1], 'reserved_fen', -released)
  redis.call('HINCRBY', KEYS[1], 'available_fen', released)
  redis.call('HINCRBY', KEYS[1], 'expired', count)
end
return save(KEYS[2], ARGV[1], ARGV[2],
  '{"expired_coupons":' .. int(count) .. ',"released_fen":' .. int(released) .. '}')
