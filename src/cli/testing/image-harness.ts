// Runs `strata image …` as src/cli/main.ts registers the commands, without the rest of the CLI: for the
// CLI tests (image.test.ts, bench/image-pull.ts), which need a real process (stdout, stderr, exit code).
// The default store is $TEST_IMAGE_ROOT.
import { Command } from 'commander';
import { registerImageCommands } from '../image.ts';

// No kubeconfig: the commands must not follow a node that happens to run on this machine.
process.env.STRATACONFIG = '/nonexistent/strata-config';
const program = new Command('strata').configureOutput({ outputError: (str, write) => write(str) });
const testRoot = process.env.TEST_IMAGE_ROOT;
registerImageCommands(program, testRoot ? () => testRoot : undefined);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
