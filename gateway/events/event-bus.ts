/**
 * The in-process event bus: every publisher (job service, registry, settlement) calls
 * `publish`, every consumer (WebSocket clients, the webhook dispatcher) subscribes. A small ring
 * of recent events lets a client that reconnects ask for what it missed (`?since=<eventId>`).
 */
import { randomBytes } from "node:crypto";
import type { EventPublisher, HypernodeEvent, HypernodeEventMap, HypernodeEventType } from "./types.ts";

export type EventListener = (event: HypernodeEvent) => void;

export interface EventBusOptions {
  /** Recent events kept for replay. */
  retainedEvents?: number;
  /** Told about a subscriber that threw; the default drops the error (publish must not fail). */
  onListenerError?: (error: unknown, event: HypernodeEvent) => void;
}

export const DEFAULT_RETAINED_EVENTS = 1_000;

export function newEventId(): string {
  return `evt_${randomBytes(12).toString("base64url")}`;
}

export class EventBus implements EventPublisher {
  private readonly listeners = new Set<EventListener>();
  private readonly recent: HypernodeEvent[] = [];
  private readonly retainedEvents: number;
  /** Replaceable after construction: the bus is created before the app has its logger. */
  onListenerError: (error: unknown, event: HypernodeEvent) => void;

  constructor(options: EventBusOptions = {}) {
    this.retainedEvents = Math.max(0, options.retainedEvents ?? DEFAULT_RETAINED_EVENTS);
    this.onListenerError = options.onListenerError ?? (() => {});
  }

  publish<Type extends HypernodeEventType>(type: Type, data: HypernodeEventMap[Type]): HypernodeEvent<Type> {
    const event: HypernodeEvent<Type> = { id: newEventId(), type, createdAt: Date.now(), data };
    this.remember(event);
    // A snapshot: a listener that unsubscribes (or subscribes another) mid-delivery must not
    // change who gets this event.
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        // The publisher is a job finishing or a runner connecting: a broken consumer must not
        // turn into a failure there.
        try {
          this.onListenerError(error, event);
        } catch {
          // The error reporter itself failed: nothing more can be done without breaking publish.
        }
      }
    }
    return event;
  }

  /** Calls `listener` for every event published from now on; returns the unsubscribe. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /**
   * Events published after `eventId`, oldest first. Undefined when the id is no longer (or
   * never was) in the ring: the caller cannot know what it missed and should say so.
   */
  since(eventId: string): HypernodeEvent[] | undefined {
    const index = this.recent.findIndex((event) => event.id === eventId);
    if (index === -1) return undefined;
    return this.recent.slice(index + 1);
  }

  /** The retained events, oldest first. */
  recentEvents(): HypernodeEvent[] {
    return [...this.recent];
  }

  close(): void {
    this.listeners.clear();
  }

  private remember(event: HypernodeEvent): void {
    if (this.retainedEvents === 0) return;
    this.recent.push(event);
    // shift() on a 1,000-element array is cheap next to serialising the event for sockets.
    if (this.recent.length > this.retainedEvents) this.recent.shift();
  }
}
