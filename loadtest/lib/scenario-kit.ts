/**
 * What every scenario shares: the context the bench hands it, the machine description, and the
 * assembly of a {@link ScenarioResult} from what it measured.
 */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { REPOSITORY_ROOT } from "./processes.ts";
import {
  allPassed,
  type ChartData,
  type Check,
  type Environment,
  headline,
  measured,
  RESULT_SCHEMA,
  type ScenarioId,
  type ScenarioResult,
} from "./results.ts";

export interface ScenarioContext {
  quick: boolean;
  soakMinutes: number;
  /** Set with --cpu-prof: the gateway runs under `node --cpu-prof` writing here. */
  cpuProfileDir: string | undefined;
  resultsDir: string;
  /** Results of scenarios already run in this invocation. */
  earlier: ReadonlyMap<ScenarioId, ScenarioResult>;
  log(line: string): void;
}

export type Scenario = (context: ScenarioContext) => Promise<ScenarioResult>;

export function environment(): Environment {
  const processors = cpus();
  let commit: string | null = null;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: REPOSITORY_ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    commit = null;
  }
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: processors.length,
    cpuModel: processors[0]?.model.trim() ?? "unknown",
    totalMemoryMb: Math.round(totalmem() / 2 ** 20),
    loadAverage1m: loadavg()[0] ?? 0,
    commit,
  };
}

export interface ResultDraft {
  scenario: ScenarioId;
  name: string;
  title: string;
  startedAt: Date;
  parameters: Record<string, number | string | boolean>;
  measurements: Record<string, number | undefined | null>;
  samples: Record<string, number>;
  checks: Check[];
  /** The figures part of the headline ("+0.42 ms mean, +1.10 ms p99"). */
  figures: string;
  errors: { count: number; examples: string[] };
  notes: string[];
  charts: ChartData[];
}

export function buildResult(context: ScenarioContext, draft: ResultDraft, env: Environment): ScenarioResult {
  const measurements: Record<string, number | null> = {};
  for (const [key, value] of Object.entries(draft.measurements)) measurements[key] = measured(value);
  const notes = [...draft.notes];
  if (context.quick) notes.push("Quick run (--quick): short durations, a smoke test; do not quote these figures.");
  if (context.cpuProfileDir)
    notes.push("The gateway ran under --cpu-prof: its figures include the profiler's overhead.");
  return {
    schema: RESULT_SCHEMA,
    scenario: draft.scenario,
    name: draft.name,
    title: draft.title,
    quick: context.quick,
    startedAt: draft.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    environment: env,
    parameters: draft.parameters,
    measurements,
    samples: draft.samples,
    checks: draft.checks,
    figure: headline(draft.scenario, draft.title, draft.figures, draft.checks),
    passed: allPassed(draft.checks),
    errors: draft.errors,
    notes,
    charts: draft.charts,
  };
}

/** Event-loop delay of the harness itself: when it is high, the client, not the server, may be slow. */
export function watchClientEventLoop(): { stop(): { p99Ms: number | undefined; maxMs: number | undefined } } {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return {
    stop() {
      histogram.disable();
      if (histogram.count === 0) return { p99Ms: undefined, maxMs: undefined };
      return { p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6 };
    },
  };
}

/** Milliseconds per phase in normal and --quick runs. */
export function pick<T>(context: ScenarioContext, normal: T, quick: T): T {
  return context.quick ? quick : normal;
}
