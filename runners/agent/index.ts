export { RunnerAgent, type RunnerAgentEvents, type StopOptions } from "./agent.ts";
export type { JobOutcome } from "./job.ts";
export { RUNNER_AGENT_VERSION, type RunnerAgentOptions, tunnelUrlFor } from "./options.ts";
