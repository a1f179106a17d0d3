-- Compare-and-set a stock's budget: the checks of engine.decide.decide_budget.
-- KEYS: 1 counters, 2 outcomes, 3 ledger. ARGV: 1 request id, 2 request json,
-- 3 expected budget, 4 new budget, 5-7 result around (outcome, budget), 8-10 ledger entry
-- around (movement, amount).
local p = prior(KEYS[2], ARGV[1], ARGV[2])
if p then
  return p
end
local now = redis.call('HMGET', KEYS[1], 'budget_fen', 'reserved_fen', 'spent_fen')
if not now[1] then
  return {'unknown'}
end
local budget, committed = tonumber(now[1]), tonumber(now[2]) + tonumber(now[3])
local new = tonumber(ARGV[4])
local outcome = 'ok'
if budget ~= tonumber(ARGV[3]) then
  outcome = 'budget_changed'
elseif new < committed then
  outcome = 'budget_below_committed'
end
if outcome == 'ok' and new ~= budget then
  local delta = new - budget
  local movement = 'fund'
  if delta < 0 then
    movement = 'defund'
  end
  redis.call('HINCRBY', KEYS[1], 'budget_fen', delta)
  redis.call('HINCRBY', KEYS[1], 'available_fen', delta)
  redis.call('RPUSH', KEYS[3], ARGV[8] .. movement .. ARGV[9] .. int(math.abs(delta)) .. ARGV[10])
  budget = new
end
return save(KEYS[2], ARGV[1], ARGV[2], ARGV[5] .. outcome .. ARGV[6] .. int(budget) .. ARGV[7])
