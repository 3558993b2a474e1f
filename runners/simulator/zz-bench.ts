import { Pool } from "undici";
import { startSimulator } from "./server.ts";
const sim = await startSimulator({ perTokenLatencyMs: 0, timeToFirstTokenMs: 0, prefillMsPerToken: 0, batchingSlowdown: 0 });
const pool = new Pool(sim.url, { connections: 64 });
const body = JSON.stringify({ model: "qwen2.5-7b-instruct", messages: [{ role: "user", content: "hello" }], max_tokens: 500, ignore_eos: true, stream: true, stream_options: { include_usage: true, continuous_usage_stats: process.argv[2] === "cont" } });
async function one(): Promise<number> {
  const r = await pool.request({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body });
  let bytes = 0;
  for await (const chunk of r.body) bytes += (chunk as Buffer).length;
  return bytes;
}
for (const concurrency of [1, 16, 64]) {
  const start = performance.now();
  const requests = concurrency * 4;
  let done = 0; let bytes = 0;
  async function worker() { while (done < requests) { done++; bytes += await one(); } }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  console.log(`concurrency ${concurrency}: ${(requests * 500 / seconds).toFixed(0)} tokens/s, ${(bytes / seconds / 1e6).toFixed(1)} MB/s`);
}
await pool.close();
await sim.close();
