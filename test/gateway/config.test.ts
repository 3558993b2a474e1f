import { describe, expect, it } from "vitest";
import { ConfigurationError, loadConfig } from "../../gateway/config.ts";

describe("loadConfig", () => {
  it("gives the embedded defaults with nothing set", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      dataDirectory: "./.hypernode",
      demoKey: undefined,
      redisUrl: undefined,
    });
  });

  it("reads and converts set values, treating empty strings as unset", () => {
    const config = loadConfig({
      PORT: "9000",
      HYPERNODE_HOST: "0.0.0.0",
      HYPERNODE_DEMO_KEY: "sk-hn-demo-fixed",
      REDIS_URL: "",
    });
    expect(config).toMatchObject({ port: 9000, host: "0.0.0.0", demoKey: "sk-hn-demo-fixed", redisUrl: undefined });
  });

  it.each([
    ["PORT", "eighty"],
    ["PORT", "70000"],
    ["HYPERNODE_NODE_TOKEN", "not-a-node-token"],
    ["LOG_LEVEL", "loud"],
    ["REDIS_URL", "not a url"],
    ["HYPERNODE_FIRST_TOKEN_TIMEOUT_MS", "-5"],
  ])("refuses %s=%s with a message naming the variable", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigurationError);
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});
