/**
 * The gateway's commands: `start` (the embedded stack) and `gateway` (the gateway alone,
 * waiting for runners to dial in).
 */
import type { Command } from "commander";
import { buildGateway } from "../app.ts";
import { startEmbeddedStack } from "../stack/embedded-stack.ts";
import { startGatewayServices } from "../stack/gateway-services.ts";
import { loadConfigOrExit, loggerOptions, onSignals } from "./process.ts";

export function registerGatewayCommands(program: Command): void {
  program
    .command("start")
    .description("start the embedded stack: gateway, engine simulator and one runner, with a demo API key")
    .action(async () => {
      const { config, catalog } = loadConfigOrExit();
      const stack = await startEmbeddedStack(config, {
        catalog,
        logger: loggerOptions(config),
        onChildExit: (name, code) => process.stderr.write(`hypernode: the ${name} process exited (code ${code})\n`),
      });
      onSignals(stack.close);
      process.stdout.write(
        [
          "",
          `Hypernode is serving on ${stack.url}`,
          `  demo API key:  ${stack.demoKey}`,
          `  admin token:   ${config.adminToken ? "(from HYPERNODE_ADMIN_TOKEN)" : stack.adminToken}`,
          `  simulator:     ${stack.simulatorUrl} (vLLM's API on /v1, Ollama's on /api)`,
          `  demo intent:   ${stack.demoIntentId ?? "(none)"} (100 tokens on the in-process chain; GET /v1/intents/{id})`,
          `  batch key:     ${stack.gateway.services.settlement?.gatewayKeypair.address ?? "(settlement off)"} (trust it in \`hypernode oracle --trust\`)`,
          "",
          "Try it:",
          `  curl ${stack.url}/v1/chat/completions -H "Authorization: Bearer ${stack.demoKey}" -H "Content-Type: application/json" \\`,
          `    -d '{"model":"qwen2.5-7b-instruct","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'`,
          "",
          "Ctrl-C stops everything.",
          "",
        ].join("\n"),
      );
    });

  program
    .command("models")
    .description("the model catalog: ids, engines' names, context, VRAM floors and prices")
    .option("--json", "machine-readable output")
    .action((options: { json?: boolean }) => {
      const { catalog } = loadConfigOrExit();
      const models = catalog.list().map((model) => ({
        id: model.id,
        kind: model.kind,
        ollamaTag: model.ollamaTag,
        vllmRepoId: model.vllmRepoId,
        contextLength: model.contextLength,
        minVramGiB: model.minVramGiB,
        inputPerMillion: model.pricing.inputPerMillion.toString(),
        outputPerMillion: model.pricing.outputPerMillion.toString(),
      }));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
        return;
      }
      for (const model of models) {
        process.stdout.write(
          `${model.id.padEnd(32)} ${model.kind.padEnd(9)} ctx ${String(model.contextLength).padStart(6)}  vram fp16/q4 ${model.minVramGiB.fp16}/${model.minVramGiB.q4} GiB  price in/out per 1M ${model.inputPerMillion}/${model.outputPerMillion}\n`,
        );
      }
    });

  program
    .command("gateway")
    .description("run the gateway alone; runners connect with HYPERNODE_NODE_TOKEN")
    .action(async () => {
      const { config, catalog } = loadConfigOrExit();
      if (!config.nodeToken)
        process.stderr.write("hypernode: HYPERNODE_NODE_TOKEN is not set, so no runner can connect\n");
      const started = await startGatewayServices(config, catalog, { demoKey: config.demoKey, fundDemoIntent: true });
      const { app } = await buildGateway(config, started.services, loggerOptions(config));
      app.addHook("onClose", started.close);
      await app.listen({ host: config.host, port: config.port });
      onSignals(() => app.close());
    });
}
