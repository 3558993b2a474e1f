/**
 * The gateway side of the runner tunnel, just enough for runner agent tests: checks the bearer
 * token at the upgrade, runs the challenge/hello/welcome handshake (verifying the wallet's
 * signature for real), and lets a test send jobs, credits and cancels and collect every frame.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { verifySignature } from "../../billing/receipts/ed25519.ts";
import {
  challengeSigningBytes,
  type HelloMessage,
  type JobMessage,
  type RunnerToGatewayMessage,
  TUNNEL_PATH,
  TunnelCloseCode,
} from "../../runners/protocol.ts";

export interface FakeTunnelGatewayOptions {
  /** Tokens accepted at the upgrade; anything else gets HTTP 401. Default ["hn_test_token"]. */
  acceptedTokens?: string[];
  gatewayId?: string;
  heartbeatIntervalMs?: number;
  /** Answer every hello with `refused` + close 4401, even a valid one. */
  refuseHellos?: boolean;
  /** The runner id the gateway assigns in `welcome`; default keeps the runner's own. */
  assignRunnerId?: (hello: HelloMessage) => string;
  /** How long a challenge stays valid; default 30 s. */
  challengeTtlMs?: number;
  /** Default 0 (any free port); a fixed port lets a test bring a "restarted" gateway back. */
  port?: number;
}

export interface ReceivedFrame {
  at: number;
  frame: RunnerToGatewayMessage;
}

type FrameOf<Type extends RunnerToGatewayMessage["type"]> = Extract<RunnerToGatewayMessage, { type: Type }>;

export class FakeRunnerConnection {
  readonly frames: ReceivedFrame[] = [];
  hello: HelloMessage | undefined;
  /** Whether the hello's signature verified against its wallet for this socket's nonce. */
  signatureValid = false;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly socket: WebSocket,
    readonly authorization: string | undefined,
    readonly nonce: string,
  ) {
    this.closed = new Promise((resolve) =>
      socket.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  record(frame: RunnerToGatewayMessage): void {
    this.frames.push({ at: Date.now(), frame });
    for (const listener of this.listeners) listener();
  }

  send(message: object): void {
    this.socket.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  sendJob(job: Partial<JobMessage> & { jobId: string }): void {
    const message: JobMessage = {
      type: "job",
      operation: "chat",
      model: "qwen2.5-7b-instruct",
      engineModel: "Qwen/Qwen2.5-7B-Instruct",
      stream: true,
      body: { model: "qwen2.5-7b-instruct", messages: [{ role: "user", content: "hi" }] },
      credit: 64,
      ...job,
    };
    this.send(message);
  }

  sendCredit(jobId: string, chunks: number): void {
    this.send({ type: "credit", jobId, chunks });
  }

  sendCancel(jobId: string, reason = "client disconnected"): void {
    this.send({ type: "cancel", jobId, reason });
  }

  ofType<Type extends RunnerToGatewayMessage["type"]>(type: Type, jobId?: string): FrameOf<Type>[] {
    return this.frames
      .map(({ frame }) => frame)
      .filter(
        (frame): frame is FrameOf<Type> =>
          frame.type === type && (jobId === undefined || ("jobId" in frame && frame.jobId === jobId)),
      );
  }

  /** Resolves with the first frame (past or future) of this type, for this job if given. */
  waitFor<Type extends RunnerToGatewayMessage["type"]>(
    type: Type,
    jobId?: string,
    timeoutMs = 5_000,
  ): Promise<FrameOf<Type>> {
    return this.waitUntil(() => this.ofType(type, jobId)[0], `${type}${jobId ? ` for ${jobId}` : ""}`, timeoutMs);
  }

  /** Resolves once `check` returns something other than undefined, re-checking on every frame. */
  waitUntil<Value>(check: () => Value | undefined, what: string, timeoutMs = 5_000): Promise<Value> {
    return new Promise((resolve, reject) => {
      const attempt = (): boolean => {
        const value = check();
        if (value === undefined) return false;
        cleanup();
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (): void => {
        attempt();
      };
      if (attempt()) return;
      this.listeners.add(listener);
    });
  }

  /** Cuts the TCP connection without a close frame, as a crashed gateway would. */
  drop(): void {
    this.socket.terminate();
  }
}

export class FakeTunnelGateway {
  readonly connections: FakeRunnerConnection[] = [];
  /** Authorization headers of every upgrade attempt, accepted or not. */
  readonly upgradeAttempts: (string | undefined)[] = [];
  refuseHellos: boolean;
  private readonly acceptedTokens: Set<string>;
  private readonly gatewayId: string;
  private readonly heartbeatIntervalMs: number;
  private readonly connectionWaiters = new Set<() => void>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly webSockets: WebSocketServer,
    private readonly options: FakeTunnelGatewayOptions,
  ) {
    this.acceptedTokens = new Set(options.acceptedTokens ?? ["hn_test_token"]);
    this.gatewayId = options.gatewayId ?? "gw-test";
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
    this.refuseHellos = options.refuseHellos ?? false;
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    server.on("upgrade", (request, socket, head) => this.onUpgrade(request, socket as Socket, head));
  }

  static async start(options: FakeTunnelGatewayOptions = {}): Promise<FakeTunnelGateway> {
    const server = createServer((_request, response) => response.writeHead(404).end());
    const gateway = new FakeTunnelGateway(server, new WebSocketServer({ noServer: true }), options);
    await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
    return gateway;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Resolves with the `index`-th connection (0-based) once its runner has been welcomed. */
  welcomed(index = 0, timeoutMs = 5_000): Promise<FakeRunnerConnection> {
    return this.waitForConnection(index, (connection) => connection.signatureValid && !this.refuseHellos, timeoutMs);
  }

  /** Resolves with the `index`-th connection once its hello has arrived, welcomed or not. */
  helloReceived(index = 0, timeoutMs = 5_000): Promise<FakeRunnerConnection> {
    return this.waitForConnection(index, (connection) => connection.hello !== undefined, timeoutMs);
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.socket.terminate();
    this.webSockets.close();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private waitForConnection(
    index: number,
    ready: (connection: FakeRunnerConnection) => boolean,
    timeoutMs: number,
  ): Promise<FakeRunnerConnection> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const connection = this.connections[index];
        if (!connection || !ready(connection)) return false;
        cleanup();
        resolve(connection);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for runner connection #${index}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.connectionWaiters.delete(waiter);
      };
      const waiter = (): void => {
        check();
      };
      if (check()) return;
      this.connectionWaiters.add(waiter);
    });
  }

  private notify(): void {
    for (const waiter of [...this.connectionWaiters]) waiter();
  }

  private onUpgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const authorization = request.headers.authorization;
    this.upgradeAttempts.push(authorization);
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const token = authorization?.startsWith("Bearer ") ? authorization.slice("Bearer ".length) : undefined;
    if (path !== TUNNEL_PATH || !token || !this.acceptedTokens.has(token)) {
      socket.end(
        `HTTP/1.1 ${path === TUNNEL_PATH ? "401 Unauthorized" : "404 Not Found"}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    this.webSockets.handleUpgrade(request, socket, head, (webSocket) => this.onConnection(webSocket, authorization));
  }

  private onConnection(socket: WebSocket, authorization: string | undefined): void {
    const nonce = randomBytes(16).toString("hex");
    const connection = new FakeRunnerConnection(socket, authorization, nonce);
    this.connections.push(connection);
    socket.on("message", (data) => {
      let frame: RunnerToGatewayMessage;
      try {
        frame = JSON.parse(data.toString()) as RunnerToGatewayMessage;
      } catch {
        socket.close(TunnelCloseCode.ProtocolError, "not JSON");
        return;
      }
      if (frame.type === "hello") this.onHello(connection, frame);
      connection.record(frame);
      this.notify();
    });
    socket.send(
      JSON.stringify({
        type: "challenge",
        nonce,
        gatewayId: this.gatewayId,
        expiresAt: Date.now() + (this.options.challengeTtlMs ?? 30_000),
      }),
    );
    this.notify();
  }

  private onHello(connection: FakeRunnerConnection, hello: HelloMessage): void {
    connection.hello = hello;
    connection.signatureValid =
      hello.nonce === connection.nonce &&
      verifySignature(challengeSigningBytes(connection.nonce, this.gatewayId), hello.signature, hello.wallet);
    if (!connection.signatureValid || this.refuseHellos) {
      connection.send({ type: "refused", code: "AUTHENTICATION_FAILED", message: "wallet signature rejected" });
      connection.socket.close(TunnelCloseCode.AuthenticationFailed, "authentication failed");
      return;
    }
    const runnerId = this.options.assignRunnerId?.(hello) ?? hello.runnerId;
    connection.send({ type: "welcome", runnerId, heartbeatIntervalMs: this.heartbeatIntervalMs });
  }
}
