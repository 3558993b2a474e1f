/**
 * `npm run bench`: starts what each scenario needs (engine simulator, gateway, runner) as
 * processes, drives load on loopback, writes `loadtest/results/<id>-<name>.json`, `SUMMARY.md`
 * and `chart.svg`, prints each scenario's figure last and exits 1 when a target is missed.
 * Everything is bounded: each scenario in time and count, the whole run by a watchdog.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseBenchOptions, USAGE, UsageError } from "./lib/cli-options.ts";
import { isCpuProfile, renderProfileMarkdown, summarizeCpuProfile } from "./lib/cpu-profile.ts";
import { killAllServices, REPOSITORY_ROOT } from "./lib/processes.ts";
import {
  renderSummaryMarkdown,
  resultFileName,
  type ScenarioId,
  type ScenarioResult,
  validateResult,
} from "./lib/results.ts";
import { buildResult, environment, type Scenario, type ScenarioContext } from "./lib/scenario-kit.ts";
import { renderCharts } from "./lib/svg-chart.ts";
import { addedLatency } from "./scenarios/a-latency.ts";
import { throughput } from "./scenarios/b-throughput.ts";
import { concurrentStreams } from "./scenarios/c-streams.ts";
import { soak } from "./scenarios/d-soak.ts";
import { billingCost } from "./scenarios/e-billing.ts";
import { settlementThroughput } from "./scenarios/f-settlement.ts";

const SCENARIOS: Record<ScenarioId, { name: string; title: string; run: Scenario; boundMinutes: number }> = {
  a: { name: "latency", title: "added latency at concurrency 1 (non-stream)", run: addedLatency, boundMinutes: 5 },
  b: { name: "throughput", title: "max throughput at 50 connections (non-stream)", run: throughput, boundMinutes: 5 },
  c: { name: "streams", title: "1,000 concurrent SSE streams at 20 ms/token", run: concurrentStreams, boundMinutes: 5 },
  d: { name: "soak", title: "soak at half of (b)'s throughput", run: soak, boundMinutes: 4 },
  e: { name: "billing", title: "billing on vs off", run: billingCost, boundMinutes: 5 },
  f: {
    name: "settlement",
    title: "100k usage records → signed batch, proofs, payout plan",
    run: settlementThroughput,
    boundMinutes: 3,
  },
};

/** The gateway's boot (tsx compiling the sources) is not the hot path. */
const PROFILE_SKIP_MS = 5_000;

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

function readResults(directory: string): ScenarioResult[] {
  const results: ScenarioResult[] = [];
  for (const file of readdirSync(directory)) {
    if (!/^[a-f]-[a-z]+\.json$/.test(file)) continue;
    try {
      const parsed: unknown = JSON.parse(readFileSync(join(directory, file), "utf8"));
      if (validateResult(parsed).length === 0) results.push(parsed as ScenarioResult);
    } catch {
      // A broken file is left out of the summary rather than stopping it.
    }
  }
  return results;
}

function failedResult(context: ScenarioContext, id: ScenarioId, error: unknown): ScenarioResult {
  const message = error instanceof Error ? error.message : String(error);
  const spec = SCENARIOS[id];
  return buildResult(
    context,
    {
      scenario: id,
      name: spec.name,
      title: spec.title,
      startedAt: new Date(),
      parameters: {},
      measurements: {},
      samples: {},
      checks: [],
      figures: "not measured (the scenario could not run)",
      errors: { count: 1, examples: [message.split("\n")[0] ?? message] },
      notes: [`The scenario stopped with an error: ${message.slice(0, 2000)}`],
      charts: [],
    },
    environment(),
  );
}

/** Summarises the profiles the gateway wrote during one scenario; the busiest thread is the main one. */
function summariseProfiles(directory: string, since: number, id: ScenarioId, resultsDir: string): void {
  const candidates = readdirSync(directory)
    .filter((file) => file.endsWith(".cpuprofile"))
    .map((file) => join(directory, file))
    .filter((path) => statSync(path).mtimeMs >= since);
  let best: ReturnType<typeof summarizeCpuProfile> | undefined;
  for (const path of candidates) {
    const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
    if (!isCpuProfile(parsed)) continue;
    const summary = summarizeCpuProfile(parsed, REPOSITORY_ROOT, 25, PROFILE_SKIP_MS);
    if (!best || summary.busyMs > best.busyMs) best = summary;
  }
  if (!best) {
    log(`(${id}) no CPU profile was written`);
    return;
  }
  const markdown = renderProfileMarkdown(
    best,
    `Gateway CPU profile under scenario (${id}) (the first ${PROFILE_SKIP_MS / 1000} s, the boot, left out)`,
  );
  writeAtomically(join(resultsDir, `profile-${id}.md`), markdown);
  log(`(${id}) gateway CPU profile: busy ${(best.busyMs / 1000).toFixed(1)} s; top self time:`);
  for (const entry of best.functions.slice(0, 12))
    log(`    ${entry.percent.toFixed(1).padStart(5)} %  ${entry.functionName}  ${entry.location}`);
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseBenchOptions>;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const baseDir = options.resultsDir ?? join(REPOSITORY_ROOT, "loadtest", "results");
  // Profiled figures carry the profiler's overhead: they never replace the real ones.
  const resultsDir = options.cpuProf ? join(baseDir, "profile") : baseDir;
  mkdirSync(resultsDir, { recursive: true });
  const cpuProfileDir = options.cpuProf ? join(resultsDir, "cpuprofiles") : undefined;
  if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });

  const boundMinutes = options.scenarios.reduce(
    (total, id) => total + SCENARIOS[id].boundMinutes + (id === "d" ? options.soakMinutes : 0),
    0,
  );
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: still running after ${boundMinutes} minutes; stopping everything\n`);
    killAllServices();
    process.exit(1);
  }, boundMinutes * 60_000);
  watchdog.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      killAllServices();
      process.exit(130);
    });
  }

  const earlier = new Map<ScenarioId, ScenarioResult>();
  const command = `npm run bench -- --scenario ${options.scenarios.join(",")}${options.quick ? " --quick" : ""}${options.scenarios.includes("d") ? ` --soak-minutes ${options.soakMinutes}` : ""}`;
  let allPassed = true;
  for (const id of options.scenarios) {
    const context: ScenarioContext = {
      quick: options.quick,
      soakMinutes: options.soakMinutes,
      cpuProfileDir,
      resultsDir: baseDir,
      earlier,
      log,
    };
    const started = Date.now();
    log(`(${id}) ${SCENARIOS[id].title}: starting`);
    let result: ScenarioResult;
    try {
      result = await SCENARIOS[id].run(context);
    } catch (error) {
      result = failedResult(context, id, error);
    }
    earlier.set(id, result);
    writeAtomically(join(resultsDir, resultFileName(result)), `${JSON.stringify(result, null, 2)}\n`);
    if (cpuProfileDir) summariseProfiles(cpuProfileDir, started, id, resultsDir);
    for (const note of result.notes) log(`(${id}) note: ${note}`);
    for (const example of result.errors.examples) log(`(${id}) error: ${example}`);
    for (const check of result.checks)
      log(
        `(${id}) ${check.passed ? "ok    " : "MISSED"} ${check.name}: ${check.value ?? "not measured"} ${check.unit} (target ${check.comparator} ${check.target})`,
      );
    // The figure is the scenario's last line.
    process.stdout.write(`${result.figure}\n`);
    allPassed &&= result.passed;
  }

  const results = readResults(resultsDir);
  writeAtomically(join(resultsDir, "SUMMARY.md"), renderSummaryMarkdown(results, command));
  writeAtomically(
    join(resultsDir, "chart.svg"),
    renderCharts(results.sort((l, r) => l.scenario.localeCompare(r.scenario)).flatMap((result) => result.charts)),
  );
  log(`results in ${resultsDir}`);
  clearTimeout(watchdog);
  return allPassed ? 0 : 1;
}

main().then(
  (code) => {
    killAllServices();
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    killAllServices();
    process.exit(1);
  },
);
