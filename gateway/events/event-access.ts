/**
 * Who may see which event. The admin token sees everything; an API key sees only events about
 * its own account: its jobs, and payouts from intents its account owns. Runner, epoch and
 * deployment events describe the operator's network, not a customer's account.
 */
import type { BillingStore } from "../../billing/store/types.ts";
import type { HypernodeEvent, HypernodeEventType } from "./types.ts";

export type EventAudience = { kind: "admin" } | { kind: "account"; accountId: string };

export const EVENT_TYPES: readonly HypernodeEventType[] = [
  "jobCompleted",
  "runnerOnline",
  "runnerOffline",
  "paymentSettled",
  "epochSettled",
  "deploymentProgress",
];

function isEventType(name: string): name is HypernodeEventType {
  return (EVENT_TYPES as readonly string[]).includes(name);
}

/**
 * The `?types=a,b` filter: undefined for "every type", or the error message naming the first
 * unknown type so the client learns of its typo instead of waiting for events that never come.
 */
export function parseTypesFilter(
  value: string | undefined,
): { types: ReadonlySet<HypernodeEventType> | undefined } | { error: string } {
  if (value === undefined || value.trim() === "") return { types: undefined };
  const types = new Set<HypernodeEventType>();
  for (const part of value.split(",")) {
    const name = part.trim();
    if (name === "") continue;
    if (!isEventType(name)) return { error: `Unknown event type '${name}'. Known types: ${EVENT_TYPES.join(", ")}.` };
    types.add(name);
  }
  return { types: types.size > 0 ? types : undefined };
}

/** Intent ownership never changes, but a connection can see many intents: cap the memo. */
const MAX_REMEMBERED_INTENTS = 10_000;

/**
 * Decides, per connection, whether an event goes out. Synchronous where it can be (the common
 * case) so ordinary events are not delayed behind a store lookup.
 */
export class EventVisibility {
  private readonly intentOwnedByAccount = new Map<string, boolean>();

  constructor(
    private readonly audience: EventAudience,
    private readonly types: ReadonlySet<HypernodeEventType> | undefined,
    private readonly store: BillingStore | undefined,
  ) {}

  allows(event: HypernodeEvent): boolean | Promise<boolean> {
    if (this.types && !this.types.has(event.type)) return false;
    if (this.audience.kind === "admin") return true;
    const accountId = this.audience.accountId;
    if (isEvent(event, "jobCompleted")) return event.data.accountId === accountId;
    if (isEvent(event, "paymentSettled")) return this.ownsIntent(event.data.intentId, accountId);
    return false;
  }

  private ownsIntent(intentId: string, accountId: string): boolean | Promise<boolean> {
    const known = this.intentOwnedByAccount.get(intentId);
    if (known !== undefined) return known;
    // Without a store nobody can prove ownership: a payout is not shown rather than leaked.
    if (!this.store) return false;
    return this.store.getIntent(intentId).then(
      (intent) => {
        const owned = intent?.accountId === accountId;
        if (this.intentOwnedByAccount.size >= MAX_REMEMBERED_INTENTS) this.intentOwnedByAccount.clear();
        // An unknown intent is not remembered: it may be created right after.
        if (intent) this.intentOwnedByAccount.set(intentId, owned);
        return owned;
      },
      () => false,
    );
  }
}

function isEvent<Type extends HypernodeEventType>(event: HypernodeEvent, type: Type): event is HypernodeEvent<Type> {
  return event.type === type;
}
