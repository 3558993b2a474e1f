/**
 * The runner tunnel's door: `GET /v1/runners/connect` with a hand-rolled `ws` client speaking
 * runners/protocol.ts. The node token is checked at the upgrade; the wallet is proven by
 * signing this socket's own fresh challenge; anything else is refused with a `refused` frame
 * and close code 4401, and never shows up as a runner.
 */
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket, { type RawData } from "ws";
import { encodeSignature, generateKeypair, type WalletKeypair } from "../../billing/receipts/ed25519.ts";
import {
  type ChallengeMessage,
  challengeSigningBytes,
  type GatewayToRunnerMessage,
  type HelloMessage,
  type RefusedMessage,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL_VERSION,
  TunnelCloseCode,
  type WelcomeMessage,
} from "../../runners/protocol.ts";
import { eventually, startTestStack, TEST_NODE_TOKEN, type TestStack } from "../support/test-stack.ts";

let stack: TestStack;
const open: TunnelClient[] = [];

beforeAll(async () => {
  // No agents: every runner here is a hand-rolled client.
  stack = await startTestStack({ runners: 0 });
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.allSettled(open.splice(0).map((client) => client.close()));
});
afterAll(async () => {
  await stack?.close();
});

/** One tunnel socket, recording every frame the gateway sends and how it closed. */
class TunnelClient {
  readonly frames: GatewayToRunnerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly closedPromise: Promise<{ code: number; reason: string }>;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data: RawData) => {
      this.frames.push(JSON.parse(data.toString()) as GatewayToRunnerMessage);
      this.wake();
    });
    this.closedPromise = new Promise((resolve) =>
      socket.on("close", (code: number, reason: Buffer) => {
        this.closed = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closed);
      }),
    );
  }

  static async connect(token = TEST_NODE_TOKEN): Promise<TunnelClient> {
    const socket = new WebSocket(`${stack.url.replace(/^http/, "ws")}${TUNNEL_PATH}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const client = new TunnelClient(socket);
    open.push(client);
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    return client;
  }

  async challenge(): Promise<ChallengeMessage> {
    return this.waitFor((frame): frame is ChallengeMessage => frame.type === "challenge");
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  async waitFor<T extends GatewayToRunnerMessage>(
    match: (frame: GatewayToRunnerMessage) => frame is T,
    timeoutMs = 3_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed)
        throw new Error(
          `closed (${this.closed.code} ${this.closed.reason}) before the frame; got ${JSON.stringify(this.frames)}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  /** The gateway's answer to a hello: welcome, or refused plus the close that must follow it. */
  async outcome(): Promise<
    { welcome: WelcomeMessage } | { refused: RefusedMessage; close: { code: number; reason: string } }
  > {
    const answer = await this.waitFor(
      (frame): frame is WelcomeMessage | RefusedMessage => frame.type === "welcome" || frame.type === "refused",
    );
    if (answer.type === "welcome") return { welcome: answer };
    const close = await Promise.race([
      this.closedPromise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("refused but the socket stayed open")), 2_000),
      ),
    ]);
    return { refused: answer, close };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.close();
    await this.closedPromise;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

let runnerCounter = 0;

/** A hello that answers `challenge` correctly for `wallet`; `changes` break one thing. */
function helloFor(
  challenge: ChallengeMessage,
  wallet: WalletKeypair,
  changes: Partial<HelloMessage> = {},
): HelloMessage {
  runnerCounter++;
  return {
    type: "hello",
    protocolVersion: TUNNEL_PROTOCOL_VERSION,
    runnerId: `hand-rolled-${runnerCounter}`,
    wallet: wallet.address,
    signature: encodeSignature(wallet.sign(challengeSigningBytes(challenge.nonce, challenge.gatewayId))),
    nonce: challenge.nonce,
    engine: "sim",
    models: [{ model: "mistral-7b-instruct", engineModel: "mistral", state: "ready" }],
    gpus: [
      {
        index: 0,
        name: "NVIDIA H100 80GB HBM3",
        uuid: "GPU-0",
        memoryTotalMiB: 81_559,
        memoryFreeMiB: 80_000,
        temperatureCelsius: 40,
        utilizationPercent: 0,
        driverVersion: "550.54.15",
      },
    ],
    version: "test",
    maxConcurrentJobs: 4,
    ...changes,
  };
}

async function expectRefused(client: TunnelClient, code: string): Promise<void> {
  const outcome = await client.outcome();
  expect("refused" in outcome, JSON.stringify(outcome)).toBe(true);
  if (!("refused" in outcome)) return;
  expect(outcome.refused.code).toBe(code);
  expect(outcome.refused.message.length).toBeGreaterThan(0);
  expect(outcome.close.code).toBe(TunnelCloseCode.AuthenticationFailed);
  expect(client.frames.some((frame) => frame.type === "welcome")).toBe(false);
}

const registered = (runnerId: string) => stack.gateway.services.registry.get(runnerId);

async function adminRunners(): Promise<
  { id: string; wallet: string; status: string; connected: boolean; models: { model: string }[] }[]
> {
  const response = await request(`${stack.url}/admin/runners`, {
    headers: { authorization: `Bearer ${stack.adminToken}` },
  });
  expect(response.statusCode).toBe(200);
  return (
    (await response.body.json()) as {
      runners: { id: string; wallet: string; status: string; connected: boolean; models: { model: string }[] }[];
    }
  ).runners;
}

async function servedModelIds(): Promise<string[]> {
  const response = await request(`${stack.url}/v1/models`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
  expect(response.statusCode).toBe(200);
  return ((await response.body.json()) as { data: { id: string }[] }).data.map((model) => model.id);
}

describe("runner tunnel: the node token at the upgrade", () => {
  const upgrade = (headers: Record<string, string>) =>
    new Promise<{ status: number; body: string; opened: boolean }>((resolve, reject) => {
      const socket = new WebSocket(`${stack.url.replace(/^http/, "ws")}${TUNNEL_PATH}`, { headers });
      socket.once("open", () => {
        socket.close();
        resolve({ status: 101, body: "", opened: true });
      });
      socket.once("unexpected-response", (req, response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (part: string) => {
          body += part;
        });
        response.on("end", () => {
          req.destroy();
          resolve({ status: response.statusCode ?? 0, body, opened: false });
        });
      });
      socket.once("error", reject);
    });

  it.each([
    ["no Authorization header", {}],
    ["a wrong node token", { authorization: "Bearer hn_not_a_real_token" }],
    ["the token without Bearer", { authorization: TEST_NODE_TOKEN }],
    ["a Basic header", { authorization: `Basic ${Buffer.from(`x:${TEST_NODE_TOKEN}`).toString("base64")}` }],
    ["a client API key instead of a node token", { authorization: "Bearer sk-hn-test-0123456789abcdef" }],
    ["the admin token instead of a node token", { authorization: "Bearer hn_admin_test_0123456789abcdef" }],
  ])("refuses %s with HTTP 401 and no socket", async (_name, headers) => {
    const result = await upgrade(headers);
    expect(result.opened).toBe(false);
    expect(result.status).toBe(401);
    const body = JSON.parse(result.body) as { error: { type: string; message: string } };
    expect(body.error.type).toBe("invalid_request_error");
  });

  it("answers a plain HTTP GET (no upgrade) with 426 in OpenAI's envelope, after the token check", async () => {
    const response = await request(`${stack.url}${TUNNEL_PATH}`, {
      headers: { authorization: `Bearer ${TEST_NODE_TOKEN}` },
    });
    const body = (await response.body.json()) as { error: { code: string | null } };
    expect(response.statusCode).toBe(426);
    expect(response.headers.upgrade).toBe("websocket");
    expect(body.error.code).toBe("upgrade_required");
    const anonymous = await request(`${stack.url}${TUNNEL_PATH}`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
  });

  it("refuses a revoked token", async () => {
    const { token, record } = stack.gateway.services.nodeTokens.create("soon revoked");
    expect((await upgrade({ authorization: `Bearer ${token}` })).status).toBe(101);
    stack.gateway.services.nodeTokens.revoke(record.id);
    const result = await upgrade({ authorization: `Bearer ${token}` });
    expect(result).toMatchObject({ status: 401, opened: false });
  });

  it("sends a fresh challenge to every socket", async () => {
    const [first, second] = await Promise.all([TunnelClient.connect(), TunnelClient.connect()]);
    const [a, b] = await Promise.all([first.challenge(), second.challenge()]);
    expect(a.nonce).not.toBe(b.nonce);
    expect(Buffer.from(a.nonce, "base64url").length).toBeGreaterThanOrEqual(16);
    expect(a.gatewayId).toBe(stack.gateway.services.gatewayId);
    expect(a.expiresAt).toBeGreaterThan(Date.now());
    expect(a.expiresAt).toBeLessThanOrEqual(Date.now() + 60_000);
  });
});

describe("runner tunnel: proving the wallet", () => {
  it("welcomes a good handshake; the runner shows in /admin/runners and its models in /v1/models", async () => {
    const wallet = generateKeypair();
    const client = await TunnelClient.connect();
    const hello = helloFor(await client.challenge(), wallet, {
      runnerId: "rig-welcome",
      models: [
        { model: "mistral-7b-instruct", engineModel: "mistral", state: "ready" },
        { model: "llama-3.2-3b-instruct", engineModel: "llama3.2:3b", state: "loading" },
      ],
    });
    expect(await servedModelIds()).not.toContain("mistral-7b-instruct");
    client.send(hello);
    const outcome = await client.outcome();
    expect(outcome).toEqual({ welcome: { type: "welcome", runnerId: "rig-welcome", heartbeatIntervalMs: 15_000 } });

    const runner = (await adminRunners()).find((entry) => entry.id === "rig-welcome");
    expect(runner).toMatchObject({ id: "rig-welcome", wallet: wallet.address, status: "online", connected: true });
    expect(runner?.models.map((served) => served.model)).toEqual(["mistral-7b-instruct", "llama-3.2-3b-instruct"]);
    const models = await servedModelIds();
    expect(models).toContain("mistral-7b-instruct");
    // Loading is not serving.
    expect(models).not.toContain("llama-3.2-3b-instruct");

    // The admin view needs the admin token.
    const withApiKey = await request(`${stack.url}/admin/runners`, {
      headers: { authorization: `Bearer ${stack.apiKey}` },
    });
    expect(withApiKey.statusCode).toBe(401);
    await withApiKey.body.dump();

    // A second hello on a welcomed socket changes nothing.
    client.send(helloFor(await client.challenge(), generateKeypair(), { runnerId: "rig-welcome-again" }));
    await client.close();
    await eventually(() => (registered("rig-welcome")?.status === "offline" ? true : undefined));
    expect(registered("rig-welcome-again")).toBeUndefined();
    expect(await servedModelIds()).not.toContain("mistral-7b-instruct");
  });

  it("refuses a signature by another key than the wallet", async () => {
    const client = await TunnelClient.connect();
    const challenge = await client.challenge();
    const claimed = generateKeypair();
    const signer = generateKeypair();
    const hello = helloFor(challenge, claimed, {
      signature: encodeSignature(signer.sign(challengeSigningBytes(challenge.nonce, challenge.gatewayId))),
    });
    client.send(hello);
    await expectRefused(client, "bad_signature");
    expect(registered(hello.runnerId)).toBeUndefined();
  });

  it("refuses a signature over the wrong bytes (another gateway id, or the bare nonce)", async () => {
    const wallet = generateKeypair();
    for (const bytes of [
      (challenge: ChallengeMessage) => challengeSigningBytes(challenge.nonce, "some-other-gateway"),
      (challenge: ChallengeMessage) => new TextEncoder().encode(challenge.nonce),
    ]) {
      const client = await TunnelClient.connect();
      const challenge = await client.challenge();
      client.send(helloFor(challenge, wallet, { signature: encodeSignature(wallet.sign(bytes(challenge))) }));
      await expectRefused(client, "bad_signature");
    }
  });

  it("refuses a valid hello from connection A replayed on connection B", async () => {
    const wallet = generateKeypair();
    const a = await TunnelClient.connect();
    const captured = helloFor(await a.challenge(), wallet, { runnerId: "rig-replayed" });
    a.send(captured);
    expect(await a.outcome()).toMatchObject({ welcome: { runnerId: "rig-replayed" } });

    // As captured: it answers A's challenge, not B's.
    const b = await TunnelClient.connect();
    await b.challenge();
    b.send(captured);
    await expectRefused(b, "stale_challenge");

    // With B's nonce pasted in: the signature is still over A's nonce.
    const c = await TunnelClient.connect();
    const challengeC = await c.challenge();
    c.send({ ...captured, nonce: challengeC.nonce });
    await expectRefused(c, "bad_signature");

    // A stays the one connected runner under that id.
    expect(registered("rig-replayed")?.status).toBe("online");
    expect(a.closed).toBeUndefined();
  });

  it("refuses a captured hello replayed after A left without using it", async () => {
    const wallet = generateKeypair();
    const a = await TunnelClient.connect();
    const captured = helloFor(await a.challenge(), wallet);
    await a.close();
    const b = await TunnelClient.connect();
    await b.challenge();
    b.send(captured);
    await expectRefused(b, "stale_challenge");
    expect(registered(captured.runnerId)).toBeUndefined();
  });

  it("refuses a hello answering a nonce the gateway never sent, even when correctly signed", async () => {
    const wallet = generateKeypair();
    const client = await TunnelClient.connect();
    const challenge = await client.challenge();
    const invented: ChallengeMessage = { ...challenge, nonce: Buffer.alloc(32, 7).toString("base64url") };
    client.send(helloFor(invented, wallet));
    await expectRefused(client, "stale_challenge");
  });

  it("refuses a hello after its challenge expired", async () => {
    const wallet = generateKeypair();
    const client = await TunnelClient.connect();
    const challenge = await client.challenge();
    const hello = helloFor(challenge, wallet);
    // Only the clock moves: the gateway's timers stay real.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(challenge.expiresAt + 1_000);
    client.send(hello);
    await expectRefused(client, "stale_challenge");
    vi.useRealTimers();
    expect(registered(hello.runnerId)).toBeUndefined();
  });

  it("refuses a token bound to one wallet when another wallet proves itself", async () => {
    const owner = generateKeypair();
    const intruder = generateKeypair();
    const { token } = stack.gateway.services.nodeTokens.create("bound rig", owner.address);

    const stranger = await TunnelClient.connect(token);
    const strangerHello = helloFor(await stranger.challenge(), intruder);
    stranger.send(strangerHello);
    await expectRefused(stranger, "wallet_mismatch");
    expect(registered(strangerHello.runnerId)).toBeUndefined();

    const rightful = await TunnelClient.connect(token);
    rightful.send(helloFor(await rightful.challenge(), owner, { runnerId: "rig-bound" }));
    expect(await rightful.outcome()).toMatchObject({ welcome: { runnerId: "rig-bound" } });
    expect(registered("rig-bound")?.wallet).toBe(owner.address);
  });

  it("does not let another wallet take over a connected runner's id", async () => {
    const owner = generateKeypair();
    const first = await TunnelClient.connect();
    first.send(helloFor(await first.challenge(), owner, { runnerId: "rig-owned" }));
    expect(await first.outcome()).toMatchObject({ welcome: { runnerId: "rig-owned" } });

    const impostor = await TunnelClient.connect();
    impostor.send(helloFor(await impostor.challenge(), generateKeypair(), { runnerId: "rig-owned" }));
    await expectRefused(impostor, "runner_id_taken");
    expect(registered("rig-owned")).toMatchObject({ wallet: owner.address, status: "online" });
    expect(first.closed).toBeUndefined();

    // The same wallet reconnecting replaces its own older tunnel, as a restarted runner must.
    const restarted = await TunnelClient.connect();
    restarted.send(helloFor(await restarted.challenge(), owner, { runnerId: "rig-owned" }));
    expect(await restarted.outcome()).toMatchObject({ welcome: { runnerId: "rig-owned" } });
    expect((await first.closedPromise).code).toBe(TunnelCloseCode.Replaced);
    expect(registered("rig-owned")).toMatchObject({ wallet: owner.address, status: "online" });
  });
});

describe("runner tunnel: malformed handshakes", () => {
  const wallet = generateKeypair();

  it.each<[string, (challenge: ChallengeMessage) => unknown, string]>([
    ["a hello without wallet", (challenge) => ({ ...helloFor(challenge, wallet), wallet: undefined }), "bad_hello"],
    [
      "a wallet that is not an address",
      (challenge) => helloFor(challenge, wallet, { wallet: "not-a-wallet" }),
      "bad_hello",
    ],
    [
      "a 44-character wallet that is not base58",
      (challenge) => helloFor(challenge, wallet, { wallet: "0".repeat(44) }),
      "bad_signature",
    ],
    [
      "a signature that is not base58",
      (challenge) => helloFor(challenge, wallet, { signature: "0OIl".repeat(20) }),
      "bad_signature",
    ],
    ["an empty signature", (challenge) => helloFor(challenge, wallet, { signature: "" }), "bad_hello"],
    ["no nonce", (challenge) => ({ ...helloFor(challenge, wallet), nonce: undefined }), "bad_hello"],
    ["a runner id with spaces", (challenge) => helloFor(challenge, wallet, { runnerId: "rig one" }), "bad_hello"],
    [
      "a runner id of 200 characters",
      (challenge) => helloFor(challenge, wallet, { runnerId: "r".repeat(200) }),
      "bad_hello",
    ],
    ["an unknown engine", (challenge) => ({ ...helloFor(challenge, wallet), engine: "tgi" }), "bad_hello"],
    [
      "models that are not an array",
      (challenge) => ({ ...helloFor(challenge, wallet), models: "all of them" }),
      "bad_hello",
    ],
    [
      "a model in an unknown state",
      (challenge) => ({ ...helloFor(challenge, wallet), models: [{ model: "m", engineModel: "m", state: "warm" }] }),
      "bad_hello",
    ],
    [
      "a GPU with negative memory",
      (challenge) => ({
        ...helloFor(challenge, wallet),
        gpus: [{ index: 0, name: "x", memoryTotalMiB: -1, memoryFreeMiB: 0 }],
      }),
      "bad_hello",
    ],
    ["maxConcurrentJobs 0", (challenge) => helloFor(challenge, wallet, { maxConcurrentJobs: 0 }), "bad_hello"],
    [
      "protocol version 2",
      (challenge) => helloFor(challenge, wallet, { protocolVersion: TUNNEL_PROTOCOL_VERSION + 1 }),
      "protocol_version",
    ],
    [
      "a heartbeat before hello",
      () => ({ type: "heartbeat", sentAt: Date.now(), activeJobs: 0, models: [], gpus: [] }),
      "expected_hello",
    ],
    ["a chunk before hello", () => ({ type: "chunk", jobId: "j", chunk: {} }), "expected_hello"],
    ["a frame without type", (challenge) => ({ ...helloFor(challenge, wallet), type: undefined }), "expected_hello"],
    ["a JSON array", () => "[]", "expected_hello"],
    ["JSON null", () => "null", "expected_hello"],
    ["a JSON number", () => "42", "expected_hello"],
    ["text that is not JSON", () => "hello, gateway", "expected_hello"],
    ["a binary frame", (challenge) => Buffer.from(JSON.stringify(helloFor(challenge, wallet))), "expected_hello"],
  ])("refuses %s", async (_name, build, code) => {
    const client = await TunnelClient.connect();
    const challenge = await client.challenge();
    const frame = build(challenge);
    client.send(frame);
    await expectRefused(client, code);
    expect(stack.gateway.services.registry.list().some((runner) => runner.wallet === wallet.address)).toBe(false);
  });

  it("ignores a good hello sent right behind a refused one", async () => {
    const client = await TunnelClient.connect();
    const challenge = await client.challenge();
    const good = helloFor(challenge, wallet, { runnerId: "rig-second-chance" });
    client.send({ ...good, protocolVersion: 99 });
    client.send(good);
    await expectRefused(client, "protocol_version");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.frames.some((frame) => frame.type === "welcome")).toBe(false);
    expect(registered("rig-second-chance")).toBeUndefined();
  });
});

describe("runner tunnel: the gateway after all that", () => {
  it("still welcomes a good runner and serves through it", async () => {
    const agent = await stack.addRunner({ models: ["qwen2.5-7b-instruct"] });
    await eventually(() => (agent.connected ? true : undefined));
    const response = await request(`${stack.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "qwen2.5-7b-instruct",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 3,
      }),
    });
    expect(response.statusCode).toBe(200);
    await response.body.dump();
  });
});
