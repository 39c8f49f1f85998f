// `strata image pull|push|tag|ls|rm|import|export|inspect|gc`: the node-local image store. Unlike the other
// commands these do not go through the API server: images live on each node. They act on the store of the
// node the kubeconfig was written for (`strata up` records it in the kubeconfig), else on the default
// ($STRATA_HOME/data/agent/images or ~/.strata/data/agent/images); --root picks another store. Each command
// says on stderr which store it used.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { readKubeconfig, type LocalNode } from '../client/kubeconfig.ts';
import {
  exportOciLayout,
  familiarReference,
  defaultImageRoot,
  formatPlatform,
  ImageStore,
  importImage,
  parsePlatform,
  parseReference,
  pullImage,
  pushImage,
  RegistryClient,
  shortDigest,
  type Credentials,
  type TransferProgress,
} from '../image/index.ts';
import { age } from './printers.ts';

const out = (s: string): void => void process.stdout.write(`${s}\n`);

/** Decimal units, as docker prints sizes. */
export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/**
 * Per-blob progress on stderr: redrawn bars when stderr is a terminal, otherwise one line per blob
 * when it finishes (logs and CI output stay readable).
 */
export class ProgressView {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly verb: string;
  private readonly rows = new Map<string, TransferProgress>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(stream: NodeJS.WriteStream, verb: 'pull' | 'push') {
    this.stream = stream;
    this.tty = Boolean(stream.isTTY);
    this.verb = verb;
  }

  update = (p: TransferProgress): void => {
    if (this.finished) return;
    const prev = this.rows.get(p.digest);
    this.rows.set(p.digest, p);
    if (this.tty) {
      this.timer ??= setTimeout(() => this.draw(), 100);
      return;
    }
    const id = shortDigest(p.digest);
    if (p.resumedFrom && !prev?.resumedFrom)
      this.stream.write(`${id}: resuming at ${humanBytes(p.resumedFrom)}\n`);
    if (p.status === 'exists') this.stream.write(`${id}: already exists\n`);
    if (p.status === 'done')
      this.stream.write(`${id}: ${this.verb === 'pull' ? 'pulled' : 'pushed'} ${humanBytes(p.total)}\n`);
  };

  private line(p: TransferProgress): string {
    const id = shortDigest(p.digest);
    if (p.status === 'exists') return `${id}  already exists`;
    if (p.status === 'done')
      return `${id}  ${this.verb === 'pull' ? 'pull' : 'push'} complete  ${humanBytes(p.total)}`;
    const width = 30;
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    const fill = Math.round(frac * width);
    const bar = `${'='.repeat(Math.max(0, fill - 1))}${fill > 0 ? '>' : ''}${' '.repeat(width - fill)}`;
    return `${id}  ${this.verb === 'pull' ? 'downloading' : 'uploading'}  [${bar}]  ${humanBytes(p.done)}/${humanBytes(p.total)}`;
  }

  private draw(): void {
    this.timer = undefined;
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const p of this.rows.values()) s += `\x1b[2K${this.line(p)}\n`;
    this.drawn = this.rows.size;
    this.stream.write(s);
  }

  /** Draws the final state once; later calls (and updates) do nothing, so output after it stays put. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.tty && this.rows.size > 0) this.draw();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

interface RegistryFlags {
  creds?: string;
  passwordStdin?: boolean;
  insecure?: boolean;
}

async function clientFor(ref: string, o: RegistryFlags): Promise<RegistryClient> {
  const registry = parseReference(ref).registry;
  let credentials: Record<string, Credentials> | undefined;
  if (o.creds !== undefined || o.passwordStdin) {
    const creds = o.creds ?? '';
    const colon = creds.indexOf(':');
    const username = colon >= 0 ? creds.slice(0, colon) : creds;
    let password = colon >= 0 ? creds.slice(colon + 1) : '';
    if (o.passwordStdin) password = await readStdin();
    if (!username) throw new Error('--creds needs USER[:PASSWORD]');
    credentials = { [registry]: { username, password } };
  }
  return new RegistryClient({ credentials, insecure: o.insecure ? [registry] : undefined });
}

function registryOptions(cmd: Command): Command {
  return cmd
    .option('--creds <user[:password]>', 'registry credentials (Basic, or for the token service)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--insecure', 'allow plain http for this registry (loopback registries always use http)');
}

/** The store `strata image` acts on, and how it was chosen (for the stderr line). */
export function locateImageStore(
  root: string | undefined,
  kubeconfig: string | undefined,
  fallback: () => string = defaultImageRoot,
): { root: string; why: string } {
  if (root) return { root: resolve(root), why: '--root' };
  let node: LocalNode | undefined;
  try {
    node = readKubeconfig(kubeconfig).node;
  } catch {
    node = undefined; // no cluster configured: the default store
  }
  if (node?.imageStore) return { root: node.imageStore, why: `node "${node.name}"` };
  return { root: fallback(), why: 'default' };
}

/** `fallback`: the store used when neither --root nor the kubeconfig names one. */
export function registerImageCommands(program: Command, fallback: () => string = defaultImageRoot): Command {
  const image = program.command('image').description("manage this node's OCI images (node-local store)");
  const withRoot = (cmd: Command): Command =>
    cmd.option('--root <dir>', "image store directory (default: the store of the kubeconfig's node)");
  const storeFor = (o: { root?: string }): ImageStore => {
    const where = locateImageStore(o.root, program.opts().kubeconfig, fallback);
    process.stderr.write(`image store: ${where.root} (${where.why})\n`);
    return new ImageStore(where.root);
  };

  registryOptions(
    withRoot(
      image
        .command('pull')
        .description('pull an image or wasm artifact from a registry')
        .argument('<image>', 'reference, e.g. 127.0.0.1:5000/busybox:latest')
        .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image'),
    ),
  ).action(async (ref: string, o) => {
    const view = new ProgressView(process.stderr, 'pull');
    try {
      const r = await pullImage(storeFor(o), ref, {
        client: await clientFor(ref, o),
        platform: o.platform ? parsePlatform(o.platform) : undefined,
        onProgress: view.update,
      });
      view.finish();
      out(
        `pulled ${familiarReference(parseReference(r.name))} ${r.target.digest} (${r.fetched} blobs, ${humanBytes(r.bytes)} downloaded)`,
      );
    } finally {
      view.finish();
    }
  });

  registryOptions(
    withRoot(
      image
        .command('push')
        .description('push a local image to a registry')
        .argument('<image>', 'local image')
        .argument('[destination]', 'where to push it (default: its own name)')
        .option('--chunk-size <bytes>', 'upload blobs in chunks of this many bytes', (v) => Number(v)),
    ),
  ).action(async (src: string, dest: string | undefined, o) => {
    const view = new ProgressView(process.stderr, 'push');
    try {
      const r = await pushImage(storeFor(o), src, dest, {
        client: await clientFor(dest ?? src, o),
        chunkSize: o.chunkSize,
        onProgress: view.update,
      });
      view.finish();
      out(`pushed ${r.name} ${r.digest} (${r.uploaded} blobs uploaded, ${r.existed} already there)`);
    } finally {
      view.finish();
    }
  });

  withRoot(
    image
      .command('tag')
      .description('give a local image another name')
      .argument('<source>')
      .argument('<target>'),
  ).action(async (src: string, dst: string, o) => {
    const store = storeFor(o);
    const rec = await store.get(src);
    if (!rec) throw new Error(`image ${src} not found`);
    out(`tagged ${familiarReference(parseReference(await store.tag(dst, rec.target)))}`);
  });

  withRoot(
    image
      .command('ls')
      .alias('list')
      .description('list local images')
      .option('-q, --quiet', 'names only')
      .option('-o, --output <format>', 'json')
      .option('--no-trunc', 'full digests'),
  ).action(async (o) => {
    const store = storeFor(o);
    const records = await store.list();
    if (o.quiet) return records.forEach((r) => out(familiarReference(parseReference(r.name))));
    const rows = [];
    for (const r of records) {
      const info = await store.inspect(r.name).catch(() => undefined);
      rows.push({
        ...r,
        size: info?.size,
        platform: info?.platform,
        wasm: info?.configMediaType.includes('wasm'),
      });
    }
    if (o.output === 'json') return out(JSON.stringify(rows, null, 2));
    const table = [['NAME', 'DIGEST', 'PLATFORM', 'SIZE', 'CREATED']];
    for (const r of rows)
      table.push([
        familiarReference(parseReference(r.name)),
        o.trunc === false ? r.target.digest : shortDigest(r.target.digest),
        r.wasm ? 'wasm' : r.platform ? r.platform : '<missing>',
        r.size !== undefined ? humanBytes(r.size) : '-',
        age(r.created),
      ]);
    const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
    for (const row of table)
      out(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('   '));
  });

  withRoot(
    image
      .command('rm')
      .alias('remove')
      .description('remove image names (content goes at the next gc)')
      .argument('<images...>'),
  ).action(async (refs: string[], o) => {
    const store = storeFor(o);
    for (const ref of refs)
      for (const name of await store.remove(ref)) out(`untagged ${familiarReference(parseReference(name))}`);
  });

  withRoot(
    image
      .command('import')
      .description('import an OCI layout (directory or .tar) or a docker save archive')
      .argument('<path>')
      .option('--name <ref>', 'name for the image(s): a repository, or a full reference for one image'),
  ).action(async (path: string, o) => {
    const imported = await importImage(storeFor(o), path, { name: o.name });
    for (const i of imported)
      out(
        i.name
          ? `imported ${familiarReference(parseReference(i.name))} ${i.target.digest}`
          : `imported ${i.target.digest} (unnamed: give --name)`,
      );
  });

  withRoot(
    image
      .command('export')
      .description('export images as an OCI layout directory or archive')
      .argument('<images...>')
      .requiredOption('-o, --output <path>', 'destination (.tar for an archive)')
      .option('--format <format>', 'dir | tar (default from the path)'),
  ).action(async (refs: string[], o) => {
    if (o.format && o.format !== 'dir' && o.format !== 'tar') throw new Error('--format must be dir or tar');
    const index = await exportOciLayout(storeFor(o), refs, o.output, { format: o.format });
    out(`exported ${index.manifests.length} image(s) to ${o.output}`);
  });

  withRoot(
    image
      .command('inspect')
      .description('show an image: digest, platform, config, layers')
      .argument('<image>')
      .option('--platform <os/arch[/variant]>', 'platform of a multi-platform image'),
  ).action(async (ref: string, o) => {
    const info = await storeFor(o).inspect(ref, o.platform ? parsePlatform(o.platform) : undefined);
    out(JSON.stringify({ ...info, platform: info.platform ?? formatPlatform(undefined) }, null, 2));
  });

  withRoot(
    image.command('gc').description('delete blobs and layer snapshots no image or container uses'),
  ).action(async (o) => {
    const r = await storeFor(o).gc();
    out(
      `removed ${r.blobsRemoved} blobs (${humanBytes(r.bytesFreed)}), ${r.snapshotsRemoved} layer snapshots, ${r.partialsRemoved} partial downloads`,
    );
  });
  return image;
}
