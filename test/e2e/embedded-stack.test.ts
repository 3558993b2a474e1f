/**
 * The README's promise: `npm start` (which runs `hypernode start`) brings up gateway,
 * simulator and runner as one process tree that serves a streamed chat completion with the
 * demo key, and Ctrl-C stops all of it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/hypernode.js", import.meta.url));
const DEMO_KEY = "sk-hn-demo-e2e-test-key";

it("starts the embedded stack, streams a chat completion with the demo key, and stops on SIGINT", async () => {
  const child = spawn(process.execPath, [BIN, "start"], {
    env: {
      ...process.env,
      PORT: "0",
      HYPERNODE_DEMO_KEY: DEMO_KEY,
      HYPERNODE_DATA_DIR: mkdtempSync(join(tmpdir(), "hn-stack-")),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr.on("data", (data: Buffer) => {
    output += data.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stack did not start:\n${output}`)), 45_000);
      const check = () => {
        const match = /Hypernode is serving on (http:\/\/\S+)/.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      };
      child.stdout.on("data", check);
      child.once("exit", () => reject(new Error(`stack exited:\n${output}`)));
    });
    expect(output).toContain(DEMO_KEY);
    const engineUrl = /simulator: +(http:\/\/\S+)/.exec(output)?.[1];
    expect(engineUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: "qwen2.5-7b-instruct",
      messages: [{ role: "user", content: "Hello!" }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 8,
    });
    let text = "";
    let completionTokens: number | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(completionTokens).toBe(8);

    // Billed for real against the demo intent funded on the in-process chain.
    const intentId = /demo intent: +(in_\S+)/.exec(output)?.[1];
    expect(intentId).toBeDefined();
    const intent = (await (
      await fetch(`${url}/v1/intents/${intentId}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } })
    ).json()) as {
      state: string;
      funded: string;
      spent: string;
      held: string;
    };
    expect(intent).toMatchObject({ state: "active", funded: "100000000", held: "0" });
    expect(BigInt(intent.spent)).toBeGreaterThan(0n);

    child.kill("SIGINT");
    expect(await exited).toBe(0);
    // The simulator child went down with the stack: nothing answers on its port any more.
    await expect(fetch(`${engineUrl}/health`)).rejects.toThrow();
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}, 90_000);
