-- Create a stock with its budget funded, idempotent by request id.
-- KEYS: 1 counters, 2 spec, 3 ledger, 4 outcomes. ARGV: 1 spec json, 2 quota, 3 budget_fen,
-- 4 fund entry json, 5 request id, 6 request json, 7 result json (the status once created).
-- Returns {'exists', stored spec} when the stock exists (Python compares the definitions
-- first, then records the request like any other), {'replay', result} or {'conflict'} for a
-- used request id, else {'new', result}.
local stored = redis.call('GET', KEYS[2])
if stored then
  return {'exists', stored}
end
local p = prior(KEYS[4], ARGV[5], ARGV[6])
if p then
  return p
end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'quota', ARGV[2], 'budget_fen', ARGV[3], 'available_fen', ARGV[3],
  'reserved_fen', '0', 'spent_fen', '0', 'issued', '0', 'redeemed', '0', 'expired', '0')
redis.call('RPUSH', KEYS[3], ARGV[4])
return save(KEYS[4], ARGV[5], ARGV[6], ARGV[7])
