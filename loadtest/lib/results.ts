/**
 * The result of one scenario, as written to `loadtest/results/<id>-<name>.json`, and the pure
 * functions that build, check and print it. A figure that was not measured is `null` and prints
 * "not measured"; a check on it fails. A scenario with no checks, or with any check failing,
 * has not passed.
 */

export const RESULT_SCHEMA = "hypernode-bench/1";

export const SCENARIO_IDS = ["a", "b", "c", "d", "e", "f"] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

export type Comparator = "<=" | ">=";

export interface Check {
  /** What is checked, e.g. "added latency, mean". */
  name: string;
  value: number | null;
  comparator: Comparator;
  target: number;
  unit: string;
  passed: boolean;
}

export interface BarDatum {
  label: string;
  value: number | null;
  /** Colour group: the engine alone, through the gateway, or a target line. */
  group: "direct" | "gateway" | "other";
}

export type ChartData =
  | { kind: "bars"; title: string; unit: string; bars: BarDatum[]; target?: number }
  | { kind: "line"; title: string; unit: string; xUnit: string; points: Array<[number, number]> };

export interface Environment {
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  totalMemoryMb: number;
  /** 1-minute load average when the scenario started (other work on the machine skews figures). */
  loadAverage1m: number;
  commit: string | null;
}

export interface ScenarioResult {
  schema: typeof RESULT_SCHEMA;
  scenario: ScenarioId;
  name: string;
  title: string;
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  environment: Environment;
  parameters: Record<string, number | string | boolean>;
  /** Every number the scenario measured; null where it could not be measured. */
  measurements: Record<string, number | null>;
  /** How many samples each measurement rests on. */
  samples: Record<string, number>;
  checks: Check[];
  /** The one-line headline printed last. */
  figure: string;
  passed: boolean;
  errors: { count: number; examples: string[] };
  notes: string[];
  charts: ChartData[];
}

/** undefined, NaN and ±Infinity become null: never written as a number. */
export function measured(value: number | undefined | null): number | null {
  return value === undefined || value === null || !Number.isFinite(value) ? null : value;
}

export function makeCheck(
  name: string,
  value: number | undefined | null,
  comparator: Comparator,
  target: number,
  unit: string,
): Check {
  const recorded = measured(value);
  const passed = recorded !== null && (comparator === "<=" ? recorded <= target : recorded >= target);
  return { name, value: recorded, comparator, target, unit, passed };
}

/** A scenario passes only when it checked something and every check passed. */
export function allPassed(checks: readonly Check[]): boolean {
  return checks.length > 0 && checks.every((check) => check.passed);
}

const DECIMALS: Record<string, number> = { ms: 3, "×": 3, "%": 1, MB: 1, "req/s": 0, "MB/min": 2, count: 0 };

export function formatValue(value: number | null | undefined, unit: string, signed = false): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "not measured";
  const decimals = DECIMALS[unit] ?? 2;
  const text = value.toFixed(decimals);
  const sign = signed && value >= 0 ? "+" : "";
  if (unit === "count") return `${sign}${text}`;
  if (unit === "×") return `${sign}${text}×`;
  if (unit === "%") return `${sign}${text} %`;
  return `${sign}${text} ${unit}`;
}

export function formatCheck(check: Check): string {
  const verdict = check.passed ? "ok" : "MISSED";
  return `${check.name} ${formatValue(check.value, check.unit)} (target ${check.comparator} ${formatValue(check.target, check.unit)}) ${verdict}`;
}

/** The scenario's last printed line: "(b) throughput: 0.41× direct … PASS". */
export function headline(scenario: ScenarioId, title: string, figures: string, checks: readonly Check[]): string {
  const missed = checks.filter((check) => !check.passed).map((check) => check.name);
  const verdict = allPassed(checks)
    ? "PASS"
    : checks.length === 0
      ? "FAIL (nothing was checked)"
      : `FAIL (missed: ${missed.join("; ")})`;
  return `(${scenario}) ${title}: ${figures} — ${verdict}`;
}

/** Structural validation of a parsed result file; returns the problems found (none: valid). */
export function validateResult(input: unknown): string[] {
  const problems: string[] = [];
  if (typeof input !== "object" || input === null || Array.isArray(input)) return ["not a JSON object"];
  const result = input as Record<string, unknown>;
  const expectString = (key: string) => {
    if (typeof result[key] !== "string") problems.push(`${key}: expected a string`);
  };
  if (result.schema !== RESULT_SCHEMA) problems.push(`schema: expected "${RESULT_SCHEMA}"`);
  if (!SCENARIO_IDS.includes(result.scenario as ScenarioId)) problems.push("scenario: expected one of a..f");
  for (const key of ["name", "title", "startedAt", "finishedAt", "figure"]) expectString(key);
  if (typeof result.quick !== "boolean") problems.push("quick: expected a boolean");
  if (typeof result.passed !== "boolean") problems.push("passed: expected a boolean");
  const measurements = result.measurements;
  if (typeof measurements !== "object" || measurements === null) problems.push("measurements: expected an object");
  else {
    for (const [key, value] of Object.entries(measurements)) {
      if (value !== null && (typeof value !== "number" || !Number.isFinite(value)))
        problems.push(`measurements.${key}: expected a finite number or null`);
    }
  }
  const checks = result.checks;
  if (!Array.isArray(checks)) problems.push("checks: expected an array");
  else {
    checks.forEach((check: unknown, index) => {
      if (typeof check !== "object" || check === null) {
        problems.push(`checks[${index}]: expected an object`);
        return;
      }
      const { value, passed, target, comparator } = check as Record<string, unknown>;
      if (value !== null && (typeof value !== "number" || !Number.isFinite(value)))
        problems.push(`checks[${index}].value: expected a finite number or null`);
      if (typeof target !== "number") problems.push(`checks[${index}].target: expected a number`);
      if (comparator !== "<=" && comparator !== ">=") problems.push(`checks[${index}].comparator: expected <= or >=`);
      if (value === null && passed !== false) problems.push(`checks[${index}]: an unmeasured value cannot pass`);
    });
    if (result.passed === true && (checks.length === 0 || checks.some((check) => check?.passed !== true)))
      problems.push("passed: true although a check failed or nothing was checked");
  }
  const errors = result.errors as Record<string, unknown> | undefined;
  if (typeof errors?.count !== "number" || !Array.isArray(errors.examples))
    problems.push("errors: expected {count, examples}");
  if (!Array.isArray(result.notes)) problems.push("notes: expected an array");
  if (!Array.isArray(result.charts)) problems.push("charts: expected an array");
  if (typeof result.environment !== "object" || result.environment === null)
    problems.push("environment: expected an object");
  return problems;
}

/** `a-latency.json` */
export function resultFileName(result: Pick<ScenarioResult, "scenario" | "name">): string {
  return `${result.scenario}-${result.name}.json`;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** SUMMARY.md: one table of every check, then each scenario's figure, notes and errors. */
export function renderSummaryMarkdown(results: readonly ScenarioResult[], command: string): string {
  const lines: string[] = [];
  const sorted = [...results].sort((left, right) => left.scenario.localeCompare(right.scenario));
  lines.push("# Hypernode benchmark summary", "");
  if (sorted.length === 0) {
    lines.push("No scenario has been run yet.", "");
    return lines.join("\n");
  }
  const first = sorted[0] as ScenarioResult;
  const environment = first.environment;
  lines.push(
    `Reproduce: \`${command}\``,
    "",
    `Machine: ${environment.cpus} × ${environment.cpuModel}, ${environment.totalMemoryMb} MB, ${environment.platform}, Node ${environment.node}` +
      (environment.commit ? `, commit ${environment.commit}` : ""),
    "",
    "| scenario | check | measured | target | result |",
    "|---|---|---|---|---|",
  );
  for (const result of sorted) {
    const label = `(${result.scenario}) ${result.title}${result.quick ? " [quick]" : ""}`;
    if (result.checks.length === 0) lines.push(`| ${escapeCell(label)} | — | not measured | — | FAIL |`);
    for (const check of result.checks) {
      lines.push(
        `| ${escapeCell(label)} | ${escapeCell(check.name)} | ${formatValue(check.value, check.unit)} | ${check.comparator} ${formatValue(check.target, check.unit)} | ${check.passed ? "pass" : "**MISSED**"} |`,
      );
    }
  }
  lines.push("", "![chart](chart.svg)", "");
  for (const result of sorted) {
    lines.push(`## (${result.scenario}) ${result.title}`, "");
    lines.push(
      `Run ${result.startedAt} → ${result.finishedAt}${result.quick ? " (quick)" : ""}, load average at start ${result.environment.loadAverage1m.toFixed(2)}.`,
      "",
    );
    lines.push("```", result.figure, "```", "");
    for (const note of result.notes) lines.push(`- ${note}`);
    if (result.errors.count > 0) {
      lines.push(`- errors: ${result.errors.count}`);
      for (const example of result.errors.examples) lines.push(`  - \`${escapeCell(example)}\``);
    }
    lines.push("");
  }
  return lines.join("\n");
}
