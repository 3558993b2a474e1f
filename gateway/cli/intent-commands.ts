/**
 * `hypernode intents create|show|close`: payment intents for the account of an API key.
 * `create` also funds the intent when given the payer's keypair: it signs the gateway's
 * unsigned transaction, sends it (to the gateway's local chain, or `--rpc-url`), and confirms.
 */
import { readFileSync } from "node:fs";
import { Connection, Keypair, Transaction } from "@solana/web3.js";
import type { Command } from "commander";
import { GatewayClient, GatewayRequestError } from "./gateway-client.ts";

interface IntentOptions {
  url: string;
  apiKey?: string;
  json?: boolean;
}

interface IntentResponse {
  id: string;
  state: string;
  escrow: string;
  amount: string;
  funded: string;
  held: string;
  spent: string;
  settled: string;
  remaining: string;
  funding_transaction?: string;
  refunded?: string;
  refund_signature?: string | null;
}

function withApiKey(command: Command): Command {
  return command
    .option("--url <url>", "gateway URL (HYPERNODE_URL)", process.env.HYPERNODE_URL ?? "http://127.0.0.1:8080")
    .option("--api-key <key>", "API key of the account (HYPERNODE_API_KEY)", process.env.HYPERNODE_API_KEY)
    .option("--json", "machine-readable output");
}

function describe(intent: IntentResponse): string {
  return [
    `intent ${intent.id}  ${intent.state}`,
    `  escrow     ${intent.escrow}`,
    `  funded     ${intent.funded}   held ${intent.held}   spent ${intent.spent}   settled ${intent.settled}`,
    `  remaining  ${intent.remaining}`,
    ...(intent.refunded === undefined
      ? []
      : [`  refunded   ${intent.refunded} (${intent.refund_signature ?? "nothing to send"})`]),
  ].join("\n");
}

async function confirmed(connection: Connection, signature: string): Promise<void> {
  // Polled over HTTP so it works against RPC endpoints without websocket subscriptions.
  for (let attempt = 0; attempt < 300; attempt++) {
    const [status] = (await connection.getSignatureStatuses([signature])).value;
    if (status?.err) throw new Error(`the funding transaction failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === "confirmed" || status?.confirmationStatus === "finalized") return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the funding transaction ${signature} was not confirmed in 60 s`);
}

function action<Options extends IntentOptions>(
  work: (client: GatewayClient, options: Options, ...rest: string[]) => Promise<IntentResponse>,
) {
  return async (...parameters: unknown[]) => {
    const command = parameters.at(-1) as Command;
    const options = command.opts<Options>();
    const rest = parameters.slice(0, -2).map(String);
    if (!options.apiKey) {
      process.stderr.write("hypernode: an API key is required (--api-key or HYPERNODE_API_KEY)\n");
      process.exit(2);
    }
    const client = new GatewayClient({ url: options.url, bearerToken: options.apiKey });
    try {
      const intent = await work(client, options, ...rest);
      process.stdout.write(options.json ? `${JSON.stringify(intent, null, 2)}\n` : `${describe(intent)}\n`);
    } catch (error) {
      process.stderr.write(
        `hypernode: ${error instanceof GatewayRequestError || error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    }
  };
}

export function registerIntentCommands(program: Command): void {
  const intents = program.command("intents").description("payment intents");

  withApiKey(intents.command("create").description("create a payment intent (and fund it with --payer-keypair)"))
    .requiredOption("--amount <baseUnits>", "amount in base units of the settlement mint")
    .option("--payer <address>", "paying wallet (base58); defaults to the keypair's address")
    .option("--payer-keypair <path>", "sign and send the funding transaction with this Solana keypair file")
    .option("--rpc-url <url>", "Solana RPC to send through (default: the gateway's local chain at <url>/solana)")
    .option("--expires-in <seconds>", "close the intent automatically after this long")
    .action(
      action<
        IntentOptions & { amount: string; payer?: string; payerKeypair?: string; rpcUrl?: string; expiresIn?: string }
      >(async (client, options) => {
        const keypair = options.payerKeypair
          ? Keypair.fromSecretKey(Uint8Array.from(JSON.parse(readFileSync(options.payerKeypair, "utf8")) as number[]))
          : undefined;
        const payer = options.payer ?? keypair?.publicKey.toBase58();
        if (!payer) throw new Error("give --payer or --payer-keypair");
        const created = await client.call<IntentResponse>("POST", "/v1/intents", {
          amount: options.amount,
          payer,
          ...(options.expiresIn ? { expires_in_seconds: Number(options.expiresIn) } : {}),
        });
        if (!keypair || !created.funding_transaction) return created;
        const transaction = Transaction.from(Buffer.from(created.funding_transaction, "base64"));
        transaction.partialSign(keypair);
        const connection = new Connection(options.rpcUrl ?? new URL("/solana", options.url).toString(), "confirmed");
        const signature = await connection.sendRawTransaction(transaction.serialize());
        await confirmed(connection, signature);
        return client.call<IntentResponse>("POST", `/v1/intents/${created.id}/confirm`, { signature });
      }),
    );

  withApiKey(
    intents.command("confirm <id> <signature>").description("activate an intent funded by your own wallet"),
  ).action(
    action(async (client, _options, id, signature) =>
      client.call<IntentResponse>("POST", `/v1/intents/${id}/confirm`, { signature }),
    ),
  );

  withApiKey(intents.command("show <id>").description("funded, held, spent, settled and remaining")).action(
    action(async (client, _options, id) => client.call<IntentResponse>("GET", `/v1/intents/${id}`)),
  );

  withApiKey(intents.command("close <id>").description("refund the unspent remainder and close")).action(
    action(async (client, _options, id) => client.call<IntentResponse>("POST", `/v1/intents/${id}/close`)),
  );
}
