/**
 * (f) Settlement throughput (issue 4): 100k usage records → a signed Merkle batch, every
 * record's inclusion proof and a settlement payout plan, in one process. The work runs in
 * `billing/settlement/bench-main.ts`, spawned as `node --import tsx … --records N` (loadtest
 * imports nothing internal); its one JSON line carries the timings, taken with
 * `performance.now()` around the three steps only (synthetic data is built before the clock).
 */
import { spawn } from "node:child_process";
import { inheritedEnvironment, REPOSITORY_ROOT } from "../lib/processes.ts";
import { makeCheck } from "../lib/results.ts";
import { buildResult, environment, pick, type Scenario } from "../lib/scenario-kit.ts";
import { parseSettlementLine } from "../lib/settlement-line.ts";

const BENCH_MODULE = "billing/settlement/bench-main.ts";
const TARGET_TOTAL_MS = 5_000;
/** The child's own bound: tsx compiling, building 100k records and the work itself take seconds. */
const CHILD_TIMEOUT_MS = 120_000;
const OUTPUT_KEPT = 64 * 1024;

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runBenchModule(records: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", BENCH_MODULE, "--records", String(records)], {
      cwd: REPOSITORY_ROOT,
      env: inheritedEnvironment(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const killChild = () => child.kill("SIGKILL");
    process.once("exit", killChild);
    const timer = setTimeout(() => {
      timedOut = true;
      killChild();
    }, CHILD_TIMEOUT_MS);
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (text: string) => {
      stdout = (stdout + text).slice(-OUTPUT_KEPT);
    });
    child.stderr.on("data", (text: string) => {
      stderr = (stderr + text).slice(-OUTPUT_KEPT);
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      process.removeListener("exit", killChild);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      process.removeListener("exit", killChild);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

export const settlementThroughput: Scenario = async (context) => {
  const startedAt = new Date();
  const env = environment();
  const records = pick(context, 100_000, 10_000);
  context.log(`(f) node --import tsx ${BENCH_MODULE} --records ${records}`);
  const run = await runBenchModule(records);
  const figures = parseSettlementLine(run.stdout, records);
  const errorExamples: string[] = [];
  if (run.timedOut) errorExamples.push(`${BENCH_MODULE} ran past ${CHILD_TIMEOUT_MS} ms and was killed`);
  else if (run.code !== 0)
    errorExamples.push(
      `${BENCH_MODULE} exited with ${run.code ?? run.signal}: ${run.stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 500)}`,
    );
  if (figures === undefined && errorExamples.length === 0)
    errorExamples.push(`${BENCH_MODULE} printed no valid figures line: ${run.stdout.trim().slice(-300)}`);
  // An exit other than 0 means the output did not check out: its figures are not reported.
  const measuredFigures = run.code === 0 && !run.timedOut ? figures : undefined;
  const checks = [
    makeCheck(
      `${records.toLocaleString("en-US")} records → batch, proofs, payout plan`,
      measuredFigures?.totalMs,
      "<=",
      TARGET_TOTAL_MS,
      "ms",
    ),
  ];
  const ms = (value: number | undefined) => (value === undefined ? "not measured" : `${value.toFixed(0)} ms`);
  const summary =
    measuredFigures === undefined
      ? "not measured"
      : `${ms(measuredFigures.totalMs)} for ${records.toLocaleString("en-US")} records (batch ${ms(measuredFigures.batchMs)}, proofs ${ms(measuredFigures.proofsMs)}, plan ${ms(measuredFigures.planMs)}; ${measuredFigures.payouts} payouts)`;
  return buildResult(
    context,
    {
      scenario: "f",
      name: "settlement",
      title: "100k usage records → signed batch, proofs, payout plan",
      startedAt,
      parameters: { records, intents: 32, runnerWallets: 16, command: `node --import tsx ${BENCH_MODULE}` },
      measurements: {
        batchMs: measuredFigures?.batchMs,
        proofsMs: measuredFigures?.proofsMs,
        planMs: measuredFigures?.planMs,
        totalMs: measuredFigures?.totalMs,
        payouts: measuredFigures?.payouts,
      },
      samples: { runs: measuredFigures === undefined ? 0 : 1 },
      checks,
      figures: summary,
      errors: { count: errorExamples.length, examples: errorExamples },
      notes: [
        "One run in a fresh process: buildBatch (canonical bytes, sha256 leaves and nodes, ed25519 root signature) + allInclusionProofs + planSettlement over 32 intents (one escrow each), 16 runner wallets; synthetic records (receipt-sized receiptJson) are built before the clock starts.",
      ],
      charts: [
        {
          kind: "bars",
          title: "(f) settlement pipeline",
          unit: "ms",
          bars: [
            { label: "batch", value: measuredFigures?.batchMs ?? null, group: "gateway" },
            { label: "proofs", value: measuredFigures?.proofsMs ?? null, group: "gateway" },
            { label: "plan", value: measuredFigures?.planMs ?? null, group: "gateway" },
            { label: "total", value: measuredFigures?.totalMs ?? null, group: "other" },
          ],
          target: TARGET_TOTAL_MS,
        },
      ],
    },
    env,
  );
};
