package redisprojection

import "github.com/redis/go-redis/v9"

// Every script starts with the same prelude: effect replication (a no-op
// from Redis 5 on, needed before 5 for a script that writes after reading
// TIME), the server's clock in milliseconds, and the lease value parser.
//
// A lease is one field of the projection's leases hash, keyed by shard,
// valued "<token>:<expiry ms>:<owner>" (owner last, so it may hold any
// byte; expiry 0 and an empty owner once released). Tokens are compared as
// decimal strings, and incremented exactly up to 2^53.
const prelude = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function parse(v)
  local tok, exp, owner = string.match(v, '^(%d+):(%d+):(.*)$')
  if not tok then
    return redis.error_reply('CORRUPT lease value is not token:expiry:owner')
  end
  return {tok = tok, exp = tonumber(exp), owner = owner}
end
local function fmt(n) return string.format('%.0f', n) end
`

// fence checks ARGV[2], the writer's token, against the lease of shard
// ARGV[1] in KEYS[1] (token "0": unfenced).
const fence = `
if ARGV[2] ~= '0' then
  local v = redis.call('HGET', KEYS[1], ARGV[1])
  if not v then return redis.error_reply('LEASE_LOST no lease on the shard') end
  local l = parse(v)
  if l.err then return l end
  if l.tok ~= ARGV[2] then return redis.error_reply('LEASE_LOST the shard lease has token ' .. l.tok) end
end
`

// saveScript: KEYS leases, checkpoints; ARGV shard, token, progress.
var saveScript = redis.NewScript(prelude + fence + `
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`)

// parkScript: KEYS leases, checkpoints, parked; ARGV shard, token,
// progress, parked field, parked record.
var parkScript = redis.NewScript(prelude + fence + `
redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
`)

// acquireScript: KEYS leases; ARGV shard, owner, ttl ms. Returns
// {1, token} or {0, holder}.
var acquireScript = redis.NewScript(prelude + `
local tok = 0
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local l = parse(v)
  if l.err then return l end
  if l.owner ~= '' and l.exp > now then return {0, l.owner} end
  tok = tonumber(l.tok)
end
tok = fmt(tok + 1)
redis.call('HSET', KEYS[1], ARGV[1], tok .. ':' .. fmt(now + tonumber(ARGV[3])) .. ':' .. ARGV[2])
return {1, tok}
`)

// renewScript: KEYS leases; ARGV shard, owner, token, ttl ms.
var renewScript = redis.NewScript(prelude + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return redis.error_reply('LEASE_LOST no lease on the shard') end
local l = parse(v)
if l.err then return l end
if l.owner == '' or l.owner ~= ARGV[2] or l.tok ~= ARGV[3] then
  return redis.error_reply('LEASE_LOST the shard lease has token ' .. l.tok)
end
redis.call('HSET', KEYS[1], ARGV[1], l.tok .. ':' .. fmt(now + tonumber(ARGV[4])) .. ':' .. l.owner)
return 1
`)

// releaseScript: KEYS leases; ARGV shard, owner, token.
var releaseScript = redis.NewScript(prelude + `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return redis.error_reply('LEASE_LOST no lease on the shard') end
local l = parse(v)
if l.err then return l end
if l.owner == '' or l.owner ~= ARGV[2] or l.tok ~= ARGV[3] then
  return redis.error_reply('LEASE_LOST the shard lease has token ' .. l.tok)
end
redis.call('HSET', KEYS[1], ARGV[1], l.tok .. ':0:')
return 1
`)

// leasesScript: KEYS leases. Returns {now ms, field, value, ...}, so the
// caller judges expiry by the server's clock.
var leasesScript = redis.NewScript(prelude + `
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, fmt(now))
return out
`)

// heartbeatScript: KEYS members; ARGV owner, ttl ms (<= 0: leave).
// Returns the live owners. The sorted set expires with its last member.
var heartbeatScript = redis.NewScript(prelude + `
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], fmt(now + ttl), ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(now))
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
if #live == 0 then
  redis.call('DEL', KEYS[1])
else
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
return live
`)
