/**
 * `GET /v1/events` (WebSocket): the event stream, one JSON text frame per event (the event
 * object as is). `Authorization: Bearer <admin token>` sees every event; an API key sees only
 * events about its own account. `?types=jobCompleted,paymentSettled` narrows the stream;
 * `?since=<eventId>` first replays the retained events published after that one.
 *
 * The route is `auth: "open"` for the shared hook and checks the token itself, because it is
 * the one route that takes either credential.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type {} from "@fastify/websocket";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import fastifyPlugin from "fastify-plugin";
import { WebSocket } from "ws";
import type { ApiKeyStore } from "../../billing/api-keys.ts";
import type { BillingStore } from "../../billing/store/types.ts";
import { invalidRequest } from "../errors.ts";
import { authenticateApiKey, bearerToken } from "../plugins/auth.ts";
import { sendUpgradeRequired } from "../plugins/errors.ts";
import { type EventAudience, EventVisibility, parseTypesFilter } from "./event-access.ts";
import type { EventBus } from "./event-bus.ts";
import type { HypernodeEvent, HypernodeEventType } from "./types.ts";

export interface EventsRouteOptions {
  events: EventBus;
  apiKeys: ApiKeyStore;
  adminToken: string | undefined;
  /** Resolves which account owns an intent (payouts); absent when the gateway runs unbilled. */
  store: BillingStore | undefined;
  /** A client further behind than this is closed with 1008 rather than buffered for. */
  maxBufferedBytes?: number;
}

export const EVENTS_PATH = "/v1/events";
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Events waiting on an ownership lookup, per socket: a stalled store must not grow memory. */
const MAX_EVENTS_AWAITING_LOOKUP = 10_000;

interface EventsQuery {
  types?: string | string[];
  since?: string | string[];
}

interface EventsRequestState {
  audience: EventAudience;
  types: ReadonlySet<HypernodeEventType> | undefined;
  since: string | undefined;
}

const digest = (value: string) => createHash("sha256").update(value).digest();

// Every event goes to many sockets: serialise it once.
const serialised = new WeakMap<HypernodeEvent, string>();
function serialise(event: HypernodeEvent): string {
  let text = serialised.get(event);
  if (text === undefined) {
    text = JSON.stringify(event);
    serialised.set(event, text);
  }
  return text;
}

/** One subscriber socket: keeps the events in publish order even when some await a lookup. */
class EventStream {
  private chain: Promise<void> = Promise.resolve();
  private awaitingLookup = 0;
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly visibility: EventVisibility,
    private readonly maxBufferedBytes: number,
  ) {}

  offer(event: HypernodeEvent): void {
    if (this.closed) return;
    const verdict = this.visibility.allows(event);
    if (this.awaitingLookup === 0 && typeof verdict === "boolean") {
      if (verdict) this.send(event);
      return;
    }
    if (this.awaitingLookup >= MAX_EVENTS_AWAITING_LOOKUP) {
      this.close(1008, "too many events pending");
      return;
    }
    this.awaitingLookup++;
    // Lookups run concurrently; sends wait for every earlier event to be decided first.
    this.chain = Promise.all([this.chain, verdict]).then(([, allowed]) => {
      this.awaitingLookup--;
      if (allowed) this.send(event);
    });
  }

  stop(): void {
    this.closed = true;
  }

  private send(event: HypernodeEvent): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.socket.bufferedAmount > this.maxBufferedBytes) {
      this.close(1008, "client is too slow; reconnect with ?since=<last event id>");
      return;
    }
    this.socket.send(serialise(event));
  }

  private close(code: number, reason: string): void {
    this.closed = true;
    this.socket.close(code, reason);
  }
}

function singleValue(value: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(value)) throw invalidRequest(`Give '${name}' once.`, name, "invalid_value");
  return value;
}

const eventsRoute: FastifyPluginAsync<EventsRouteOptions> = async (app: FastifyInstance, options) => {
  const adminDigest = options.adminToken ? digest(options.adminToken) : undefined;
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const states = new WeakMap<FastifyRequest, EventsRequestState>();

  app.route<{ Querystring: EventsQuery }>({
    method: "GET",
    url: EVENTS_PATH,
    config: { auth: "open" },
    // Before the upgrade, so a bad token or filter is a plain HTTP error the client can read.
    onRequest: async (request) => {
      const token = bearerToken(request);
      let audience: EventAudience;
      if (adminDigest && token && timingSafeEqual(digest(token), adminDigest)) audience = { kind: "admin" };
      else audience = { kind: "account", accountId: (await authenticateApiKey(options.apiKeys, token)).accountId };
      const filter = parseTypesFilter(singleValue(request.query.types, "types"));
      if ("error" in filter) throw invalidRequest(filter.error, "types", "invalid_value");
      const since = singleValue(request.query.since, "since");
      if (since !== undefined && !options.events.since(since)) {
        throw invalidRequest(
          `Event '${since}' is no longer retained; reconnect without 'since'.`,
          "since",
          "event_not_retained",
        );
      }
      states.set(request, { audience, types: filter.types, since });
    },
    handler: (_request, reply) => sendUpgradeRequired(reply, EVENTS_PATH),
    wsHandler: (socket, request) => {
      const state = states.get(request);
      if (!state) {
        socket.close(1008, "unauthenticated");
        return;
      }
      const stream = new EventStream(
        socket,
        new EventVisibility(state.audience, state.types, options.store),
        maxBufferedBytes,
      );
      const replay = state.since ? options.events.since(state.since) : [];
      // Checked before the upgrade, but the ring may have moved on since: never skip silently.
      if (!replay) {
        socket.close(1008, "the 'since' event is no longer retained; reconnect without it");
        return;
      }
      // Replay and subscribe in one synchronous step: no event can fall between the two.
      for (const event of replay) stream.offer(event);
      const unsubscribe = options.events.subscribe((event) => stream.offer(event));
      socket.on("close", () => {
        stream.stop();
        unsubscribe();
      });
      socket.on("error", (error: Error) => request.log.info({ err: error }, "events websocket error"));
      // Events only flow outwards; whatever a client sends is ignored.
    },
  });
};

export default fastifyPlugin(eventsRoute, {
  name: "hypernode-events",
  dependencies: ["@fastify/websocket", "hypernode-auth"],
});
