// Child process for the durability test in ../sqlite.test.ts: writes keys forever with N writes in flight
// and prints each key's number on stdout only after its create() resolved (stdout to a pipe is
// synchronous on Linux, so a printed line means the ack happened). The test kills it with SIGKILL.
import { openSqliteStore } from '../sqlite.ts';

const [path, concurrencyArg = '1'] = process.argv.slice(2);
if (!path) throw new Error('usage: durable-writer.ts DB_PATH [CONCURRENCY]');
const store = openSqliteStore(path);
const concurrency = Number(concurrencyArg);
let next = 0;

async function writer(): Promise<void> {
  for (;;) {
    const i = next++;
    await store.create(`/durable/${String(i).padStart(8, '0')}`, { i, pad: 'x'.repeat(256) });
    process.stdout.write(`${i}\n`);
  }
}

for (let w = 0; w < concurrency; w++) void writer();
