/**
 * Lua scripts behind every mutation of the Redis billing store. Redis runs a script atomically,
 * so each check-then-write below is one indivisible step for every gateway replica at once.
 *
 * Key layout: every script gets the store's key prefix as ARGV[1] and builds its keys from it
 * (the keys a step touches depend on what it reads, e.g. a hold names its intent). That keeps the
 * store on one Redis primary, not a Redis Cluster.
 *
 * Money in Lua: Lua numbers are doubles, exact only to 2^53, so amounts never pass through
 * `tonumber` whole. They are decimal strings split into two limbs (the last 9 digits and the
 * rest, each far below 2^53), and added, subtracted and compared limb by limb: exact for every
 * amount up to 2^63 − 1 and for aggregate sums far beyond it.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

const PRELUDE = `
local P = ARGV[1]
local BASE = 1000000000
local function amount(text)
  if not text or text == "" then return {0, 0} end
  local length = #text
  if length <= 9 then return {0, tonumber(text)} end
  return {tonumber(string.sub(text, 1, length - 9)), tonumber(string.sub(text, length - 8))}
end
local function add(left, right)
  local low, high = left[2] + right[2], left[1] + right[1]
  if low >= BASE then low, high = low - BASE, high + 1 end
  return {high, low}
end
-- Only called with left >= right.
local function subtract(left, right)
  local low, high = left[2] - right[2], left[1] - right[1]
  if low < 0 then low, high = low + BASE, high - 1 end
  return {high, low}
end
local function compare(left, right)
  if left[1] ~= right[1] then return left[1] < right[1] and -1 or 1 end
  if left[2] ~= right[2] then return left[2] < right[2] and -1 or 1 end
  return 0
end
local function text(value)
  if value[1] == 0 then return string.format("%d", value[2]) end
  return string.format("%d%09d", value[1], value[2])
end
local function releaseHold(jobId)
  local holdKey = P .. "hold:" .. jobId
  local hold = redis.call("HMGET", holdKey, "intentId", "amount")
  if not hold[1] then return false end
  local intentKey = P .. "intent:" .. hold[1]
  local held = amount(redis.call("HGET", intentKey, "held"))
  redis.call("HSET", intentKey, "held", text(subtract(held, amount(hold[2]))))
  redis.call("DEL", holdKey)
  redis.call("ZREM", P .. "hold-expiry", jobId)
  return true
end
`;

/** A script run by its sha1, sent in full only when Redis does not have it (e.g. after a restart). */
export class LuaScript {
  private readonly source: string;
  private readonly sha: string;

  constructor(body: string) {
    this.source = PRELUDE + body;
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }

  async run(client: Redis, prefix: string, ...values: string[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, 0, prefix, ...values);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, 0, prefix, ...values);
    }
  }
}

/** ARGV: id, createdAt, then field/value pairs. Returns "ok" | "exists". */
export const CREATE_ACCOUNT = new LuaScript(`
local key = P .. "account:" .. ARGV[2]
if redis.call("EXISTS", key) == 1 then return "exists" end
redis.call("HSET", key, unpack(ARGV, 4))
redis.call("ZADD", P .. "accounts", ARGV[3], ARGV[2])
return "ok"
`);

/** ARGV: accountId, intentId ("" clears). Returns "ok" | "missing". */
export const SET_ACTIVE_INTENT = new LuaScript(`
local key = P .. "account:" .. ARGV[2]
if redis.call("EXISTS", key) == 0 then return "missing" end
if ARGV[3] == "" then redis.call("HDEL", key, "activeIntentId") else redis.call("HSET", key, "activeIntentId", ARGV[3]) end
return "ok"
`);

/**
 * ARGV: id, accountId, createdAt, fundingSignature|"", state, expiresAt|"", then field/value
 * pairs. Returns "ok" | "exists" | "signature_used".
 */
export const CREATE_INTENT = new LuaScript(`
local id, signature, state, expiresAt = ARGV[2], ARGV[5], ARGV[6], ARGV[7]
local key = P .. "intent:" .. id
if redis.call("EXISTS", key) == 1 then return "exists" end
if signature ~= "" and redis.call("SISMEMBER", P .. "funding-signatures", signature) == 1 then return "signature_used" end
redis.call("HSET", key, unpack(ARGV, 8))
redis.call("ZADD", P .. "intents", ARGV[4], id)
redis.call("ZADD", P .. "account-intents:" .. ARGV[3], ARGV[4], id)
if signature ~= "" then redis.call("SADD", P .. "funding-signatures", signature) end
if state == "active" and expiresAt ~= "" then redis.call("ZADD", P .. "intent-expiry", expiresAt, id) end
return "ok"
`);

/** ARGV: id, funded, signature. Returns 1 when activated, 0 when refused. */
export const ACTIVATE_INTENT = new LuaScript(`
local key, signature = P .. "intent:" .. ARGV[2], ARGV[4]
if redis.call("SISMEMBER", P .. "funding-signatures", signature) == 1 then return 0 end
local intent = redis.call("HMGET", key, "state", "expiresAt")
if intent[1] ~= "pending" then return 0 end
redis.call("HSET", key, "state", "active", "funded", ARGV[3], "fundingSignature", signature)
redis.call("SADD", P .. "funding-signatures", signature)
if intent[2] then redis.call("ZADD", P .. "intent-expiry", intent[2], ARGV[2]) end
return 1
`);

/** ARGV: id, refundSignature|"", now. Returns 1 when closed, 0 when refused. */
export const CLOSE_INTENT = new LuaScript(`
local key = P .. "intent:" .. ARGV[2]
local intent = redis.call("HMGET", key, "state", "held")
if intent[1] ~= "active" and intent[1] ~= "expired" then return 0 end
if compare(amount(intent[2]), {0, 0}) ~= 0 then return 0 end
redis.call("HSET", key, "state", "closed", "closedAt", ARGV[4])
if ARGV[3] ~= "" then redis.call("HSET", key, "refundSignature", ARGV[3]) end
redis.call("ZREM", P .. "intent-expiry", ARGV[2])
return 1
`);

/** ARGV: now, batch size. Returns {entries examined, ids expired…} for at most one batch. */
export const EXPIRE_INTENTS = new LuaScript(`
local due = redis.call("ZRANGEBYSCORE", P .. "intent-expiry", "-inf", ARGV[2], "LIMIT", 0, tonumber(ARGV[3]))
local result = {tostring(#due)}
for _, id in ipairs(due) do
  local key = P .. "intent:" .. id
  if redis.call("HGET", key, "state") == "active" then
    redis.call("HSET", key, "state", "expired")
    result[#result + 1] = id
  end
  redis.call("ZREM", P .. "intent-expiry", id)
end
return result
`);

/**
 * ARGV: intentId, payoutId, amount. Returns "ok" | "repeat" (payout already recorded, nothing
 * changed) | "missing" | "exceeds_spent".
 */
export const RECORD_SETTLEMENT = new LuaScript(`
local payouts, payoutId = P .. "settlement-payouts", ARGV[3]
if redis.call("SISMEMBER", payouts, payoutId) == 1 then return "repeat" end
local key = P .. "intent:" .. ARGV[2]
local intent = redis.call("HMGET", key, "settled", "spent")
if not intent[2] then return "missing" end
local settled = add(amount(intent[1]), amount(ARGV[4]))
if compare(settled, amount(intent[2])) > 0 then return "exceeds_spent" end
redis.call("HSET", key, "settled", text(settled))
redis.call("SADD", payouts, payoutId)
return "ok"
`);

/**
 * ARGV: intentId, jobId, amount, now, expiresAt. Returns {"ok"} | {"existing", intentId,
 * amount, createdAt, expiresAt} | {"captured"} | {"intent_not_active", "0"} |
 * {"insufficient_funds", available}.
 */
export const RESERVE = new LuaScript(`
local intentId, jobId, now = ARGV[2], ARGV[3], ARGV[5]
if redis.call("EXISTS", P .. "record:" .. jobId) == 1 then return {"captured"} end
local holdKey = P .. "hold:" .. jobId
local existing = redis.call("HMGET", holdKey, "intentId", "amount", "createdAt", "expiresAt")
if existing[1] then return {"existing", existing[1], existing[2], existing[3], existing[4]} end
local intentKey = P .. "intent:" .. intentId
local intent = redis.call("HMGET", intentKey, "state", "funded", "held", "spent", "expiresAt")
if intent[1] ~= "active" or (intent[5] and tonumber(now) >= tonumber(intent[5])) then
  return {"intent_not_active", "0"}
end
local held, wanted = amount(intent[3]), amount(ARGV[4])
local available = subtract(subtract(amount(intent[2]), held), amount(intent[4]))
if compare(available, wanted) < 0 then return {"insufficient_funds", text(available)} end
redis.call("HSET", intentKey, "held", text(add(held, wanted)))
redis.call("HSET", holdKey, "jobId", jobId, "intentId", intentId, "amount", ARGV[4], "createdAt", now, "expiresAt", ARGV[6])
redis.call("ZADD", P .. "hold-expiry", ARGV[6], jobId)
return {"ok"}
`);

/**
 * ARGV: jobId, charge, intentId|"", accountId, nodeId|"", modelType, day, timestamp,
 * promptTokens, completionTokens, then the record's other field/value pairs.
 * Returns {"exists", field, value, …} | {"created", intentId|"", charge taken}.
 */
export const CAPTURE = new LuaScript(`
local jobId, intentId, accountId, nodeId = ARGV[2], ARGV[4], ARGV[5], ARGV[6]
local recordKey = P .. "record:" .. jobId
if redis.call("EXISTS", recordKey) == 1 then
  local existing = redis.call("HGETALL", recordKey)
  table.insert(existing, 1, "exists")
  return existing
end
local charge = amount(ARGV[3])
local hold = redis.call("HMGET", P .. "hold:" .. jobId, "intentId", "amount")
if hold[1] then
  intentId = hold[1]
  local intentKey = P .. "intent:" .. intentId
  local intent = redis.call("HMGET", intentKey, "funded", "held", "spent")
  local held, spent, holdAmount = amount(intent[2]), amount(intent[3]), amount(hold[2])
  local ceiling = add(holdAmount, subtract(subtract(amount(intent[1]), held), spent))
  if compare(charge, ceiling) > 0 then charge = ceiling end
  redis.call("HSET", intentKey, "held", text(subtract(held, holdAmount)), "spent", text(add(spent, charge)))
  redis.call("DEL", P .. "hold:" .. jobId)
  redis.call("ZREM", P .. "hold-expiry", jobId)
end
local fields = {unpack(ARGV, 12)}
fields[#fields + 1] = "charge"
fields[#fields + 1] = text(charge)
if intentId ~= "" then
  fields[#fields + 1] = "intentId"
  fields[#fields + 1] = intentId
end
redis.call("HSET", recordKey, unpack(fields))
redis.call("XADD", P .. "usage", "*", unpack(fields))
local timestamp = ARGV[9]
redis.call("ZADD", P .. "usage-index:all", timestamp, jobId)
redis.call("ZADD", P .. "usage-index:account:" .. accountId, timestamp, jobId)
if intentId ~= "" then redis.call("ZADD", P .. "usage-index:intent:" .. intentId, timestamp, jobId) end
if nodeId ~= "" then redis.call("ZADD", P .. "usage-index:node:" .. nodeId, timestamp, jobId) end
-- Report totals kept exact as records land, so a report reads O(groups), not every record.
local groups = {intent = intentId, runner = nodeId, model = ARGV[7], day = ARGV[8]}
for dimension, group in pairs(groups) do
  for _, scope in ipairs({P .. "report:" .. dimension, P .. "report:" .. dimension .. ":account:" .. accountId}) do
    redis.call("HINCRBY", scope, "jobs:" .. group, 1)
    redis.call("HINCRBY", scope, "prompt:" .. group, ARGV[10])
    redis.call("HINCRBY", scope, "completion:" .. group, ARGV[11])
    local total = add(amount(redis.call("HGET", scope, "charge:" .. group)), charge)
    redis.call("HSET", scope, "charge:" .. group, text(total))
  end
end
return {"created", intentId, text(charge)}
`);

/**
 * ARGV: from state, to state, epoch|"" (set with the move), then job ids. Moves each record in
 * the from state; others (missing, or in any other state) are left alone. Returns how many moved.
 * Epoch reports are aggregated from the records, so updating the record is all they need.
 */
export const MOVE_CHARGE_STATE = new LuaScript(`
local from, to, epoch, changed = ARGV[2], ARGV[3], ARGV[4], 0
for index = 5, #ARGV do
  local key = P .. "record:" .. ARGV[index]
  if redis.call("HGET", key, "chargeState") == from then
    if epoch == "" then redis.call("HSET", key, "chargeState", to)
    else redis.call("HSET", key, "chargeState", to, "epoch", epoch) end
    changed = changed + 1
  end
end
return changed
`);

/** ARGV: jobId. Returns 1 the first time a job id is claimed, 0 ever after. */
export const CLAIM_NULLIFIER = new LuaScript(`
return redis.call("SADD", P .. "nullifiers", ARGV[2])
`);

/** ARGV: jobId. Returns 1 when a hold was released. */
export const RELEASE = new LuaScript(`
if releaseHold(ARGV[2]) then return 1 end
return 0
`);

/** ARGV: now, batch size. Returns {entries examined, job ids released…} for at most one batch. */
export const EXPIRE_HOLDS = new LuaScript(`
local due = redis.call("ZRANGEBYSCORE", P .. "hold-expiry", "-inf", ARGV[2], "LIMIT", 0, tonumber(ARGV[3]))
local result = {tostring(#due)}
for _, jobId in ipairs(due) do
  if releaseHold(jobId) then result[#result + 1] = jobId else redis.call("ZREM", P .. "hold-expiry", jobId) end
end
return result
`);

/**
 * API key import. ARGV: keyHash, id, accountId, createdAt, then field/value pairs.
 * Returns {"existing", id} for a live key with that hash, or {"created", id}.
 */
export const IMPORT_API_KEY = new LuaScript(`
local hashKey = P .. "apikey-hash:" .. ARGV[2]
local existing = redis.call("GET", hashKey)
if existing then return {"existing", existing} end
redis.call("HSET", P .. "apikey:" .. ARGV[3], unpack(ARGV, 6))
redis.call("SET", hashKey, ARGV[3])
redis.call("ZADD", P .. "apikeys", ARGV[5], ARGV[3])
redis.call("ZADD", P .. "account-apikeys:" .. ARGV[4], ARGV[5], ARGV[3])
return {"created", ARGV[3]}
`);

/** ARGV: id, now. Returns 1 when a live key was revoked. */
export const REVOKE_API_KEY = new LuaScript(`
local key = P .. "apikey:" .. ARGV[2]
local record = redis.call("HMGET", key, "keyHash", "revokedAt")
if not record[1] or record[2] then return 0 end
redis.call("HSET", key, "revokedAt", ARGV[3])
local hashKey = P .. "apikey-hash:" .. record[1]
if redis.call("GET", hashKey) == ARGV[2] then redis.call("DEL", hashKey) end
return 1
`);
