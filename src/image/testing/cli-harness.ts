// Runs `strata image …` the way src/cli/main.ts will once it registers the commands: for the CLI tests,
// which need a real process (stdout, stderr, exit code). The default store is $TEST_IMAGE_ROOT.
import { Command } from 'commander';
import { registerImageCommands } from '../../cli/image.ts';
import { defaultImageRoot } from '../image-store.ts';

// No kubeconfig: the commands must not follow a node that happens to run on this machine.
process.env.STRATACONFIG = '/nonexistent/strata-config';
const program = new Command('strata').configureOutput({ outputError: (str, write) => write(str) });
registerImageCommands(program, () => process.env.TEST_IMAGE_ROOT ?? defaultImageRoot());
try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
