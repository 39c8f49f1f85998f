// Live read-only volumes: what the node rewrites in a small read-only directory volume while the VM runs —
// the projected service-account token, which the agent refreshes at 80 % of its lifetime — reaches the
// guest. The VM has no shared filesystem with the host (no 9p, no virtiofsd), so such a volume's disk is
// only its content at start: the guest's init copies it into a tmpfs (init.ts, `livevol`), binds that
// read-only where the pod wants it, and rewrites a file there (new file, then rename, so a reader never
// sees half a token) when the host sends a `file` line on the guest's control port (the signal port).
// Here the host side: a watch on each such directory, and for every top-level regular file whose content
// changed, one line: `file <serial> <mode> <uid> <gid> <base64 name> <base64 content>`.
import { createHash } from 'node:crypto';
import { type FSWatcher, readdirSync, readFileSync, statSync, watch } from 'node:fs';
import { join } from 'node:path';

/** A read-only directory volume at most this big is live (secrets, configMaps and tokens are ≤ 1 MiB). */
export const LIVE_VOLUME_MAX_BYTES = 1024 * 1024;
/** A file bigger than this is not sent (one line on the control port). */
export const LIVE_FILE_MAX_BYTES = 256 * 1024;

export interface LiveVolume {
  /** The disk's serial (v<N>), which names the volume in the guest. */
  serial: string;
  /** The node's directory the agent keeps current. */
  hostPath: string;
}

interface Sent {
  digest: string;
}

/** The top-level regular files of `dir` (name → path), skipping the atomic writers' temporary files. */
function topLevelFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    try {
      if (statSync(path).isFile()) out.set(name, path);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

const digestOf = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The control-port line that makes the guest write `content` as `name` in volume `serial`. */
export function fileLine(
  serial: string,
  name: string,
  content: Buffer,
  st: { mode: number; uid: number; gid: number },
): string {
  if (!/^v\d+$/.test(serial)) throw new Error(`volume serial "${serial}": v<N> expected`);
  if (!name || name === '.' || name === '..' || name.includes('/'))
    throw new Error(`file name "${name}" is not one path element`);
  const mode = (st.mode & 0o7777).toString(8);
  const b64 = (b: Buffer) => b.toString('base64');
  return `file ${serial} ${mode} ${st.uid} ${st.gid} ${b64(Buffer.from(name))} ${b64(content)}`;
}

export interface LiveVolumeWatch {
  close(): void;
}

/**
 * Watches `volumes` and sends each changed file with `send` (the signal port's sendLine). The content
 * the VM started with is the baseline: only later changes are sent (unless `resendAll`). A failed send is retried at the
 * next change and every `retryMs` until it goes through.
 */
export interface WatchOptions {
  log?: { warn(o: object, m: string): void };
  /** After a failed send, try again this much later (default 5 s). */
  retryMs?: number;
  /** Send every file now (a re-adopted VM: what it has is unknown), not only later changes. */
  resendAll?: boolean;
}

export function watchLiveVolumes(
  volumes: readonly LiveVolume[],
  send: (line: string) => Promise<void>,
  opts: WatchOptions = {},
): LiveVolumeWatch {
  const { log, retryMs = 5000 } = opts;
  const watchers: FSWatcher[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  for (const v of volumes) {
    const sent = new Map<string, Sent>();
    for (const [name, path] of opts.resendAll ? [] : topLevelFiles(v.hostPath)) {
      try {
        sent.set(name, { digest: digestOf(readFileSync(path)) });
      } catch {
        // Gone meanwhile: sent when it comes back.
      }
    }
    let running = false;
    let again = false;
    const sync = async (): Promise<void> => {
      if (closed) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      let failed = false;
      try {
        for (const [name, path] of topLevelFiles(v.hostPath)) {
          let content: Buffer;
          let st;
          try {
            st = statSync(path);
            if (st.size > LIVE_FILE_MAX_BYTES) continue;
            content = readFileSync(path);
          } catch {
            continue;
          }
          const digest = digestOf(content);
          if (sent.get(name)?.digest === digest) continue;
          try {
            await send(fileLine(v.serial, name, content, st));
            sent.set(name, { digest });
          } catch (err) {
            failed = true;
            log?.warn(
              { volume: v.hostPath, file: name, err: (err as Error).message },
              'microvm: live volume update not sent',
            );
          }
        }
      } finally {
        running = false;
      }
      if (closed) return;
      if (again) {
        again = false;
        void sync();
      } else if (failed) {
        const t = setTimeout(() => {
          timers.delete(t);
          void sync();
        }, retryMs);
        t.unref();
        timers.add(t);
      }
    };
    try {
      // A rename into the directory (the token writer's) or a write in place: either is an event here.
      const w = watch(v.hostPath, { persistent: false }, () => void sync());
      w.on('error', () => {});
      watchers.push(w);
      if (opts.resendAll) void sync();
    } catch (err) {
      log?.warn({ volume: v.hostPath, err: (err as Error).message }, 'microvm: cannot watch a live volume');
    }
  }
  return {
    close() {
      closed = true;
      for (const w of watchers) w.close();
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
