#!/usr/bin/env node
// The `hypernode` command. Sources are TypeScript run through tsx's loader, so there is no
// build step between a clone and a running stack.
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("./cli.ts");
await runCli(process.argv);
