import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CommandExecutor,
  detectGpus,
  GpuDetectionError,
  NVIDIA_SMI_ARGS,
  parseNvidiaSmiCsv,
} from "../../runners/gpu.ts";

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/nvidia-smi/${name}`, import.meta.url), "utf8");
}

function answering(stdout: string, exitCode = 0, stderr = ""): CommandExecutor {
  return async () => ({ stdout, exitCode, stderr });
}

describe("parseNvidiaSmiCsv", () => {
  it("reads one H100", () => {
    expect(parseNvidiaSmiCsv(fixture("h100-1x.csv"))).toEqual([
      {
        index: 0,
        name: "NVIDIA H100 80GB HBM3",
        uuid: "GPU-5c1d8f2e-7a3b-4e9c-b1d2-3f4a5b6c7d8e",
        memoryTotalMiB: 81559,
        memoryFreeMiB: 80741,
        temperatureCelsius: 34,
        utilizationPercent: 0,
        driverVersion: "550.54.15",
      },
    ]);
  });

  it("reads eight A100s in index order with their own load", () => {
    const gpus = parseNvidiaSmiCsv(fixture("a100-8x.csv"));
    expect(gpus).toHaveLength(8);
    expect(gpus.map((gpu) => gpu.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(gpus.map((gpu) => gpu.name))).toEqual(new Set(["NVIDIA A100-SXM4-80GB"]));
    expect(new Set(gpus.map((gpu) => gpu.uuid)).size).toBe(8);
    expect(gpus[6]).toMatchObject({
      memoryTotalMiB: 81920,
      memoryFreeMiB: 2771,
      temperatureCelsius: 66,
      utilizationPercent: 100,
    });
  });

  it("answers [] for no GPU and empty output", () => {
    expect(parseNvidiaSmiCsv(fixture("no-gpu.txt"))).toEqual([]);
    expect(parseNvidiaSmiCsv("")).toEqual([]);
    expect(parseNvidiaSmiCsv("\n\n")).toEqual([]);
  });

  it("turns [N/A] and [Not Supported] into undefined for optional fields", () => {
    expect(parseNvidiaSmiCsv(fixture("t4-unsupported-fields.csv"))).toEqual([
      {
        index: 0,
        name: "Tesla T4",
        uuid: "GPU-8a2e4c6d-1b3f-4d5e-9f7a-0b1c2d3e4f5a",
        memoryTotalMiB: 15360,
        memoryFreeMiB: 14913,
        temperatureCelsius: undefined,
        utilizationPercent: undefined,
        driverVersion: "470.256.02",
      },
    ]);
    expect(parseNvidiaSmiCsv("1, NVIDIA L4, N/A, 23034, 22700, 40, 3, N/A\r\n")[0]).toMatchObject({
      index: 1,
      uuid: undefined,
      driverVersion: undefined,
    });
  });

  it("throws naming the line for output with units", () => {
    expect(() => parseNvidiaSmiCsv(fixture("malformed.csv"))).toThrow(GpuDetectionError);
    expect(() => parseNvidiaSmiCsv(fixture("malformed.csv"))).toThrow(
      /line 1 \(memory\.total "81559 MiB" is not a number\)/,
    );
  });

  it("throws on a wrong column count, naming the line", () => {
    const output = `${fixture("h100-1x.csv")}1, NVIDIA H100 80GB HBM3, GPU-x, 81559\n`;
    expect(() => parseNvidiaSmiCsv(output)).toThrow(/line 2 \(expected 8 columns, got 4\).*GPU-x/);
  });

  it("throws on memory reported as [N/A]: it is required", () => {
    expect(() => parseNvidiaSmiCsv("0, NVIDIA H100, GPU-a, [N/A], [N/A], 30, 0, 550.54.15")).toThrow(/memory\.total/);
  });
});

describe("detectGpus", () => {
  it("asks nvidia-smi for exactly the parsed columns", async () => {
    const calls: { command: string; args: string[] }[] = [];
    const gpus = await detectGpus({
      execute: async (command, args) => {
        calls.push({ command, args });
        return { stdout: fixture("h100-1x.csv"), exitCode: 0 };
      },
    });
    expect(gpus).toHaveLength(1);
    expect(calls).toEqual([{ command: "nvidia-smi", args: NVIDIA_SMI_ARGS }]);
    expect(NVIDIA_SMI_ARGS).toEqual([
      "--query-gpu=index,name,uuid,memory.total,memory.free,temperature.gpu,utilization.gpu,driver_version",
      "--format=csv,noheader,nounits",
    ]);
  });

  it("answers [] when nvidia-smi is not installed", async () => {
    const missing: CommandExecutor = async () => {
      throw Object.assign(new Error("spawn nvidia-smi ENOENT"), { code: "ENOENT" });
    };
    await expect(detectGpus({ execute: missing })).resolves.toEqual([]);
  });

  it("answers [] when the driver is not loaded or no device exists", async () => {
    await expect(detectGpus({ execute: answering(fixture("driver-failed.txt"), 9) })).resolves.toEqual([]);
    await expect(detectGpus({ execute: answering("", 6, fixture("no-gpu.txt")) })).resolves.toEqual([]);
  });

  it("throws on malformed output and on an unexplained failure", async () => {
    await expect(detectGpus({ execute: answering(fixture("malformed.csv")) })).rejects.toThrow(GpuDetectionError);
    await expect(
      detectGpus({
        execute: answering("", 15, "Unable to determine the device handle for GPU0000:01:00.0: Unknown Error"),
      }),
    ).rejects.toThrow(/exited with code 15.*Unknown Error/);
  });

  describe("through execFile", () => {
    let directory: string;
    beforeAll(() => {
      directory = mkdtempSync(join(tmpdir(), "hypernode-gpu-"));
    });
    afterAll(() => {
      rmSync(directory, { recursive: true, force: true });
    });

    function script(name: string, body: string): string {
      const path = join(directory, name);
      writeFileSync(path, `#!/bin/sh\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    }

    it("answers [] for a missing binary", async () => {
      await expect(detectGpus({ command: join(directory, "no-such-nvidia-smi") })).resolves.toEqual([]);
    });

    it("parses what a stand-in nvidia-smi prints", async () => {
      const fixturePath = fileURLToPath(new URL("../fixtures/nvidia-smi/a100-8x.csv", import.meta.url));
      const gpus = await detectGpus({ command: script("eight-gpus", `cat '${fixturePath}'`) });
      expect(gpus).toHaveLength(8);
    });

    it("maps a failing driver's exit to []", async () => {
      const command = script(
        "driver-failed",
        `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9`,
      );
      await expect(detectGpus({ command })).resolves.toEqual([]);
    });

    it("throws when nvidia-smi hangs past the timeout", async () => {
      const command = script("hangs", "exec sleep 5");
      await expect(detectGpus({ command, timeoutMs: 150 })).rejects.toThrow(/did not answer within 150 ms/);
    });
  });
});
