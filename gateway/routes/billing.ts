/**
 * Accounts, API keys and usage reports. Money leaves as decimal strings of base units, so no
 * client ever parses it into a float.
 *
 *   GET  /v1/usage?by=model|day[&from&to]                 own account (API key)
 *   GET  /admin/usage?by=intent|runner|model|epoch|day[&account&intent&runner&from&to&format=csv]
 *   POST /admin/accounts {name}            POST /admin/keys {accountId, label?}
 *   GET  /admin/keys?account=              DELETE /admin/keys/{id}
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from "fastify";
import fastifyPlugin from "fastify-plugin";
import type { ApiKeyRecord } from "../../billing/api-keys.ts";
import type { BillingStore, ReportDimension, ReportRow, UsageFilter } from "../../billing/store/types.ts";
import { GatewayError, invalidRequest } from "../errors.ts";

const ADMIN_DIMENSIONS: readonly ReportDimension[] = ["intent", "runner", "model", "epoch", "day"];
const OWN_DIMENSIONS: readonly ReportDimension[] = ["model", "day"];

interface UsageQuery {
  by?: string;
  from?: string;
  to?: string;
  account?: string;
  intent?: string;
  runner?: string;
  format?: string;
}

function dimension(value: string | undefined, allowed: readonly ReportDimension[]): ReportDimension {
  const by = (value ?? allowed[0]) as ReportDimension;
  if (!allowed.includes(by)) throw invalidRequest(`'by' must be one of ${allowed.join(", ")}.`, "by", "invalid_value");
  return by;
}

function timeBound(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const parsed = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(parsed))
    throw invalidRequest(`'${name}' must be a date (ISO 8601) or ms since epoch.`, name, "invalid_value");
  return parsed;
}

export interface ReportView {
  by: ReportDimension;
  rows: { key: string; jobs: number; prompt_tokens: number; completion_tokens: number; charge: string }[];
  totals: { jobs: number; prompt_tokens: number; completion_tokens: number; charge: string };
}

/** Totals are the sum of the rows, which are sums of records: one source for every figure. */
export function reportView(by: ReportDimension, rows: readonly ReportRow[]): ReportView {
  let jobs = 0;
  let promptTokens = 0;
  let completionTokens = 0;
  let charge = 0n;
  for (const row of rows) {
    jobs += row.jobs;
    promptTokens += row.promptTokens;
    completionTokens += row.completionTokens;
    charge += row.charge;
  }
  return {
    by,
    rows: rows.map((row) => ({
      key: row.key,
      jobs: row.jobs,
      prompt_tokens: row.promptTokens,
      completion_tokens: row.completionTokens,
      charge: row.charge.toString(),
    })),
    totals: { jobs, prompt_tokens: promptTokens, completion_tokens: completionTokens, charge: charge.toString() },
  };
}

export function reportCsv(view: ReportView): string {
  const quoteCell = (value: string) => (/[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
  const lines = [`${view.by},jobs,prompt_tokens,completion_tokens,charge`];
  for (const row of view.rows)
    lines.push([quoteCell(row.key), row.jobs, row.prompt_tokens, row.completion_tokens, row.charge].join(","));
  lines.push(
    ["total", view.totals.jobs, view.totals.prompt_tokens, view.totals.completion_tokens, view.totals.charge].join(","),
  );
  return `${lines.join("\n")}\n`;
}

function keyView(record: ApiKeyRecord) {
  return {
    id: record.id,
    account_id: record.accountId,
    label: record.label,
    hint: record.hint,
    created_at: record.createdAt,
    revoked_at: record.revokedAt ?? null,
  };
}

const billingRoutes: FastifyPluginAsync<{ store: BillingStore }> = async (app: FastifyInstance, { store }) => {
  const sendReport = async (
    reply: FastifyReply,
    by: ReportDimension,
    filter: UsageFilter,
    format: string | undefined,
  ) => {
    const view = reportView(by, await store.report(by, filter));
    if (format === "csv") return reply.type("text/csv; charset=utf-8").send(reportCsv(view));
    return view;
  };

  app.get<{ Querystring: UsageQuery }>("/v1/usage", async (request, reply) => {
    const apiKey = request.apiKey;
    if (!apiKey) throw new GatewayError("GW_ERR_AUTHENTICATION", "An API key is required.");
    const { query } = request;
    return sendReport(
      reply,
      dimension(query.by, OWN_DIMENSIONS),
      { accountId: apiKey.accountId, from: timeBound(query.from, "from"), to: timeBound(query.to, "to") },
      query.format,
    );
  });

  app.get<{ Querystring: UsageQuery }>("/admin/usage", { config: { auth: "admin" } }, async (request, reply) => {
    const { query } = request;
    return sendReport(
      reply,
      dimension(query.by, ADMIN_DIMENSIONS),
      {
        accountId: query.account || undefined,
        intentId: query.intent || undefined,
        nodeId: query.runner || undefined,
        from: timeBound(query.from, "from"),
        to: timeBound(query.to, "to"),
      },
      query.format,
    );
  });

  app.post<{ Body: { name: string } }>(
    "/admin/accounts",
    {
      config: { auth: "admin" },
      schema: {
        body: {
          type: "object",
          required: ["name"],
          properties: { name: { type: "string", minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (request, reply) => {
      const account = {
        id: `acct_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
        name: request.body.name,
        activeIntentId: undefined,
        createdAt: Date.now(),
      };
      await store.createAccount(account);
      return reply
        .status(201)
        .send({ id: account.id, name: account.name, created_at: account.createdAt, active_intent_id: null });
    },
  );

  app.post<{ Body: { accountId: string; label?: string } }>(
    "/admin/keys",
    {
      config: { auth: "admin" },
      schema: {
        body: {
          type: "object",
          required: ["accountId"],
          properties: { accountId: { type: "string", minLength: 1 }, label: { type: "string", maxLength: 200 } },
        },
      },
    },
    async (request, reply) => {
      const account = await store.getAccount(request.body.accountId);
      if (!account)
        throw new GatewayError("GW_ERR_NOT_FOUND", `No account ${request.body.accountId}.`, { param: "accountId" });
      const created = await store.apiKeys.create(account.id, request.body.label ?? "");
      // The plain key appears in this response and nowhere else, ever.
      return reply.status(201).send({ key: created.key, ...keyView(created.record) });
    },
  );

  app.get<{ Querystring: { account?: string } }>("/admin/keys", { config: { auth: "admin" } }, async (request) => ({
    data: (await store.apiKeys.list(request.query.account || undefined)).map(keyView),
  }));

  app.delete<{ Params: { id: string } }>("/admin/keys/:id", { config: { auth: "admin" } }, async (request) => {
    if (!(await store.apiKeys.revoke(request.params.id)))
      throw new GatewayError("GW_ERR_NOT_FOUND", `No active key ${request.params.id}.`);
    return { id: request.params.id, revoked: true };
  });
};

export default fastifyPlugin(billingRoutes, { name: "hypernode-billing-routes", dependencies: ["hypernode-auth"] });
