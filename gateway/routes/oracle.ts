/**
 * The oracle's HTTP API, the same whether mounted in the gateway or run alone (`hypernode
 * oracle`). Open routes: a batch only counts when signed by a gateway the oracle trusts.
 *
 *   GET  /api/oracle                        the oracle's public key and acceptance threshold
 *   POST /api/oracle/verify                 a signed batch → {success, verificationId, verificationScore, message}
 *   GET  /api/oracle/verifications/{id}     a verification with per-record results and proofs
 */
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import fastifyPlugin from "fastify-plugin";
import { decodeBatchJson } from "../../billing/batches/batch-json.ts";
import type { Oracle } from "../../billing/oracle/oracle.ts";
import { GatewayError, invalidRequest } from "../errors.ts";
import { jsonSafe } from "./json-safe.ts";

const oracleRoutes: FastifyPluginAsync<{ oracle: Oracle }> = async (app: FastifyInstance, { oracle }) => {
  app.get("/api/oracle", { config: { auth: "open" } }, async () => ({ publicKey: oracle.publicKey }));

  app.post("/api/oracle/verify", { config: { auth: "open" } }, async (request) => {
    const decoded = decodeBatchJson(request.body);
    if (!decoded.ok) {
      throw invalidRequest(
        `Invalid batch: ${decoded.path ? `${decoded.path}: ` : ""}${decoded.error}.`,
        decoded.path || null,
        "invalid_batch",
      );
    }
    const result = await oracle.verify(decoded.batch);
    return {
      success: result.success,
      verificationId: result.verificationId,
      verificationScore: result.verificationScore,
      message: result.message,
    };
  });

  app.get<{ Params: { id: string } }>(
    "/api/oracle/verifications/:id",
    { config: { auth: "open" } },
    async (request) => {
      const result = oracle.getVerification(request.params.id);
      if (!result) throw new GatewayError("GW_ERR_NOT_FOUND", `No verification ${request.params.id}.`);
      return jsonSafe(result);
    },
  );
};

export default fastifyPlugin(oracleRoutes, { name: "hypernode-oracle-routes", dependencies: ["hypernode-errors"] });
