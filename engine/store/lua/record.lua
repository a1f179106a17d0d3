-- Record a stateless rejection. KEYS: outcomes. ARGV: request id, request json, result json.
local p = prior(KEYS[1], ARGV[1], ARGV[2])
if p then
  return p
end
return save(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
