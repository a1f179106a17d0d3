-- Read one coupon atomically. KEYS: coupon states, coupon->request, outcomes. ARGV: coupon id.
-- Returns {state text, claim outcome record} or {} when there is no such coupon.
local state = redis.call('HGET', KEYS[1], ARGV[1])
if not state then
  return {}
end
local request_id = redis.call('HGET', KEYS[2], ARGV[1])
return {state, redis.call('HGET', KEYS[3], request_id)}
