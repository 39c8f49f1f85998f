// A wasi:cli/command component in JavaScript (componentize-js): prints its arguments and one
// environment variable, reads a file from its volume when given one, and exits with the code in
// EXIT_CODE (wasi:cli/exit). Built by scripts/build-components.ts into build/components/cli-hello.wasm.
import { getArguments, getEnvironment } from 'wasi:cli/environment@0.2.10';
import { exit } from 'wasi:cli/exit@0.2.10';

export const run = {
  run() {
    const args = getArguments();
    const env = Object.fromEntries(getEnvironment());
    console.log(
      `hello from a wasi:cli component: args=${JSON.stringify(args)} GREETING=${env.GREETING ?? ''}`,
    );
    console.error('a line on stderr');
    const code = Number(env.EXIT_CODE ?? '0');
    if (code !== 0) exit({ tag: 'err', val: undefined });
  },
};
