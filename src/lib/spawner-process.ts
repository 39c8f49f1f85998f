// The command runner's helper process (spawner.ts): a small Node process, forked once, that runs host
// tools for its parent and sends back what they printed. Its fork() copies a ~50 MB address space
// instead of the agent's hundreds of MB, and it blocks its own event loop while doing it, not the
// agent's. It exits when its parent goes (the IPC channel closes).
import { runHere, type SpawnRequest } from './spawner.ts';

process.on('message', (m: SpawnRequest) => {
  void runHere(m).then((reply) => process.send?.({ ...reply, id: m.id }));
});
process.on('disconnect', () => process.exit(0));
