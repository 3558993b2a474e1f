/**
 * The events the network publishes, on `GET /v1/events` and to webhooks. Every event has a
 * unique id (receivers deduplicate on it) and a type; money is decimal strings of base units.
 */

export interface JobCompletedData {
  jobId: string;
  nodeId: string | undefined;
  accountId: string;
  intentId: string | undefined;
  modelType: string;
  tokenUsage: { promptTokens: number; completionTokens: number; totalTokens: number };
  charge: string | undefined;
  success: boolean;
  executionDuration: number;
  timestamp: number;
}

export interface RunnerStatusData {
  runnerId: string;
  wallet: string;
  engine: string;
  models: string[];
  reason?: string;
}

export interface PaymentSettledData {
  intentId: string;
  runnerId: string | undefined;
  recipient: string;
  role: "runner" | "treasury" | "oracle";
  amount: string;
  signature: string;
  epoch: number;
}

export interface EpochSettledData {
  epoch: number;
  root: string;
  records: number;
  payouts: number;
  amount: string;
  signatures: string[];
}

export interface DeploymentProgressData {
  deploymentId: string;
  model: string;
  runnerId: string | undefined;
  state: string;
  progress: number | undefined;
  message: string | undefined;
}

export interface HypernodeEventMap {
  jobCompleted: JobCompletedData;
  runnerOnline: RunnerStatusData;
  runnerOffline: RunnerStatusData;
  paymentSettled: PaymentSettledData;
  epochSettled: EpochSettledData;
  deploymentProgress: DeploymentProgressData;
}

export type HypernodeEventType = keyof HypernodeEventMap;

export interface HypernodeEvent<Type extends HypernodeEventType = HypernodeEventType> {
  /** Unique per event: `evt_…`. Receivers use it to deduplicate at-least-once deliveries. */
  id: string;
  type: Type;
  /** ms since epoch. */
  createdAt: number;
  data: HypernodeEventMap[Type];
}

/** Publishes events to every subscriber (WebSocket clients, the webhook dispatcher). */
export interface EventPublisher {
  publish<Type extends HypernodeEventType>(type: Type, data: HypernodeEventMap[Type]): HypernodeEvent<Type>;
}
