/**
 * The bench command line, parsed and validated as a pure function so it can be tested:
 *
 *   --scenario a,b,c     which scenarios to run (default: all, a..f)
 *   --quick              short durations: a smoke run, not figures to quote
 *   --soak-minutes <n>   (d)'s duration (default 10; 0 < n ≤ 120)
 *   --cpu-prof           run the gateway under `node --cpu-prof` and summarise the profile
 *   --results <dir>      where results go (default loadtest/results)
 *   --help
 */
import { parseArgs } from "node:util";
import { SCENARIO_IDS, type ScenarioId } from "./results.ts";

export interface BenchOptions {
  scenarios: ScenarioId[];
  quick: boolean;
  soakMinutes: number;
  cpuProf: boolean;
  resultsDir: string | undefined;
  help: boolean;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const USAGE = `usage: node --import tsx loadtest/bench.ts [options]

  --scenario a,b,c,d,e,f scenarios to run (default: all)
                           a  added latency at concurrency 1 (non-stream), gateway vs engine
                           b  max throughput at 50 connections (non-stream), ratio to engine
                           c  1,000 concurrent SSE streams at 20 ms/token: stalls, TTFT, RSS
                           d  soak at half of (b)'s throughput: RSS slope, errors
                           e  billing on vs off: throughput ratio
                           f  100k usage records → signed batch, proofs, payout plan: time
  --quick                short durations (a smoke run; figures are not to be quoted)
  --soak-minutes <n>     duration of (d) in minutes (default 10)
  --cpu-prof             profile the gateway (node --cpu-prof) and summarise the top functions
  --results <dir>        results directory (default loadtest/results)
  --help                 this text

Exits 0 when every target of every scenario run holds, 1 when one is missed, 2 on bad usage.`;

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const scenarios: ScenarioId[] = [];
  const requested = values.scenario?.flatMap((list) => list.split(",")) ?? [...SCENARIO_IDS];
  for (const raw of requested) {
    const id = raw.trim().toLowerCase();
    if (id === "") continue;
    if (id === "all") {
      for (const all of SCENARIO_IDS) if (!scenarios.includes(all)) scenarios.push(all);
      continue;
    }
    if (!SCENARIO_IDS.includes(id as ScenarioId))
      throw new UsageError(`--scenario: unknown scenario "${raw}" (expected ${SCENARIO_IDS.join(", ")})`);
    if (!scenarios.includes(id as ScenarioId)) scenarios.push(id as ScenarioId);
  }
  if (scenarios.length === 0) throw new UsageError("--scenario: no scenario given");
  scenarios.sort();
  let soakMinutes = 10;
  if (values["soak-minutes"] !== undefined) {
    soakMinutes = Number(values["soak-minutes"]);
    if (!Number.isFinite(soakMinutes) || soakMinutes <= 0 || soakMinutes > 120)
      throw new UsageError(`--soak-minutes: expected a number of minutes in (0, 120], got "${values["soak-minutes"]}"`);
  }
  return {
    scenarios,
    quick: values.quick ?? false,
    soakMinutes,
    cpuProf: values["cpu-prof"] ?? false,
    resultsDir: values.results,
    help: values.help ?? false,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      scenario: { type: "string", multiple: true },
      quick: { type: "boolean" },
      "soak-minutes": { type: "string" },
      "cpu-prof": { type: "boolean" },
      results: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}
