import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    // solana-bankrun's validator logs every transaction at info level otherwise.
    env: { RUST_LOG: "error" },
    reporters: ["default"],
  },
});
