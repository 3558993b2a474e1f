/**
 * Webhook delivery: every event is POSTed (JSON) to every configured endpoint, signed with the
 * endpoint's secret (see `webhook-signature.ts`). Network errors, timeouts and non-2xx answers
 * are retried with exponential backoff and jitter up to `maxAttempts`: at-least-once, so
 * receivers deduplicate on `x-hypernode-event-id`. A delivery that got a 2xx is never sent
 * again. The queue is bounded: past it, new deliveries are dropped (and logged) rather than
 * growing memory while an endpoint is down.
 */
import type { EventBus } from "./event-bus.ts";
import type { HypernodeEvent } from "./types.ts";
import { EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, signWebhookBody } from "./webhook-signature.ts";

export { verifyWebhookSignature } from "./webhook-signature.ts";

export interface WebhookEndpoint {
  url: string;
  secret: string;
}

export interface WebhookLogger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface WebhookDispatcherOptions {
  endpoints: WebhookEndpoint[];
  /** Attempts per event per endpoint, the first included. */
  maxAttempts?: number;
  /** The first retry's delay; each later one doubles, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** One attempt's limit, answer included. */
  requestTimeoutMs?: number;
  /** Deliveries in flight at once, across endpoints. */
  concurrency?: number;
  /** Deliveries queued, in flight or waiting to retry; new ones past this are dropped. */
  maxPending?: number;
  logger?: WebhookLogger;
}

export const WEBHOOK_DEFAULTS = {
  maxAttempts: 6,
  initialDelayMs: 500,
  maxDelayMs: 60_000,
  requestTimeoutMs: 10_000,
  concurrency: 8,
  maxPending: 10_000,
} as const;

/** Keys of deliveries that got a 2xx, remembered so a re-offered event is not sent again. */
const REMEMBERED_DELIVERIES = 50_000;

interface Delivery {
  key: string;
  event: HypernodeEvent;
  body: string;
  endpoint: WebhookEndpoint;
  attempt: number;
}

type AttemptResult = { ok: true } | { ok: false; reason: string };

export class WebhookDispatcher {
  private readonly settings: Required<Omit<WebhookDispatcherOptions, "logger" | "endpoints">>;
  private readonly ready: Delivery[] = [];
  /** Keys queued, in flight or waiting to retry: a second offer of the same event is ignored. */
  private readonly pending = new Set<string>();
  private readonly delivered = new Set<string>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.settings = {
      maxAttempts: Math.max(1, options.maxAttempts ?? WEBHOOK_DEFAULTS.maxAttempts),
      initialDelayMs: options.initialDelayMs ?? WEBHOOK_DEFAULTS.initialDelayMs,
      maxDelayMs: options.maxDelayMs ?? WEBHOOK_DEFAULTS.maxDelayMs,
      requestTimeoutMs: options.requestTimeoutMs ?? WEBHOOK_DEFAULTS.requestTimeoutMs,
      concurrency: Math.max(1, options.concurrency ?? WEBHOOK_DEFAULTS.concurrency),
      maxPending: Math.max(1, options.maxPending ?? WEBHOOK_DEFAULTS.maxPending),
    };
  }

  /** Delivers every event the bus publishes from now on. */
  attach(bus: EventBus): this {
    this.unsubscribe?.();
    this.unsubscribe = bus.subscribe((event) => this.enqueue(event));
    return this;
  }

  /** Schedules `event` for every endpoint; one already delivered (or pending) is skipped. */
  enqueue(event: HypernodeEvent): void {
    if (this.closed) return;
    const body = JSON.stringify(event);
    this.options.endpoints.forEach((endpoint, index) => {
      const key = `${index}:${event.id}`;
      if (this.delivered.has(key) || this.pending.has(key)) return;
      if (this.pending.size >= this.settings.maxPending) {
        this.options.logger?.error(
          { eventId: event.id, eventType: event.type, url: endpoint.url },
          "webhook queue full: event dropped",
        );
        return;
      }
      this.pending.add(key);
      this.ready.push({ key, event, body, endpoint, attempt: 0 });
    });
    this.pump();
  }

  /** Deliveries not yet acknowledged or given up on. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Stops delivery: no retries, in-flight requests aborted, the queue dropped. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    for (const controller of this.inFlight) controller.abort();
    this.ready.length = 0;
    this.pending.clear();
  }

  private pump(): void {
    while (!this.closed && this.inFlight.size < this.settings.concurrency && this.ready.length > 0) {
      const delivery = this.ready.shift();
      if (delivery) this.start(delivery);
    }
  }

  private start(delivery: Delivery): void {
    const controller = new AbortController();
    this.inFlight.add(controller);
    delivery.attempt++;
    void this.attempt(delivery, controller).then((result) => {
      this.inFlight.delete(controller);
      if (!this.closed) this.settle(delivery, result);
      this.pump();
    });
  }

  private async attempt(delivery: Delivery, controller: AbortController): Promise<AttemptResult> {
    const timeout = setTimeout(() => controller.abort(), this.settings.requestTimeoutMs);
    timeout.unref();
    try {
      const response = await fetch(delivery.endpoint.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "hypernode-webhooks/1",
          [EVENT_ID_HEADER]: delivery.event.id,
          [EVENT_TYPE_HEADER]: delivery.event.type,
          // Signed per attempt: a retry an hour later must still pass the receiver's tolerance.
          [SIGNATURE_HEADER]: signWebhookBody(delivery.body, delivery.endpoint.secret),
        },
        body: delivery.body,
        // A redirect is the receiver's misconfiguration; following it would send the signed body elsewhere.
        redirect: "manual",
        signal: controller.signal,
      });
      // The body is not used; reading it frees the connection for reuse.
      await response.arrayBuffer().catch(() => undefined);
      return response.ok ? { ok: true } : { ok: false, reason: `HTTP ${response.status}` };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timeout);
    }
  }

  private settle(delivery: Delivery, result: AttemptResult): void {
    if (result.ok) {
      this.pending.delete(delivery.key);
      this.rememberDelivered(delivery.key);
      return;
    }
    const details = {
      eventId: delivery.event.id,
      eventType: delivery.event.type,
      url: delivery.endpoint.url,
      attempt: delivery.attempt,
      reason: result.reason,
    };
    if (delivery.attempt >= this.settings.maxAttempts) {
      this.pending.delete(delivery.key);
      this.options.logger?.error(details, "webhook delivery failed: giving up");
      return;
    }
    const delayMs = this.retryDelay(delivery.attempt);
    this.options.logger?.warn({ ...details, retryInMs: delayMs }, "webhook delivery failed: will retry");
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      if (this.closed) return;
      this.ready.push(delivery);
      this.pump();
    }, delayMs);
    // Pending retries must not keep a stopping process alive.
    timer.unref();
    this.retryTimers.add(timer);
  }

  /** After attempt n: initial × 2^(n-1), capped, ±20% so endpoints that failed together do not retry together. */
  private retryDelay(attempt: number): number {
    const base = Math.min(this.settings.maxDelayMs, this.settings.initialDelayMs * 2 ** (attempt - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private rememberDelivered(key: string): void {
    this.delivered.add(key);
    if (this.delivered.size > REMEMBERED_DELIVERIES) {
      // Sets iterate in insertion order: the first key is the oldest.
      const oldest = this.delivered.values().next();
      if (!oldest.done) this.delivered.delete(oldest.value);
    }
  }
}
