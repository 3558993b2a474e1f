import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  findImports,
  findViolations,
  formatViolation,
  resolveSpecifier,
  ruleBroken,
  scanRepository,
} from "../support/module-graph.ts";

const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url));

describe("module import rules (DESIGN.md module table)", () => {
  it("holds across the whole source tree", () => {
    const { files, violations } = scanRepository(repositoryRoot);
    // Guards against a scanner that silently looks at nothing.
    expect(files.length).toBeGreaterThan(0);
    expect(files).toContain("models/catalog.ts");
    expect(violations.map(formatViolation)).toEqual([]);
  });
});

describe("findImports", () => {
  it("finds every import form, with the line of its specifier", () => {
    const source = [
      'import { a } from "./a.ts";', // 1
      'import type { B } from "./b.ts";', // 2
      "import {", // 3
      "  c,", // 4
      "  d,", // 5
      '} from "./multi-line.ts";', // 6
      'export { e } from "./e.ts";', // 7
      'export * from "./star.ts";', // 8
      'export type { F } from "./f.ts";', // 9
      'import "./side-effect.ts";', // 10
      'const lazy = await import("./dynamic.ts");', // 11
      'const legacy = require("./required.cjs");', // 12
      'type G = import("./type-level.ts").G;', // 13
      'import h = require("./import-equals.ts");', // 14
      "const template = import(`./template.ts`);", // 15
    ].join("\n");
    expect(findImports(source)).toEqual([
      { specifier: "./a.ts", line: 1 },
      { specifier: "./b.ts", line: 2 },
      { specifier: "./multi-line.ts", line: 6 },
      { specifier: "./e.ts", line: 7 },
      { specifier: "./star.ts", line: 8 },
      { specifier: "./f.ts", line: 9 },
      { specifier: "./side-effect.ts", line: 10 },
      { specifier: "./dynamic.ts", line: 11 },
      { specifier: "./required.cjs", line: 12 },
      { specifier: "./type-level.ts", line: 13 },
      { specifier: "./import-equals.ts", line: 14 },
      { specifier: "./template.ts", line: 15 },
    ]);
  });

  it("ignores import-like text in comments and strings", () => {
    const source = [
      '// import { x } from "../gateway/app.ts";',
      '/* export * from "../runners/agent.ts"; */',
      "const text = \"import { y } from '../test/fake.ts'\";",
      "export const value = 1;",
    ].join("\n");
    expect(findImports(source)).toEqual([]);
  });

  it("parses JavaScript files too", () => {
    expect(findImports('const k6 = require("k6/http");\nimport("./x.js");', "loadtest/script.js")).toEqual([
      { specifier: "k6/http", line: 1 },
      { specifier: "./x.js", line: 2 },
    ]);
  });
});

describe("resolveSpecifier", () => {
  it("resolves relative specifiers to repository paths", () => {
    expect(resolveSpecifier("gateway/routes/chat.ts", "../../billing/tokens.ts")).toBe("billing/tokens.ts");
    expect(resolveSpecifier("gateway/app.ts", "./routes/chat.ts")).toBe("gateway/routes/chat.ts");
    expect(resolveSpecifier("runners/agent.ts", "../billing/receipts")).toBe("billing/receipts");
  });

  it("leaves packages and node built-ins alone", () => {
    expect(resolveSpecifier("gateway/app.ts", "fastify")).toBeUndefined();
    expect(resolveSpecifier("gateway/app.ts", "node:fs")).toBeUndefined();
    expect(resolveSpecifier("gateway/app.ts", "openai/resources/chat/completions")).toBeUndefined();
  });
});

describe("ruleBroken", () => {
  const allowed: [string, string][] = [
    ["billing/ledger.ts", "models/catalog.ts"],
    ["billing/settle.ts", "programs/spl.ts"],
    ["runners/agent.ts", "models/catalog.ts"],
    ["runners/agent.ts", "billing/receipts/receipt.ts"],
    ["gateway/app.ts", "runners/protocol.ts"],
    ["gateway/app.ts", "billing/tokens.ts"],
    ["gateway/app.ts", "programs/chain.ts"],
    ["models/catalog.ts", "models/templates/qwen.ts"],
    ["gateway/cli/main.ts", "package.json"],
  ];
  it.each(allowed)("%s may import %s", (importer, target) => {
    expect(ruleBroken(importer, target)).toBeUndefined();
  });

  const forbidden: [string, string][] = [
    ["models/catalog.ts", "billing/tokens.ts"],
    ["programs/escrow.ts", "models/catalog.ts"],
    ["billing/ledger.ts", "runners/protocol.ts"],
    ["billing/ledger.ts", "gateway/app.ts"],
    ["runners/agent.ts", "billing/tokens.ts"],
    ["runners/agent.ts", "gateway/app.ts"],
    ["runners/agent.ts", "programs/spl.ts"],
    ["gateway/app.ts", "runners/agent.ts"],
    ["gateway/app.ts", "runners/engines/engine.ts"],
    ["gateway/app.ts", "loadtest/bench.ts"],
    ["loadtest/bench.ts", "models/catalog.ts"],
    ["gateway/app.ts", "test/support/fake-runner.ts"],
    ["billing/ledger.ts", "bin/hypernode.js"],
  ];
  it.each(forbidden)("%s may not import %s", (importer, target) => {
    expect(ruleBroken(importer, target)).toEqual(expect.any(String));
  });

  it("lets test/ import anything", () => {
    expect(ruleBroken("test/e2e/stack.test.ts", "runners/agent.ts")).toBeUndefined();
  });
});

describe("findViolations on in-memory sources", () => {
  it("catches violating static, type-only, dynamic, re-export, require and test imports", () => {
    const violations = findViolations([
      {
        path: "gateway/routes/chat.ts",
        text: [
          'import { countTextTokens } from "../../billing/tokens.ts";',
          'import type { RunnerHello } from "../../runners/protocol.ts";',
          "import type {",
          "  EngineAdapter,",
          '} from "../../runners/engines/engine.ts";',
          'const agent = await import("../../runners/agent.ts");',
        ].join("\n"),
      },
      { path: "models/catalog.ts", text: 'export { priceOf } from "../billing/money.ts";' },
      { path: "runners/agent.ts", text: 'const fake = require("../test/support/fake.ts");' },
      { path: "loadtest/bench.ts", text: 'import "../gateway/app.ts";' },
    ]);
    expect(violations.map(formatViolation)).toEqual([
      "gateway/routes/chat.ts:5 imports runners/engines/engine.ts (gateway may import only models, programs, billing and, from runners/, only runners/protocol.ts)",
      "gateway/routes/chat.ts:6 imports runners/agent.ts (gateway may import only models, programs, billing and, from runners/, only runners/protocol.ts)",
      "models/catalog.ts:1 imports billing/money.ts (models may import nothing internal)",
      "runners/agent.ts:1 imports test/support/fake.ts (no module may import from test/)",
      "loadtest/bench.ts:1 imports gateway/app.ts (loadtest may import nothing internal (it speaks HTTP/WS only))",
    ]);
  });

  it("passes a legal sample", () => {
    const violations = findViolations([
      {
        path: "gateway/app.ts",
        text: [
          'import Fastify from "fastify";',
          'import { readFileSync } from "node:fs";',
          'import type { RunnerMessage } from "../runners/protocol.ts";',
          'import { findModel } from "../models/catalog.ts";',
          'import { countTextTokens } from "../billing/tokens.ts";',
          'import { registerRoutes } from "./routes/index.ts";',
        ].join("\n"),
      },
      {
        path: "runners/agent.ts",
        text: [
          'import { signReceipt } from "../billing/receipts/receipt.ts";',
          'import type { ModelTemplate } from "../models/catalog.ts";',
          'import type { EngineAdapter } from "./engines/engine.ts";',
        ].join("\n"),
      },
      { path: "billing/settle.ts", text: 'import { buildPayout } from "../programs/spl.ts";' },
      { path: "test/e2e/stack.test.ts", text: 'import { startAgent } from "../../runners/agent.ts";' },
    ]);
    expect(violations).toEqual([]);
  });
});
