/**
 * Payment intents for the caller's account, and (local chain only) the chain's JSON-RPC so
 * wallets and `@solana/web3.js` can send the funding transaction.
 *
 *   POST /v1/intents {amount, payer, expires_in_seconds?} → intent + unsigned funding transaction
 *   POST /v1/intents/{id}/confirm {signature}             → verified on chain, active
 *   GET  /v1/intents/{id}                                 → funded / held / spent / settled / remaining
 *   POST /v1/intents/{id}/close                           → refund of the unspent remainder
 *   POST /solana                                          → JSON-RPC of the in-process chain
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import fastifyPlugin from "fastify-plugin";
import { IntentError, type IntentService } from "../../billing/intents.ts";
import type { IntentRecord } from "../../billing/store/types.ts";
import { handleJsonRpc } from "../../programs/json-rpc.ts";
import type { LocalChain } from "../../programs/local-chain.ts";
import { GatewayError, invalidRequest } from "../errors.ts";

export function intentView(intent: IntentRecord) {
  return {
    id: intent.id,
    object: "payment_intent",
    state: intent.state,
    payer: intent.payer,
    mint: intent.mint,
    escrow: intent.escrow,
    amount: intent.amount.toString(),
    funded: intent.funded.toString(),
    held: intent.held.toString(),
    spent: intent.spent.toString(),
    settled: intent.settled.toString(),
    remaining: (intent.funded - intent.held - intent.spent).toString(),
    funding_signature: intent.fundingSignature ?? null,
    refund_signature: intent.refundSignature ?? null,
    created_at: intent.createdAt,
    expires_at: intent.expiresAt ?? null,
    closed_at: intent.closedAt ?? null,
  };
}

function toGatewayError(error: unknown): unknown {
  if (!(error instanceof IntentError)) return error;
  switch (error.code) {
    case "BILL_ERR_INTENT_NOT_FOUND":
      return new GatewayError("GW_ERR_NOT_FOUND", error.message, { openAiCode: "intent_not_found" });
    case "BILL_ERR_INVALID_INTENT":
      return invalidRequest(error.message, error.param ?? null, "invalid_value");
    case "BILL_ERR_FUNDING_REFUSED":
      return invalidRequest(error.message, "signature", "funding_refused");
    case "BILL_ERR_FUNDING_PENDING":
      return new GatewayError("GW_ERR_CONFLICT", error.message, {
        param: "signature",
        openAiCode: "funding_not_confirmed",
      });
    case "BILL_ERR_SIGNATURE_REUSED":
      return new GatewayError("GW_ERR_CONFLICT", error.message, { param: "signature", openAiCode: "signature_reused" });
    default:
      return new GatewayError("GW_ERR_CONFLICT", error.message, { openAiCode: "intent_state" });
  }
}

async function mapped<Result>(work: () => Promise<Result>): Promise<Result> {
  try {
    return await work();
  } catch (error) {
    throw toGatewayError(error);
  }
}

function accountOf(request: FastifyRequest): string {
  const accountId = request.apiKey?.accountId;
  if (!accountId) throw new GatewayError("GW_ERR_AUTHENTICATION", "An API key is required.");
  return accountId;
}

const createSchema = {
  type: "object",
  required: ["amount", "payer"],
  properties: {
    amount: {
      anyOf: [
        { type: "string", pattern: "^[1-9][0-9]{0,18}$" },
        { type: "integer", minimum: 1 },
      ],
    },
    payer: { type: "string", minLength: 32, maxLength: 44 },
    expires_in_seconds: { type: "integer", minimum: 1, maximum: 31_536_000 },
  },
} as const;

const confirmSchema = {
  type: "object",
  required: ["signature"],
  properties: { signature: { type: "string", minLength: 64, maxLength: 100 } },
} as const;

export interface IntentRoutesOptions {
  intents: IntentService;
  /** Present when the gateway runs the in-process chain. */
  localChain: LocalChain | undefined;
}

const intentRoutes: FastifyPluginAsync<IntentRoutesOptions> = async (app: FastifyInstance, { intents, localChain }) => {
  app.post<{ Body: { amount: string | number; payer: string; expires_in_seconds?: number } }>(
    "/v1/intents",
    { schema: { body: createSchema } },
    async (request, reply) => {
      const { amount, payer, expires_in_seconds: expiresInSeconds } = request.body;
      if (typeof amount === "number" && !Number.isSafeInteger(amount)) {
        throw invalidRequest("'amount' beyond 2^53 must be sent as a string of base units.", "amount", "invalid_value");
      }
      const created = await mapped(() =>
        intents.create({
          accountId: accountOf(request),
          payer,
          amount: BigInt(amount),
          expiresAt: expiresInSeconds === undefined ? undefined : Date.now() + expiresInSeconds * 1000,
        }),
      );
      return reply.status(201).send({
        ...intentView(created.intent),
        decimals: intents.decimals,
        funding_transaction: created.fundingTransaction,
      });
    },
  );

  app.post<{ Params: { id: string }; Body: { signature: string } }>(
    "/v1/intents/:id/confirm",
    { schema: { body: confirmSchema } },
    async (request) =>
      intentView(await mapped(() => intents.confirm(accountOf(request), request.params.id, request.body.signature))),
  );

  app.get<{ Params: { id: string } }>("/v1/intents/:id", async (request) =>
    intentView(await mapped(() => intents.get(accountOf(request), request.params.id))),
  );

  app.post<{ Params: { id: string } }>("/v1/intents/:id/close", async (request) => {
    const { intent, refunded } = await mapped(() => intents.close(accountOf(request), request.params.id));
    return { ...intentView(intent), refunded: refunded.toString() };
  });

  if (localChain) {
    // A local development chain: open like a public devnet RPC, and gone when the stack stops.
    app.post("/solana", { config: { auth: "open" } }, async (request) => handleJsonRpc(localChain, request.body));
  }
};

export default fastifyPlugin(intentRoutes, { name: "hypernode-intent-routes", dependencies: ["hypernode-auth"] });
