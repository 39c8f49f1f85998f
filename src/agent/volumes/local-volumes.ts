// The node's local-path volumes: one directory per volume under <dataDir>/volumes/<handle>/ holding
// `disk.img` (the ext4 image, the volume itself), `mount/` (where it is loop-mounted while a pod on the
// node uses it), `reclaim` (the PV's reclaim policy, so a Retain volume's data is never removed) and
// `fs-size` (the size the filesystem was made or grown to).
// Operations on one volume are serialised; the mounts outlive the agent (they are the kernel's), so a
// restarted agent finds them mounted and carries on.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createImage, growImage, imageSizeBytes, isMountPoint, mountImage, unmount } from './ext4-image.ts';

/** A volume handle (`pvc-<uid>`): a single path segment, nothing that could climb out of the volumes directory. */
const HANDLE = /^[a-z0-9][a-z0-9.-]{0,252}$/;

export interface AttachedVolume {
  /** The mounted filesystem: what containers bind-mount and wasm preopens. */
  dir: string;
  /** The ext4 image file: what a microVM gets as a virtio-blk disk. */
  image: string;
}

export class LocalVolumes {
  readonly root: string;
  /** handle → when a pod last attached it (so a reconcile that listed pods earlier does not unmount it). */
  private readonly lastAttach = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(dataDir: string) {
    this.root = join(resolve(dataDir), 'volumes');
  }

  imagePath(handle: string): string {
    return join(this.dirOf(handle), 'disk.img');
  }

  mountDir(handle: string): string {
    return join(this.dirOf(handle), 'mount');
  }

  private dirOf(handle: string): string {
    if (!HANDLE.test(handle) || handle.includes('..'))
      throw new Error(`invalid volume handle ${JSON.stringify(handle)}`);
    return join(this.root, handle);
  }

  /** Runs `fn` after any other operation on the same volume. */
  private serial<T>(handle: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(handle) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.locks.set(handle, next);
    void next
      .finally(() => {
        if (this.locks.get(handle) === next) this.locks.delete(handle);
      })
      .catch(() => undefined);
    return next;
  }

  /**
   * Makes the volume if it does not exist yet (`bytes` large), grows it if it is smaller, and mounts it.
   * `reclaimPolicy` is remembered for when its PersistentVolume goes away.
   */
  attach(
    handle: string,
    bytes: number,
    reclaimPolicy: string,
    opts: { mount?: boolean } = {},
  ): Promise<AttachedVolume> {
    const mount = opts.mount ?? true;
    this.lastAttach.set(handle, Date.now());
    return this.serial(handle, async () => {
      const image = this.imagePath(handle);
      const dir = this.mountDir(handle);
      if (!existsSync(image)) {
        await createImage(image, bytes);
        this.recordFilesystemBytes(handle, bytes);
      }
      writeFileSync(join(this.dirOf(handle), 'reclaim'), reclaimPolicy);
      const mounted = isMountPoint(dir);
      // Grown while no pod used it (or an online resize was refused earlier): grow before mounting.
      if (!mounted && this.filesystemBytes(handle) < bytes) {
        await growImage(image, bytes, false);
        this.recordFilesystemBytes(handle, bytes);
      }
      if (!mount) {
        // For a tier that attaches the image itself (a microVM disk): the node lets go of it first. An
        // unmount that fails (a pod of another tier still uses it) is the pod's start error.
        if (mounted) {
          try {
            await unmount(dir);
          } catch (err) {
            throw new Error(`volume ${handle} is in use on this node: ${(err as Error).message}`);
          }
        }
      } else if (!mounted) await mountImage(image, dir);
      this.lastAttach.set(handle, Date.now());
      return { dir, image };
    });
  }

  /** When a pod last attached the volume (0: not since the agent started). */
  attachedAt(handle: string): number {
    return this.lastAttach.get(handle) ?? 0;
  }

  /** The volumes on this node (their handles). */
  handles(): string[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root).filter((h) => HANDLE.test(h) && existsSync(join(this.root, h, 'disk.img')));
  }

  isMounted(handle: string): boolean {
    return isMountPoint(this.mountDir(handle));
  }

  /** The reclaim policy recorded when the volume was last attached ('Delete' when never recorded). */
  reclaimPolicy(handle: string): string {
    try {
      return readFileSync(join(this.dirOf(handle), 'reclaim'), 'utf8').trim() || 'Delete';
    } catch {
      return 'Delete';
    }
  }

  sizeBytes(handle: string): number {
    return imageSizeBytes(this.imagePath(handle));
  }

  detach(handle: string): Promise<void> {
    return this.serial(handle, () => unmount(this.mountDir(handle)));
  }

  /**
   * Grows the image and its filesystem to `bytes`: online when mounted, else offline. Resolves false when
   * the filesystem is mounted and the kernel refuses an online resize (some sandboxes forbid the ioctl):
   * the volume then grows once no pod uses it (Kubernetes' offline expansion).
   */
  grow(handle: string, bytes: number): Promise<boolean> {
    return this.serial(handle, async () => {
      if (this.filesystemBytes(handle) >= bytes) return true;
      const mounted = this.isMounted(handle);
      try {
        await growImage(this.imagePath(handle), bytes, mounted);
      } catch (err) {
        if (mounted) return false;
        throw err;
      }
      this.recordFilesystemBytes(handle, bytes);
      return true;
    });
  }

  /** The size the filesystem was last made or grown to (the file may be larger after a refused online resize). */
  filesystemBytes(handle: string): number {
    try {
      return Number(readFileSync(join(this.dirOf(handle), 'fs-size'), 'utf8')) || this.sizeBytes(handle);
    } catch {
      return this.sizeBytes(handle);
    }
  }

  private recordFilesystemBytes(handle: string, bytes: number): void {
    writeFileSync(join(this.dirOf(handle), 'fs-size'), String(bytes));
  }

  /** Unmounts and deletes the volume and its data. */
  remove(handle: string): Promise<void> {
    return this.serial(handle, async () => {
      await unmount(this.mountDir(handle));
      rmSync(this.dirOf(handle), { recursive: true, force: true });
      this.lastAttach.delete(handle);
    });
  }
}

const byDataDir = new Map<string, LocalVolumes>();

/** The one LocalVolumes of a node's data dir (the pod worker and the volume manager share it). */
export function localVolumesFor(dataDir: string): LocalVolumes {
  const key = resolve(dataDir);
  let v = byDataDir.get(key);
  if (!v) byDataDir.set(key, (v = new LocalVolumes(key)));
  return v;
}

/** The image file behind a mounted local volume directory, for tiers that take disks (microvm). */
export function blockImageOf(dir: string): string | undefined {
  if (basename(dir) !== 'mount' || basename(dirname(dirname(dir))) !== 'volumes') return undefined;
  const image = join(dirname(dir), 'disk.img');
  return existsSync(image) ? image : undefined;
}

/** Made here so a fresh node has the directory to measure (statfs) before its first volume. */
export function ensureVolumesRoot(dataDir: string): string {
  const root = join(resolve(dataDir), 'volumes');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  return root;
}
