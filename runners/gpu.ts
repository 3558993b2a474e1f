/**
 * GPU detection from `nvidia-smi --query-gpu=… --format=csv,noheader,nounits`. A host without an
 * NVIDIA driver (or without nvidia-smi) has no GPUs and can still serve the simulator; output we
 * cannot read is an error, never a silently empty list, so a broken host does not advertise
 * itself as GPU-less while holding GPUs.
 */
import { execFile } from "node:child_process";
import type { GpuInfo } from "./protocol.ts";

const QUERY_FIELDS = [
  "index",
  "name",
  "uuid",
  "memory.total",
  "memory.free",
  "temperature.gpu",
  "utilization.gpu",
  "driver_version",
] as const;

export const NVIDIA_SMI_ARGS = [`--query-gpu=${QUERY_FIELDS.join(",")}`, "--format=csv,noheader,nounits"];

const DEFAULT_COMMAND = "nvidia-smi";
const DEFAULT_TIMEOUT_MS = 10_000;

/** What nvidia-smi prints for a field the GPU or driver cannot report. */
const UNAVAILABLE_VALUES = new Set(["[n/a]", "n/a", "[not supported]", "not supported", "[unknown error]", ""]);

/** Messages meaning "this host has no usable NVIDIA GPU", not "detection broke". */
const NO_GPU_MESSAGES = ["NVIDIA-SMI has failed", "No devices were found"];

export class GpuDetectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpuDetectionError";
  }
}

export interface CommandResult {
  stdout: string;
  exitCode: number;
  /** Some failures are printed here rather than on stdout. */
  stderr?: string;
}

export type CommandExecutor = (command: string, args: string[]) => Promise<CommandResult>;

export interface DetectGpusOptions {
  /** Path or name of nvidia-smi. */
  command?: string;
  timeoutMs?: number;
  /** Runs the command; replaceable in tests. Rejects with `code: "ENOENT"` when it is not installed. */
  execute?: CommandExecutor;
}

function optionalValue(raw: string): string | undefined {
  return UNAVAILABLE_VALUES.has(raw.toLowerCase()) ? undefined : raw;
}

function optionalNumber(raw: string, field: string, line: string, lineNumber: number): number | undefined {
  const value = optionalValue(raw);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw malformed(`${field} "${raw}" is not a number`, line, lineNumber);
  return parsed;
}

function requiredNumber(raw: string, field: string, line: string, lineNumber: number): number {
  const parsed = raw === "" ? Number.NaN : Number(raw);
  if (!Number.isFinite(parsed)) throw malformed(`${field} "${raw}" is not a number`, line, lineNumber);
  return parsed;
}

function malformed(reason: string, line: string, lineNumber: number): GpuDetectionError {
  return new GpuDetectionError(`malformed nvidia-smi output, line ${lineNumber} (${reason}): ${JSON.stringify(line)}`);
}

/** Parses nvidia-smi's csv,noheader,nounits output for {@link NVIDIA_SMI_ARGS}: one GPU per line. */
export function parseNvidiaSmiCsv(output: string): GpuInfo[] {
  if (NO_GPU_MESSAGES.some((message) => output.includes(message))) return [];
  const gpus: GpuInfo[] = [];
  const lines = output.split(/\r?\n/);
  lines.forEach((rawLine, position) => {
    const line = rawLine.trim();
    if (line === "") return;
    const lineNumber = position + 1;
    const columns = line.split(",").map((column) => column.trim());
    if (columns.length !== QUERY_FIELDS.length) {
      throw malformed(`expected ${QUERY_FIELDS.length} columns, got ${columns.length}`, rawLine, lineNumber);
    }
    const [index, name, uuid, memoryTotal, memoryFree, temperature, utilization, driverVersion] = columns as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const gpuIndex = requiredNumber(index, "index", rawLine, lineNumber);
    if (!Number.isInteger(gpuIndex) || gpuIndex < 0)
      throw malformed(`index "${index}" is not a GPU index`, rawLine, lineNumber);
    if (name === "") throw malformed("name is empty", rawLine, lineNumber);
    gpus.push({
      index: gpuIndex,
      name,
      uuid: optionalValue(uuid),
      memoryTotalMiB: requiredNumber(memoryTotal, "memory.total", rawLine, lineNumber),
      memoryFreeMiB: requiredNumber(memoryFree, "memory.free", rawLine, lineNumber),
      temperatureCelsius: optionalNumber(temperature, "temperature.gpu", rawLine, lineNumber),
      utilizationPercent: optionalNumber(utilization, "utilization.gpu", rawLine, lineNumber),
      driverVersion: optionalValue(driverVersion),
    });
  });
  return gpus;
}

function errorCode(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
}

/** execFile as a CommandExecutor: a non-zero exit is a result, not a rejection. */
function executorWithTimeout(timeoutMs: number): CommandExecutor {
  return (command, args) =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        args,
        { timeout: timeoutMs, encoding: "utf8", maxBuffer: 1024 * 1024 },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ stdout, stderr, exitCode: 0 });
            return;
          }
          if (error.killed || error.signal) {
            reject(new GpuDetectionError(`${command} did not answer within ${timeoutMs} ms`));
            return;
          }
          const code = errorCode(error);
          if (typeof code === "number") resolve({ stdout, stderr, exitCode: code });
          else reject(error);
        },
      );
    });
}

/** GPUs on this host; [] when there is no NVIDIA driver or nvidia-smi. */
export async function detectGpus(options: DetectGpusOptions = {}): Promise<GpuInfo[]> {
  const command = options.command ?? DEFAULT_COMMAND;
  const execute = options.execute ?? executorWithTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let result: CommandResult;
  try {
    result = await execute(command, [...NVIDIA_SMI_ARGS]);
  } catch (error) {
    // Not installed (or not executable here): a GPU-less host.
    if (errorCode(error) === "ENOENT" || errorCode(error) === "EACCES") return [];
    if (error instanceof GpuDetectionError) throw error;
    throw new GpuDetectionError(
      `${command} could not be run: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (result.exitCode !== 0) {
    const text = `${result.stdout}\n${result.stderr ?? ""}`;
    if (NO_GPU_MESSAGES.some((message) => text.includes(message))) return [];
    throw new GpuDetectionError(`${command} exited with code ${result.exitCode}: ${text.trim().slice(0, 500)}`);
  }
  return parseNvidiaSmiCsv(result.stdout);
}
