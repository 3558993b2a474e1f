/**
 * Assembles the `hypernode` command from each module's own commands. It lives at the root, not
 * in `gateway/`, because the runner and simulator commands belong to `runners/`, which the
 * gateway may not import (DESIGN.md's module rules).
 */
import { Command } from "commander";
import { registerClientCommands } from "../gateway/cli/client-commands.ts";
import { registerGatewayCommands } from "../gateway/cli/commands.ts";
import { registerIntentCommands } from "../gateway/cli/intent-commands.ts";
import { registerOracleCommand } from "../gateway/cli/oracle-command.ts";
import { registerRunnerCommands } from "../runners/cli.ts";
import { registerSimulatorCommand } from "../runners/simulator-command.ts";

/**
 * A process started by the embedded stack stops when the stack's process dies, however it dies
 * (even SIGKILL): the stack holds the write end of our stdin, and the kernel closes it then.
 */
function exitWithParent(): void {
  if (process.env.HYPERNODE_EXIT_WITH_PARENT !== "1") return;
  process.stdin.resume();
  process.stdin.once("close", () => process.kill(process.pid, "SIGTERM"));
}

export async function runCli(argv: string[]): Promise<void> {
  exitWithParent();
  const program = new Command("hypernode")
    .description("OpenAI-compatible inference gateway over GPU runners, billed per token on Solana")
    .showHelpAfterError();
  registerGatewayCommands(program);
  registerClientCommands(program);
  registerIntentCommands(program);
  registerOracleCommand(program);
  registerRunnerCommands(program);
  registerSimulatorCommand(program);
  await program.parseAsync(argv);
}
