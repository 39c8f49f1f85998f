// conntrack entries that outlive their backend. A UDP "connection" has no end, so after a backend is
// removed its conntrack entry keeps sending the client's datagrams to an address that is gone; and
// datagrams sent while a Service had no backend were rejected, an entry that would go on rejecting.
// Kubernetes flushes both (kube-proxy's conntrack cleanup); so do we. TCP needs nothing: the reset of
// the dead backend ends the connection.
import { CommandError, run, which } from '../../lib/command.ts';

/** Deletes matching entries; "0 flow entries have been deleted" (exit 1) is not an error. */
async function deleteEntries(args: string[]): Promise<void> {
  try {
    await run('conntrack', ['-D', ...args]);
  } catch (err) {
    if (err instanceof CommandError && /0 flow entries/.test(err.stderr)) return;
    throw err;
  }
}

export function conntrackAvailable(): boolean {
  return which('conntrack') !== undefined;
}

/** Entries of UDP connections to `serviceIP` that were DNATed to `backendIP`. */
export function flushServiceBackend(serviceIP: string, backendIP: string): Promise<void> {
  return deleteEntries(['-p', 'udp', '--orig-dst', serviceIP, '--dst-nat', backendIP]);
}

/** Entries of UDP connections to node port `nodePort` that were DNATed to `backendIP`. */
export function flushNodePortBackend(nodePort: number, backendIP: string): Promise<void> {
  return deleteEntries(['-p', 'udp', '--orig-port-dst', String(nodePort), '--dst-nat', backendIP]);
}

/** Every UDP entry to `serviceIP` (the Service just got its first backend). */
export function flushServiceIP(serviceIP: string): Promise<void> {
  return deleteEntries(['-p', 'udp', '--orig-dst', serviceIP]);
}

/** Every UDP entry to node port `nodePort`. */
export function flushNodePort(nodePort: number): Promise<void> {
  return deleteEntries(['-p', 'udp', '--orig-port-dst', String(nodePort)]);
}
