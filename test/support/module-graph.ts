/**
 * The module dependency rules of DESIGN.md, and a scanner that finds every import in the source
 * tree that breaks them. Imports are read from the TypeScript syntax tree rather than by regular
 * expressions, so multi-line imports, `import type`, re-exports, dynamic `import()`, type-level
 * `import("x")` and `require()` are all seen, and text inside comments or strings is not.
 */

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/** The top-level folders the rules govern, in the order DESIGN.md lists them. */
export const MODULE_FOLDERS = ["models", "programs", "billing", "runners", "gateway", "loadtest"] as const;
export type ModuleFolder = (typeof MODULE_FOLDERS)[number];

const SOURCE_EXTENSIONS = [".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs"];

export interface ModuleRule {
  /** Other modules that may be imported from anywhere inside them. */
  modules: readonly ModuleFolder[];
  /** Paths that may be imported from modules not in `modules`: exact files, or folders ending in `/`. */
  paths: readonly string[];
  /** How the rule reads in a violation message. */
  description: string;
}

export const MODULE_RULES: Readonly<Record<ModuleFolder, ModuleRule>> = {
  models: { modules: [], paths: [], description: "models may import nothing internal" },
  programs: { modules: [], paths: [], description: "programs may import nothing internal" },
  billing: { modules: ["models", "programs"], paths: [], description: "billing may import only models, programs" },
  runners: {
    modules: ["models"],
    paths: ["billing/receipts/"],
    description: "runners may import only models and billing/receipts/",
  },
  gateway: {
    modules: ["models", "programs", "billing"],
    paths: ["runners/protocol.ts"],
    description: "gateway may import only models, programs, billing and, from runners/, only runners/protocol.ts",
  },
  loadtest: { modules: [], paths: [], description: "loadtest may import nothing internal (it speaks HTTP/WS only)" },
};

export interface ImportReference {
  specifier: string;
  /** 1-based line of the specifier in the source. */
  line: number;
}

export interface SourceFile {
  /** Repository-relative path with forward slashes, e.g. `gateway/app.ts`. */
  path: string;
  text: string;
}

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  /** Repository-relative path the specifier resolves to. */
  target: string;
  rule: string;
}

function scriptKindFor(filePath: string): ts.ScriptKind {
  if (filePath.endsWith(".tsx")) return ts.ScriptKind.TSX;
  if (/\.[cm]?js$/.test(filePath)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

function literalText(node: ts.Node | undefined): string | undefined {
  if (node !== undefined && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
    return node.text;
  }
  return undefined;
}

/** The literal module specifier a node imports, if the node is any kind of import. */
function specifierOf(node: ts.Node): ts.Node | undefined {
  if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
    return node.moduleSpecifier;
  }
  if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
    return node.moduleReference.expression;
  }
  if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
    return node.argument.literal;
  }
  if (ts.isCallExpression(node)) {
    const isDynamicImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
    const isRequire = ts.isIdentifier(node.expression) && node.expression.text === "require";
    if (isDynamicImport || isRequire) {
      return node.arguments[0];
    }
  }
  return undefined;
}

/** Every import in a source text, with the line each specifier sits on. */
export function findImports(text: string, filePath = "module.ts"): ImportReference[] {
  const source = ts.createSourceFile(filePath, text, ts.ScriptTarget.Latest, true, scriptKindFor(filePath));
  const found: ImportReference[] = [];
  const visit = (node: ts.Node): void => {
    const specifierNode = specifierOf(node);
    const specifier = literalText(specifierNode);
    if (specifierNode !== undefined && specifier !== undefined) {
      const { line } = source.getLineAndCharacterOfPosition(specifierNode.getStart(source));
      found.push({ specifier, line: line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * The repository-relative path a specifier points to, or undefined for packages and node
 * built-ins (and for anything that leaves the repository).
 */
export function resolveSpecifier(importerPath: string, specifier: string): string | undefined {
  let resolved: string;
  if (specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === "..") {
    resolved = path.posix.normalize(path.posix.join(path.posix.dirname(importerPath), specifier));
  } else if (specifier.startsWith("/")) {
    // Absolute paths are read as repository-rooted; they are not portable, but must not hide a violation.
    resolved = path.posix.normalize(specifier.slice(1));
  } else {
    return undefined;
  }
  if (resolved === ".." || resolved.startsWith("../")) {
    return undefined;
  }
  return resolved.replace(/\/$/, "");
}

function topFolderOf(repositoryPath: string): string | undefined {
  const slash = repositoryPath.indexOf("/");
  return slash === -1 ? undefined : repositoryPath.slice(0, slash);
}

function isModuleFolder(folder: string | undefined): folder is ModuleFolder {
  return (MODULE_FOLDERS as readonly string[]).includes(folder ?? "");
}

function withoutExtension(repositoryPath: string): string {
  return repositoryPath.replace(/\.d\.ts$|\.[cm]?[jt]sx?$/, "");
}

function pathIsAllowed(target: string, allowed: string): boolean {
  if (allowed.endsWith("/")) {
    return target.startsWith(allowed) || target === allowed.slice(0, -1);
  }
  // `protocol.js` or an extensionless specifier names the same module as `protocol.ts`.
  return withoutExtension(target) === withoutExtension(allowed);
}

/** Why importing `target` from `importerPath` breaks the rules, or undefined when it is allowed. */
export function ruleBroken(importerPath: string, target: string): string | undefined {
  const importerFolder = topFolderOf(importerPath);
  if (!isModuleFolder(importerFolder)) {
    return undefined;
  }
  const targetFolder = topFolderOf(target);
  if (targetFolder === undefined) {
    // Root files (package.json and the like) belong to no module.
    return undefined;
  }
  if (targetFolder === "test") {
    return "no module may import from test/";
  }
  if (targetFolder === importerFolder) {
    return undefined;
  }
  const rule = MODULE_RULES[importerFolder];
  if (!isModuleFolder(targetFolder)) {
    return `${targetFolder}/ is not a module; ${rule.description}`;
  }
  if (rule.modules.includes(targetFolder) || rule.paths.some((allowed) => pathIsAllowed(target, allowed))) {
    return undefined;
  }
  return rule.description;
}

/** Every rule violation in the given files. */
export function findViolations(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const file of files) {
    for (const reference of findImports(file.text, file.path)) {
      const target = resolveSpecifier(file.path, reference.specifier);
      if (target === undefined) continue;
      const rule = ruleBroken(file.path, target);
      if (rule !== undefined) {
        violations.push({ file: file.path, line: reference.line, specifier: reference.specifier, target, rule });
      }
    }
  }
  return violations;
}

export function formatViolation(violation: Violation): string {
  return `${violation.file}:${violation.line} imports ${violation.target} (${violation.rule})`;
}

function isSourceFile(name: string): boolean {
  return SOURCE_EXTENSIONS.some((extension) => name.endsWith(extension));
}

/** Repository-relative paths of every source file under the module folders, node_modules skipped. */
export function listModuleSources(repositoryRoot: string): string[] {
  const found: string[] = [];
  const walk = (relativeDirectory: string): void => {
    const entries = readdirSync(path.join(repositoryRoot, relativeDirectory), { withFileTypes: true });
    for (const entry of entries) {
      const relativePath = `${relativeDirectory}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(relativePath);
      } else if (entry.isFile() && isSourceFile(entry.name)) {
        found.push(relativePath);
      }
    }
  };
  for (const folder of MODULE_FOLDERS) {
    try {
      walk(folder);
    } catch (error) {
      // A module folder nobody has created yet has nothing to check.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  return found.sort();
}

/** Reads and checks the whole tree; returns the files scanned and the violations found. */
export function scanRepository(repositoryRoot: string): { files: string[]; violations: Violation[] } {
  const files = listModuleSources(repositoryRoot);
  const sources = files.map((file) => ({ path: file, text: readFileSync(path.join(repositoryRoot, file), "utf8") }));
  return { files, violations: findViolations(sources) };
}
