/**
 * Commands that drive a running gateway: `keys create`, `billing report`, `models`, `runners`.
 * Output is for people by default and machine-readable with `--json`.
 */
import type { Command } from "commander";
import { GatewayClient, GatewayRequestError } from "./gateway-client.ts";

interface ConnectionOptions {
  url: string;
  adminToken?: string;
  json?: boolean;
}

function withConnection(command: Command): Command {
  return command
    .option("--url <url>", "gateway URL (HYPERNODE_URL)", process.env.HYPERNODE_URL ?? "http://127.0.0.1:8080")
    .option("--admin-token <token>", "admin token (HYPERNODE_ADMIN_TOKEN)", process.env.HYPERNODE_ADMIN_TOKEN)
    .option("--json", "machine-readable output");
}

function run<Options extends ConnectionOptions>(action: (client: GatewayClient, options: Options) => Promise<void>) {
  return async (options: Options) => {
    try {
      await action(new GatewayClient({ url: options.url, bearerToken: options.adminToken }), options);
    } catch (error) {
      if (error instanceof GatewayRequestError) {
        process.stderr.write(`hypernode: ${error.message}\n`);
        process.exit(1);
      }
      throw error;
    }
  };
}

function print(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

function table(rows: readonly (readonly (string | number)[])[]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => String(row[column] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => String(cell).padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

interface ReportResponse {
  by: string;
  rows: { key: string; jobs: number; prompt_tokens: number; completion_tokens: number; charge: string }[];
  totals: { jobs: number; prompt_tokens: number; completion_tokens: number; charge: string };
}

export function registerClientCommands(program: Command): void {
  const keys = program.command("keys").description("API keys");
  withConnection(keys.command("create").description("create an API key for an account (shown once)"))
    .option("--account <id>", "account id (a new account is created when omitted)")
    .option("--name <name>", "name of the new account", "default")
    .option("--label <label>", "label for the key", "")
    .action(
      run<ConnectionOptions & { account?: string; name: string; label: string }>(async (client, options) => {
        const accountId =
          options.account ?? (await client.call<{ id: string }>("POST", "/admin/accounts", { name: options.name })).id;
        const created = await client.call<{ key: string; id: string; account_id: string }>("POST", "/admin/keys", {
          accountId,
          label: options.label,
        });
        print(
          options.json,
          created,
          () => `API key (shown once, store it now): ${created.key}\n  id ${created.id}, account ${created.account_id}`,
        );
      }),
    );

  const billing = program.command("billing").description("finance reports");
  withConnection(
    billing.command("report").description("usage and charges grouped by intent, runner, model, epoch or day"),
  )
    .option("--by <dimension>", "intent | runner | model | epoch | day", "intent")
    .option("--csv", "CSV output")
    .option("--from <date>", "ISO date or ms since epoch")
    .option("--to <date>", "ISO date or ms since epoch")
    .action(
      run<ConnectionOptions & { by: string; csv?: boolean; from?: string; to?: string }>(async (client, options) => {
        const query = new URLSearchParams({ by: options.by });
        if (options.from) query.set("from", options.from);
        if (options.to) query.set("to", options.to);
        if (options.csv) {
          query.set("format", "csv");
          process.stdout.write(await client.text(`/admin/usage?${query}`));
          return;
        }
        const report = await client.call<ReportResponse>("GET", `/admin/usage?${query}`);
        print(options.json, report, () =>
          table([
            [report.by, "jobs", "prompt", "completion", "charge"],
            ...report.rows.map((row) => [
              row.key || "-",
              row.jobs,
              row.prompt_tokens,
              row.completion_tokens,
              row.charge,
            ]),
            [
              "total",
              report.totals.jobs,
              report.totals.prompt_tokens,
              report.totals.completion_tokens,
              report.totals.charge,
            ],
          ]),
        );
      }),
    );

  withConnection(
    billing.command("reconcile").description("compare the ledger with on-chain escrow, payout and memo state"),
  ).action(
    run<ConnectionOptions>(async (client, options) => {
      const report = await client.call<{
        intents: number;
        recipients: number;
        transactions: number;
        differences: { kind: string; subject: string; expected: string; actual: string }[];
      }>("GET", "/admin/reconcile");
      print(options.json, report, () =>
        report.differences.length === 0
          ? `books match the chain: ${report.intents} intents, ${report.recipients} recipients, ${report.transactions} payout transactions`
          : table([
              ["difference", "subject", "expected", "on chain"],
              ...report.differences.map((difference) => [
                difference.kind,
                difference.subject,
                difference.expected,
                difference.actual,
              ]),
            ]),
      );
      if (report.differences.length > 0) process.exitCode = 1;
    }),
  );

  withConnection(program.command("settle").description("run a settlement round now: batch, oracle, payouts")).action(
    run<ConnectionOptions>(async (client, options) => {
      process.stderr.write("settling: batching records, verifying with the oracle, paying out…\n");
      const summary = await client.call<{
        epoch: number;
        records: number;
        accepted: number;
        rejected: number;
        paid: string;
        pending_batches: string[];
      }>("POST", "/admin/settle");
      print(options.json, summary, () =>
        summary.records === 0
          ? "nothing to settle"
          : `epoch ${summary.epoch}: ${summary.accepted}/${summary.records} records accepted, ${summary.rejected} rejected, ${summary.paid} base units paid${summary.pending_batches.length ? `, ${summary.pending_batches.length} batches pending` : ""}`,
      );
    }),
  );

  withConnection(program.command("runners").description("runners known to the gateway")).action(
    run<ConnectionOptions>(async (client, options) => {
      const { runners } = await client.call<{
        runners: {
          id: string;
          status: string;
          engine: string;
          wallet: string;
          activeJobs: number;
          models: { model: string }[];
          gpus: { name: string }[];
        }[];
      }>("GET", "/admin/runners");
      print(options.json, runners, () =>
        table([
          ["runner", "status", "engine", "jobs", "gpus", "models"],
          ...runners.map((runner) => [
            runner.id,
            runner.status,
            runner.engine,
            runner.activeJobs,
            runner.gpus.map((gpu) => gpu.name).join(", ") || "-",
            runner.models.map((served) => served.model).join(", "),
          ]),
        ]),
      );
    }),
  );
}
