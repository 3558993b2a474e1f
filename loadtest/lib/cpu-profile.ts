/**
 * Summarises a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function and
 * per file, idle time apart, as pure functions over the parsed JSON.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  /** Microseconds between samples; timeDeltas[i] precedes samples[i]. */
  timeDeltas?: number[];
}

export interface SelfTimeEntry {
  functionName: string;
  /** Repository-relative where possible; "" for V8's own entries like (garbage collector). */
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, 0..100. */
  percent: number;
}

export interface CpuProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: SelfTimeEntry[];
  files: SelfTimeEntry[];
}

export function isCpuProfile(input: unknown): input is CpuProfile {
  if (typeof input !== "object" || input === null) return false;
  const candidate = input as Partial<CpuProfile>;
  return (
    Array.isArray(candidate.nodes) && typeof candidate.startTime === "number" && typeof candidate.endTime === "number"
  );
}

/** file:///work/main/gateway/app.ts → gateway/app.ts; …/node_modules/fastify/lib/x.js → fastify/lib/x.js. */
export function shortLocation(url: string, root: string): string {
  if (url === "") return "";
  let path = url.startsWith("file://") ? decodeURIComponent(url.slice("file://".length)) : url;
  const modules = path.lastIndexOf("/node_modules/");
  if (modules !== -1) return path.slice(modules + "/node_modules/".length);
  const normalisedRoot = root.endsWith("/") ? root : `${root}/`;
  if (path.startsWith(normalisedRoot)) path = path.slice(normalisedRoot.length);
  return path;
}

/** Self time in microseconds per node id, leaving out samples taken in the first `skipMicros`. */
function selfTimes(profile: CpuProfile, skipMicros: number): Map<number, number> {
  const times = new Map<number, number>();
  const samples = profile.samples;
  const deltas = profile.timeDeltas;
  if (samples && deltas && samples.length === deltas.length && samples.length > 0) {
    // Each sample stands for the time until the next one; the last gets the mean interval.
    const meanInterval = (profile.endTime - profile.startTime) / samples.length;
    let elapsed = 0;
    for (let index = 0; index < samples.length; index++) {
      elapsed += deltas[index] ?? 0;
      if (elapsed < skipMicros) continue;
      const next = deltas[index + 1];
      const duration = next !== undefined && next >= 0 ? next : meanInterval;
      const id = samples[index] as number;
      times.set(id, (times.get(id) ?? 0) + duration);
    }
    return times;
  }
  const hits = profile.nodes.reduce((total, node) => total + (node.hitCount ?? 0), 0);
  const interval = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
  for (const node of profile.nodes) times.set(node.id, (node.hitCount ?? 0) * interval);
  return times;
}

function top(
  entries: Map<string, { functionName: string; location: string; micros: number }>,
  busyMicros: number,
  limit: number,
) {
  return [...entries.values()]
    .filter((entry) => entry.micros > 0)
    .sort((left, right) => right.micros - left.micros)
    .slice(0, limit)
    .map(
      (entry): SelfTimeEntry => ({
        functionName: entry.functionName,
        location: entry.location,
        selfMs: entry.micros / 1000,
        percent: busyMicros > 0 ? (entry.micros / busyMicros) * 100 : 0,
      }),
    );
}

/**
 * Self time per function and per file. `skipMs` leaves out the start of the profile (a
 * process's boot: module loading and compilation) when samples carry their timing.
 */
export function summarizeCpuProfile(profile: CpuProfile, root: string, limit = 20, skipMs = 0): CpuProfileSummary {
  const times = selfTimes(profile, skipMs * 1000);
  const byFunction = new Map<string, { functionName: string; location: string; micros: number }>();
  const byFile = new Map<string, { functionName: string; location: string; micros: number }>();
  let idleMicros = 0;
  let totalMicros = 0;
  for (const node of profile.nodes) {
    const micros = times.get(node.id) ?? 0;
    totalMicros += micros;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") {
      idleMicros += micros;
      continue;
    }
    const location = shortLocation(url, root);
    const name = functionName || "(anonymous)";
    const functionKey = `${name}\u0000${location}\u0000${lineNumber}`;
    const entry = byFunction.get(functionKey) ?? {
      functionName: name,
      location: location ? `${location}:${lineNumber + 1}` : "",
      micros: 0,
    };
    entry.micros += micros;
    byFunction.set(functionKey, entry);
    const fileKey = location || name;
    const file = byFile.get(fileKey) ?? { functionName: "", location: fileKey, micros: 0 };
    file.micros += micros;
    byFile.set(fileKey, file);
  }
  const busyMicros = totalMicros - idleMicros;
  return {
    totalMs: totalMicros / 1000,
    idleMs: idleMicros / 1000,
    busyMs: busyMicros / 1000,
    functions: top(byFunction, busyMicros, limit),
    files: top(byFile, busyMicros, limit),
  };
}

export function renderProfileMarkdown(summary: CpuProfileSummary, title: string): string {
  const lines = [
    `# ${title}`,
    "",
    `Sampled ${(summary.totalMs / 1000).toFixed(1)} s: busy ${(summary.busyMs / 1000).toFixed(1)} s, idle ${(summary.idleMs / 1000).toFixed(1)} s. Percentages are of busy time.`,
    "",
    "## Top self time by function",
    "",
    "| self ms | % busy | function | location |",
    "|---:|---:|---|---|",
    ...summary.functions.map(
      (entry) =>
        `| ${entry.selfMs.toFixed(0)} | ${entry.percent.toFixed(1)} | \`${entry.functionName}\` | ${entry.location || "—"} |`,
    ),
    "",
    "## Self time by file",
    "",
    "| self ms | % busy | file |",
    "|---:|---:|---|",
    ...summary.files.map((entry) => `| ${entry.selfMs.toFixed(0)} | ${entry.percent.toFixed(1)} | ${entry.location} |`),
    "",
  ];
  return lines.join("\n");
}
