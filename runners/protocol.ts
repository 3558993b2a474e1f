/**
 * The runner tunnel protocol: JSON text frames over the one WebSocket a runner opens to the
 * gateway's `/v1/runners/connect`. Both sides import these types; nothing else crosses.
 *
 * Connection:
 *   1. Runner dials `GET /v1/runners/connect` with `authorization: Bearer hn_…` (its node token).
 *      A bad token is refused at the upgrade with HTTP 401.
 *   2. Gateway → `challenge` (fresh random nonce, single use, short expiry).
 *   3. Runner → `hello`, carrying an ed25519 signature by its wallet over
 *      `challengeSigningBytes(nonce, gatewayId)`. Wrong signature, stale or reused nonce → the
 *      gateway sends `refused` and closes with {@link TunnelCloseCode.AuthenticationFailed}.
 *   4. Gateway → `welcome` (runner id, heartbeat interval). Jobs may flow from here on.
 *
 * Jobs are multiplexed by `jobId`. Streaming jobs use credit-based flow control: the runner may
 * send at most `credit` chunk frames beyond those the gateway has acknowledged with `credit`
 * messages; with none left it stops reading from the engine (backpressure reaches the GPU).
 * Every job ends with exactly one `end` or one `failed` frame from the runner, also after a
 * `cancel` (then with `cancelled: true` and the tokens produced until the engine stopped).
 */
import type { ChatCompletion, ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import type { CreateEmbeddingResponse } from "openai/resources/embeddings";
import type { SignedReceipt } from "../billing/receipts/receipt.ts";

export const TUNNEL_PROTOCOL_VERSION = 1;
export const TUNNEL_PATH = "/v1/runners/connect";

export type EngineKind = "vllm" | "ollama" | "sim";

/** What a job asks the engine to do; one per OpenAI endpoint. */
export type JobOperation = "chat" | "completion" | "embedding";

export enum TunnelCloseCode {
  Normal = 1000,
  GoingAway = 1001,
  ProtocolError = 4400,
  AuthenticationFailed = 4401,
  HeartbeatTimeout = 4408,
  Replaced = 4409,
}

/** One GPU as `nvidia-smi --query-gpu=… --format=csv,noheader,nounits` reports it. */
export interface GpuInfo {
  index: number;
  name: string;
  uuid: string | undefined;
  memoryTotalMiB: number;
  memoryFreeMiB: number;
  temperatureCelsius: number | undefined;
  utilizationPercent: number | undefined;
  driverVersion: string | undefined;
}

/** A model the runner can serve right now. `model` is the catalog id; `engineModel` the name the engine knows. */
export interface ServedModel {
  model: string;
  engineModel: string;
  state: "ready" | "loading";
}

/** Token counts as the engine reported them. Unknown stays undefined, never zero. */
export interface EngineUsage {
  promptTokens: number | undefined;
  completionTokens: number | undefined;
}

export interface JobTimings {
  /** ms since epoch when the runner started the engine request. */
  startedAt: number;
  /** ms from start to the first output token; undefined when none came. */
  firstTokenMs: number | undefined;
  /** ms since epoch when the engine finished or was stopped. */
  finishedAt: number;
}

export interface WireError {
  /** Stable code, e.g. RUNNER_ERR_ENGINE_UNAVAILABLE. */
  code: string;
  message: string;
  /** True when the same job may succeed on another runner (only meaningful before the first token). */
  retryable: boolean;
  /** HTTP status the engine answered with, when it answered. */
  engineStatus?: number;
}

// ───────────────────────── gateway → runner ─────────────────────────

export interface ChallengeMessage {
  type: "challenge";
  nonce: string;
  gatewayId: string;
  expiresAt: number;
}

export interface WelcomeMessage {
  type: "welcome";
  runnerId: string;
  heartbeatIntervalMs: number;
}

export interface RefusedMessage {
  type: "refused";
  code: string;
  message: string;
}

export interface JobMessage {
  type: "job";
  jobId: string;
  operation: JobOperation;
  /** Catalog model id the client asked for (after alias resolution). */
  model: string;
  /** Name the engine serves it under (from the runner's own hello). */
  engineModel: string;
  /** Whether the client wants chunks (`chunk` frames) or one response (`end.response`). */
  stream: boolean;
  /**
   * The OpenAI request body as the client sent it, validated by the gateway. The runner sets
   * `model` to `engineModel` and asks the engine for usage itself.
   */
  body: Record<string, unknown>;
  /** Chunk frames the runner may send before waiting for `credit`. */
  credit: number;
}

export interface CreditMessage {
  type: "credit";
  jobId: string;
  /** Additional chunk frames granted. */
  chunks: number;
}

export interface CancelMessage {
  type: "cancel";
  jobId: string;
  reason: string;
}

export type GatewayToRunnerMessage =
  | ChallengeMessage
  | WelcomeMessage
  | RefusedMessage
  | JobMessage
  | CreditMessage
  | CancelMessage;

// ───────────────────────── runner → gateway ─────────────────────────

export interface HelloMessage {
  type: "hello";
  protocolVersion: number;
  /** Stable id the runner chose (persisted on the host); the gateway may keep or replace it. */
  runnerId: string;
  /** Base58 ed25519 public key: the Solana wallet payouts go to. */
  wallet: string;
  /** Base58 ed25519 signature over `challengeSigningBytes(nonce, gatewayId)`. */
  signature: string;
  /** The nonce being answered (must equal the one the gateway sent on this socket). */
  nonce: string;
  engine: EngineKind;
  models: ServedModel[];
  gpus: GpuInfo[];
  version: string;
  maxConcurrentJobs: number;
}

export interface HeartbeatMessage {
  type: "heartbeat";
  sentAt: number;
  activeJobs: number;
  models: ServedModel[];
  gpus: GpuInfo[];
}

/** A streamed piece of output, already in OpenAI's chunk shape for the operation. */
export interface ChunkMessage {
  type: "chunk";
  jobId: string;
  chunk: ChatCompletionChunk | Completion;
}

export type JobResponse = ChatCompletion | Completion | CreateEmbeddingResponse;

export interface JobEndMessage {
  type: "end";
  jobId: string;
  /** Present for non-streaming jobs: the whole OpenAI response. */
  response?: JobResponse;
  usage: EngineUsage;
  /** True when the job stopped because of a `cancel`. */
  cancelled: boolean;
  timings: JobTimings;
  /** The runner's signed statement of what it served. */
  receipt: SignedReceipt;
}

export interface JobFailedMessage {
  type: "failed";
  jobId: string;
  error: WireError;
  /** Output chunks already sent for this job; 0 means the gateway may retry elsewhere. */
  chunksSent: number;
  /** Tokens produced before the failure (billable), when known. */
  usage: EngineUsage;
  timings: JobTimings;
  /** Present when any output was produced, so partial work is still provable. */
  receipt?: SignedReceipt;
}

export type RunnerToGatewayMessage = HelloMessage | HeartbeatMessage | ChunkMessage | JobEndMessage | JobFailedMessage;

/** The exact bytes a runner signs to prove its wallet: domain-separated, so they can never be a receipt. */
export function challengeSigningBytes(nonce: string, gatewayId: string): Uint8Array {
  return new TextEncoder().encode(`hypernode-runner-auth:v${TUNNEL_PROTOCOL_VERSION}:${gatewayId}:${nonce}`);
}
