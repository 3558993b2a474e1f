/**
 * Stand-in for `@types/k6` until that package is installed: the subset of k6's API these
 * scripts use, with the same names and shapes as the DefinitelyTyped definitions, so the
 * scripts typecheck today and unchanged against the real types.
 *
 * When `@types/k6` lands: delete this file and set `"types": ["k6"]` in ./tsconfig.json.
 */

declare const __ENV: { [name: string]: string };
declare const __VU: number;
declare const __ITER: number;

declare module "k6" {
  export type Checker<VT> = (val: VT) => boolean;
  export interface Checkers<VT> {
    [description: string]: Checker<VT>;
  }
  export function check<VT>(val: VT, sets: Checkers<VT>, tags?: object): boolean;
  export function fail(err?: string): never;
  export function group<RT>(name: string, fn: () => RT): RT;
  export function sleep(t: number): void;
}

declare module "k6/http" {
  export type ResponseType = "binary" | "none" | "text";
  export type ResponseBody = string | ArrayBuffer | null;
  export type RequestBody = string | ArrayBuffer | { [name: string]: string };
  export interface Params {
    headers?: { [name: string]: string };
    responseType?: ResponseType;
    tags?: { [name: string]: string };
    timeout?: string | number;
    responseCallback?: ExpectedStatusesCallback;
  }
  export interface Response {
    body: ResponseBody;
    error: string;
    error_code: number;
    headers: { [name: string]: string };
    status: number;
    timings: {
      blocked: number;
      connecting: number;
      tls_handshaking: number;
      sending: number;
      waiting: number;
      receiving: number;
      duration: number;
    };
    url: string;
  }
  export interface ExpectedStatusesObject {
    min: number;
    max: number;
  }
  export interface ExpectedStatusesCallback {
    __brand: never;
  }
  export function get(url: string, params?: Params | null): Response;
  export function post(url: string, body?: RequestBody | null, params?: Params | null): Response;
  export function expectedStatuses(...param: Array<number | ExpectedStatusesObject>): ExpectedStatusesCallback;
  export function setResponseCallback(responseCallback: ExpectedStatusesCallback): void;
}

declare module "k6/ws" {
  export interface Params {
    headers?: { [name: string]: string };
    tags?: { [name: string]: string };
  }
  export interface Response {
    url: string;
    status: number;
    headers: { [name: string]: string };
    body: string;
    error: string;
  }
  export abstract class WebSocketError {
    protected __brand: never;
    error(): string;
  }
  export type EventType = "close" | "error" | "message" | "open" | "ping" | "pong" | "binaryMessage";
  export type EventHandler<ET extends EventType> = ET extends "close"
    ? (code: number) => void
    : ET extends "error"
      ? (error: WebSocketError) => void
      : ET extends "message"
        ? (message: string) => void
        : ET extends "binaryMessage"
          ? (message: ArrayBuffer) => void
          : () => void;
  export abstract class Socket {
    protected __brand: never;
    close(code?: number): void;
    on<ET extends EventType>(event: ET, handler: EventHandler<ET>): void;
    ping(): void;
    send(data: string): void;
    setInterval(handler: () => void, interval: number): void;
    setTimeout(handler: () => void, delay: number): void;
  }
  export type Executor = (socket: Socket) => void;
  export function connect(url: string, callback: Executor): Response;
  export function connect(url: string, params: Params | null, callback: Executor): Response;
}

declare module "k6/metrics" {
  export abstract class Metric {
    protected __brand: never;
    constructor(name: string, isTime?: boolean);
    name: string;
    add(value: number | boolean, tags?: { [name: string]: string }): void;
  }
  export class Counter extends Metric {}
  export class Gauge extends Metric {}
  export class Rate extends Metric {}
  export class Trend extends Metric {}
}

declare module "k6/options" {
  export interface Stage {
    duration: string;
    target: number;
  }
  export type Threshold = string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string };
  interface BaseScenario {
    startTime?: string;
    gracefulStop?: string;
    exec?: string;
    env?: { [name: string]: string };
    tags?: { [name: string]: string };
  }
  export interface ConstantVUsScenario extends BaseScenario {
    executor: "constant-vus";
    vus?: number;
    duration: string;
  }
  export interface RampingVUsScenario extends BaseScenario {
    executor: "ramping-vus";
    stages: Stage[];
    startVUs?: number;
    gracefulRampDown?: string;
  }
  export interface ConstantArrivalRateScenario extends BaseScenario {
    executor: "constant-arrival-rate";
    duration: string;
    rate: number;
    timeUnit?: string;
    preAllocatedVUs: number;
    maxVUs?: number;
  }
  export interface RampingArrivalRateScenario extends BaseScenario {
    executor: "ramping-arrival-rate";
    maxVUs?: number;
    stages: Stage[];
    startRate?: number;
    timeUnit?: string;
    preAllocatedVUs: number;
  }
  export type Scenario =
    | ConstantVUsScenario
    | RampingVUsScenario
    | ConstantArrivalRateScenario
    | RampingArrivalRateScenario;
  export interface Options {
    discardResponseBodies?: boolean;
    scenarios?: { [name: string]: Scenario };
    summaryTrendStats?: string[];
    thresholds?: { [name: string]: Threshold[] };
    tags?: { [name: string]: string };
  }
}
