import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { handleJsonRpc, RpcErrorCode } from "./json-rpc.ts";
import type { LocalChain } from "./local-chain.ts";

export interface JsonRpcServerOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Larger bodies are refused; a batch of transactions is well under the default 1 MiB. */
  maxBodyBytes?: number;
}

export interface RunningJsonRpcServer {
  /** `http://host:port`, ready for `new Connection(url)` or `new RpcChain(url)`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Serves `handleJsonRpc` over plain `node:http` (POST, JSON body): a stand-alone Solana RPC
 * endpoint for the local chain, for tests, demos, and wallets pointed at the embedded chain.
 */
export async function serveJsonRpc(
  chain: LocalChain,
  options: JsonRpcServerOptions = {},
): Promise<RunningJsonRpcServer> {
  const limit = options.maxBodyBytes ?? 1024 * 1024;
  const server = createServer((request, response) => {
    if (request.method !== "POST") {
      response.writeHead(405, { allow: "POST" }).end();
      return;
    }
    void (async () => {
      const text = await readBody(request, limit);
      if (text === undefined) {
        reply(response, 413, {
          jsonrpc: "2.0",
          id: null,
          error: { code: RpcErrorCode.invalidRequest, message: "Request too large" },
        });
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        reply(response, 200, {
          jsonrpc: "2.0",
          id: null,
          error: { code: RpcErrorCode.parseError, message: "Parse error" },
        });
        return;
      }
      reply(response, 200, await handleJsonRpc(chain, parsed));
    })().catch((error: unknown) => {
      if (!response.headersSent) {
        reply(response, 500, {
          jsonrpc: "2.0",
          id: null,
          error: { code: RpcErrorCode.internalError, message: `Internal error: ${(error as Error).message}` },
        });
      } else {
        response.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
