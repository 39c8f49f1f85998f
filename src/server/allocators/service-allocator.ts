// Cluster IPs and node ports of Services, allocated by the server as kube-apiserver does:
//
// - On create (an ObjectStore create hook, so every writer gets it): the requested clusterIP and
//   nodePorts are claimed, or free ones picked at random; a requested value that is taken or out of
//   range is a 422 naming the field (`spec.clusterIPs[0]`, `spec.ports[0].nodePort`), and whatever was
//   claimed before the failure is released, so a refused create holds nothing. dryRun only checks.
// - On update (`admitUpdate`, for an update hook): what the Service held is carried over when the new
//   object leaves it out (a PUT without clusterIP/nodePort), a changed clusterIP is refused (immutable),
//   new node ports are claimed.
// - Releases happen after the write, from the Service informer (`start`): a deleted Service frees all it
//   held, an updated one what it no longer uses.
// - `repair()` (at start and periodically) converges the records with the Services: a value a Service
//   uses without a record is recorded; a record no Service uses is freed once it is older than a grace
//   period (a create whose write failed after the hook, a crash between claim and write). Like
//   kube-apiserver's repair controllers, it reports values held by two Services rather than guessing.
//
// Each allocated value is one record in the store (see records.ts), so allocation is race-free across
// concurrent requests without a lock.
import {
  type Cause,
  type KindInfo,
  CLUSTER_IP_NONE,
  invalid,
  isHeadless,
  kindFor,
  msg,
  needsNodePorts,
  Reason,
} from '../../api/index.ts';
import type { Informer } from '../../lib/informer.ts';
import { type Log, defaultLog, errorMessage } from '../../lib/log.ts';
import { ApiError, type ObjectStore, type PrepareUpdateHook, type UpdateHook } from '../../store/objects.ts';
import { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, PortRange, ServiceCidr } from './ranges.ts';
import { RecordSet } from './records.ts';

const SERVICE = kindFor('v1', 'Service')!;

export const SERVICE_IP_RECORDS = '/strata/allocations/serviceips/';
export const NODE_PORT_RECORDS = '/strata/allocations/nodeports/';

/** Random probes before falling back to a scan of the records (a nearly full range). */
const RANDOM_PROBES = 16;

export interface ServiceAllocatorOptions {
  objects: ObjectStore;
  /** `--service-cidr`. Default 10.96.0.0/16. */
  serviceCidr?: string;
  /** `--service-node-port-range`. Default 30000-32767. */
  nodePortRange?: string;
  log?: Log;
  /** A record no Service uses is freed by repair once older than this. Default 60 s. */
  leakGraceMs?: number;
}

export interface RepairReport {
  /** Values in use that had no record and got one. */
  recorded: number;
  /** Records no Service used, freed. */
  freed: number;
  /** Values recorded for one Service but used by another (left as they are, logged). */
  conflicts: string[];
}

interface Holdings {
  ips: string[];
  ports: number[];
}

type WriteOpts = { dryRun?: boolean } | undefined;

function ownerOf(svc: any): string {
  return `${svc.metadata.namespace}/${svc.metadata.name}`;
}

/** The cluster IPs and node ports a stored Service holds. */
export function holdingsOf(svc: any): Holdings {
  return specHoldings(svc?.spec ?? {});
}

function specHoldings(spec: any): Holdings {
  const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter(
    (ip: string) => ip && ip !== CLUSTER_IP_NONE,
  );
  const ports = new Set<number>();
  for (const p of spec.ports ?? []) if (p.nodePort) ports.add(p.nodePort);
  if (spec.healthCheckNodePort) ports.add(spec.healthCheckNodePort);
  return { ips, ports: [...ports] };
}

export class ServiceAllocator {
  readonly cidr: ServiceCidr;
  readonly nodePorts: PortRange;
  private readonly objects: ObjectStore;
  private readonly ips: RecordSet;
  private readonly ports: RecordSet;
  private readonly log: Log;
  private readonly leakGraceMs: number;
  private removeHandler?: () => void;
  private timer?: ReturnType<typeof setInterval>;
  private repairing?: Promise<RepairReport>;

  constructor(opts: ServiceAllocatorOptions) {
    this.objects = opts.objects;
    this.cidr = new ServiceCidr(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR);
    this.nodePorts = new PortRange(opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE);
    this.ips = new RecordSet(opts.objects.store, SERVICE_IP_RECORDS);
    this.ports = new RecordSet(opts.objects.store, NODE_PORT_RECORDS);
    this.log = opts.log ?? defaultLog;
    this.leakGraceMs = opts.leakGraceMs ?? 60_000;
  }

  /**
   * The ObjectStore create hook (`objects.addCreateHook(allocator.createHook)`). Register it last, so
   * that no other hook can refuse the create after values were claimed.
   */
  readonly createHook = async (obj: any, kind: KindInfo, opts?: WriteOpts): Promise<void> => {
    if (kind.group !== '' || kind.kind !== 'Service') return;
    // A create that is going to fail with AlreadyExists must not claim anything first.
    if (!opts?.dryRun && (await this.objects.get(SERVICE, obj.metadata.namespace, obj.metadata.name))) return;
    await this.allocate(obj, undefined, opts?.dryRun ?? false);
  };

  /**
   * Admission of an update (`next` replaces `current`): carry over what the Service held when the new
   * object leaves it out, refuse a changed cluster IP, claim new node ports. Releases come later (start()).
   */
  async admitUpdate(next: any, current: any, opts?: WriteOpts): Promise<void> {
    if (next?.kind !== 'Service' || next.apiVersion !== 'v1') return;
    await this.allocate(next, current, opts?.dryRun ?? false);
  }

  /**
   * Before validation of a replacement (Kubernetes' dropTypeDependentFields): a Service whose type no
   * longer uses what the server had set for the old type loses it, when the client left it unchanged —
   * so `kubectl apply` can turn a NodePort Service into a ClusterIP one (its node ports dropped and
   * later freed), or any Service into an ExternalName one (its cluster IP dropped).
   */
  readonly prepareUpdateHook: PrepareUpdateHook = (next, current, kind) => {
    if (kind.group !== '' || kind.kind !== 'Service' || !next?.spec || !current?.spec) return;
    const spec = next.spec;
    const old = current.spec;
    const type = spec.type ?? 'ClusterIP';
    if (type === 'ClusterIP' || type === 'ExternalName') {
      for (const p of spec.ports ?? []) {
        const before = (old.ports ?? []).find(
          (q: any) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'),
        );
        if (p.nodePort !== undefined && before?.nodePort === p.nodePort) delete p.nodePort;
      }
    }
    if (
      !(type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') &&
      spec.healthCheckNodePort === old.healthCheckNodePort
    )
      delete spec.healthCheckNodePort;
    if (
      type !== 'NodePort' &&
      type !== 'LoadBalancer' &&
      spec.externalTrafficPolicy === old.externalTrafficPolicy
    )
      delete spec.externalTrafficPolicy;
    if (type === 'ExternalName') {
      if (spec.clusterIP === old.clusterIP) delete spec.clusterIP;
      if (JSON.stringify(spec.clusterIPs) === JSON.stringify(old.clusterIPs)) delete spec.clusterIPs;
      for (const f of ['ipFamilies', 'ipFamilyPolicy', 'internalTrafficPolicy'])
        if (JSON.stringify(spec[f]) === JSON.stringify(old[f])) delete spec[f];
    }
  };

  /** The ObjectStore update hook (`objects.addUpdateHook(allocator.updateHook)`). */
  readonly updateHook: UpdateHook = (next, current, kind, opts) =>
    kind.group === '' && kind.kind === 'Service' ? this.admitUpdate(next, current, opts) : undefined;

  private async allocate(svc: any, prev: any | undefined, dryRun: boolean): Promise<void> {
    const owner = ownerOf(svc);
    const claimed: Holdings = { ips: [], ports: [] };
    const causes: Cause[] = [];
    try {
      await this.allocateIPs(svc.spec, prev?.spec, owner, dryRun, claimed, causes);
      if (!causes.length) await this.allocateNodePorts(svc.spec, prev?.spec, owner, dryRun, claimed, causes);
    } catch (err) {
      await this.releaseAll(claimed, owner);
      throw err;
    }
    if (causes.length) {
      await this.releaseAll(claimed, owner);
      throw new ApiError(invalid(SERVICE, svc.metadata.name ?? '', causes));
    }
  }

  private async allocateIPs(
    spec: any,
    prev: any | undefined,
    owner: string,
    dryRun: boolean,
    claimed: Holdings,
    causes: Cause[],
  ): Promise<void> {
    if (spec.type === 'ExternalName') {
      for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) delete spec[f];
      return;
    }
    // A single-stack IPv4 cluster: say so for what asks for more.
    (spec.ipFamilies ?? []).forEach((f: string, i: number) => {
      if (f !== 'IPv4')
        causes.push({
          field: `spec.ipFamilies[${i}]`,
          reason: Reason.Invalid,
          message: msg.invalid(f, 'not configured on this cluster'),
        });
    });
    if (spec.ipFamilyPolicy === 'RequireDualStack')
      causes.push({
        field: 'spec.ipFamilyPolicy',
        reason: Reason.Invalid,
        message: msg.invalid(spec.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'),
      });
    if ((spec.clusterIPs?.length ?? 0) > 1)
      causes.push({
        field: 'spec.clusterIPs[1]',
        reason: Reason.Invalid,
        message: msg.invalid(spec.clusterIPs[1], 'this cluster is not configured for dual-stack services'),
      });
    if (causes.length) return;
    spec.ipFamilies = ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';

    const held: string | undefined = prev && prev.type !== 'ExternalName' ? prev.clusterIP : undefined;
    if (held !== undefined) {
      // Update: the address is fixed once set (kube-apiserver: "field is immutable").
      const wanted = spec.clusterIPs?.[0] ?? spec.clusterIP;
      if (wanted !== undefined && wanted !== held) {
        causes.push({
          field: 'spec.clusterIPs[0]',
          reason: Reason.Invalid,
          message: msg.invalid(wanted, 'field is immutable'),
        });
        return;
      }
      this.setClusterIP(spec, held);
      return;
    }
    if (isHeadless(spec)) {
      this.setClusterIP(spec, CLUSTER_IP_NONE);
      return;
    }
    const requested: string | undefined = spec.clusterIPs?.[0] ?? spec.clusterIP;
    if (requested !== undefined) {
      const problem = !this.cidr.allocatable(requested)
        ? `failed to allocate IP ${requested}: the provided IP (${requested}) is not in the valid range. The range of valid IPs is ${this.cidr.cidr}`
        : (await this.take(this.ips, requested, owner, dryRun))
          ? undefined
          : `failed to allocate IP ${requested}: provided IP is already allocated`;
      if (problem) {
        causes.push({
          field: 'spec.clusterIPs[0]',
          reason: Reason.Invalid,
          message: msg.invalid(requested, problem),
        });
        return;
      }
      if (!dryRun) claimed.ips.push(requested);
      this.setClusterIP(spec, requested);
      return;
    }
    const ip = await this.pick(
      this.ips,
      owner,
      dryRun,
      () => this.cidr.randomDynamic(),
      () => this.cidr.dynamic(),
    );
    if (ip === undefined) {
      causes.push({
        field: 'spec.clusterIPs',
        reason: Reason.Invalid,
        message: `Internal error: failed to allocate a serviceIP: range is full (${this.cidr.cidr})`,
      });
      return;
    }
    if (!dryRun) claimed.ips.push(ip);
    this.setClusterIP(spec, ip);
  }

  private setClusterIP(spec: any, ip: string): void {
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
  }

  private async allocateNodePorts(
    spec: any,
    prev: any | undefined,
    owner: string,
    dryRun: boolean,
    claimed: Holdings,
    causes: Cause[],
  ): Promise<void> {
    if (spec.type === 'ClusterIP' || spec.type === 'ExternalName') return;
    const auto = needsNodePorts(spec);
    const prevHeld = new Set(prev ? specHoldings(prev).ports : []);
    const prevPorts: any[] = prev && needsNodePorts(prev) ? (prev.ports ?? []) : [];
    // Ours within this request: the same number may serve a TCP and a UDP port of one Service.
    const mine = new Set<number>();
    const claim = async (port: number, field: string): Promise<boolean> => {
      if (mine.has(port) || prevHeld.has(port)) {
        mine.add(port);
        return true;
      }
      const problem = !this.nodePorts.contains(port)
        ? `provided port is not in the valid range. The range of valid ports is ${this.nodePorts}`
        : (await this.take(this.ports, String(port), owner, dryRun))
          ? undefined
          : 'provided port is already allocated';
      if (problem) {
        causes.push({ field, reason: Reason.Invalid, message: msg.invalid(port, problem) });
        return false;
      }
      mine.add(port);
      if (!dryRun) claimed.ports.push(port);
      return true;
    };
    const ports: any[] = spec.ports ?? [];
    // Explicit ports first, so automatic picks never take a number requested later in the list.
    for (const [i, p] of ports.entries()) {
      if (!p.nodePort && auto) {
        const before = prevPorts.find((q) => q.port === p.port && q.protocol === p.protocol && q.nodePort);
        if (before && !ports.some((q) => q.nodePort === before.nodePort)) p.nodePort = before.nodePort;
      }
      if (p.nodePort && !(await claim(p.nodePort, `spec.ports[${i}].nodePort`))) return;
    }
    for (const [i, p] of ports.entries()) {
      if (p.nodePort || !auto) continue;
      const port = await this.pickPort(owner, dryRun, mine);
      if (port === undefined) {
        causes.push({
          field: `spec.ports[${i}].nodePort`,
          reason: Reason.Invalid,
          message: `Internal error: failed to allocate a nodePort: range is full (${this.nodePorts})`,
        });
        return;
      }
      mine.add(port);
      if (!dryRun) claimed.ports.push(port);
      p.nodePort = port;
    }
    // A LoadBalancer with externalTrafficPolicy Local gets a health-check node port too.
    if (spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') {
      spec.healthCheckNodePort ??= prev?.healthCheckNodePort;
      if (spec.healthCheckNodePort) {
        await claim(spec.healthCheckNodePort, 'spec.healthCheckNodePort');
      } else {
        const port = await this.pickPort(owner, dryRun, mine);
        if (port === undefined)
          causes.push({
            field: 'spec.healthCheckNodePort',
            reason: Reason.Invalid,
            message: `Internal error: failed to allocate a nodePort: range is full (${this.nodePorts})`,
          });
        else {
          if (!dryRun) claimed.ports.push(port);
          spec.healthCheckNodePort = port;
        }
      }
    } else delete spec.healthCheckNodePort;
  }

  private async pickPort(owner: string, dryRun: boolean, exclude: Set<number>): Promise<number | undefined> {
    const range = this.nodePorts;
    const picked = await this.pick(
      this.ports,
      owner,
      dryRun,
      () => String(range.random()),
      function* () {
        for (let p = range.min; p <= range.max; p++) yield String(p);
      },
      (v) => exclude.has(Number(v)),
    );
    return picked === undefined ? undefined : Number(picked);
  }

  /** Claim (or, dry-run, check) one value. */
  private async take(set: RecordSet, value: string, owner: string, dryRun: boolean): Promise<boolean> {
    if (dryRun) return (await set.holder(value)) === undefined;
    return set.claim(value, owner);
  }

  /** A free value: random probes first (cheap while the range is sparse), then a scan of what is free. */
  private async pick(
    set: RecordSet,
    owner: string,
    dryRun: boolean,
    random: () => string,
    all: () => Iterable<string>,
    skip: (v: string) => boolean = () => false,
  ): Promise<string | undefined> {
    for (let i = 0; i < RANDOM_PROBES; i++) {
      const v = random();
      if (!skip(v) && (await this.take(set, v, owner, dryRun))) return v;
    }
    const taken = await set.all();
    const free: string[] = [];
    for (const v of all()) if (!taken.has(v) && !skip(v)) free.push(v);
    while (free.length) {
      const [v] = free.splice(Math.floor(Math.random() * free.length), 1);
      if (await this.take(set, v, owner, dryRun)) return v;
    }
    return undefined;
  }

  private async releaseAll(h: Holdings, owner: string): Promise<void> {
    for (const ip of h.ips) await this.ips.release(ip, owner);
    for (const port of h.ports) await this.ports.release(String(port), owner);
  }

  /** Free what a deleted Service held (only records it owns). */
  async releaseService(svc: any): Promise<void> {
    await this.releaseAll(holdingsOf(svc), ownerOf(svc));
  }

  /** After an update: free what the old version held and the new one does not; record what is new. */
  async serviceUpdated(old: any, svc: any): Promise<void> {
    const owner = ownerOf(svc);
    const before = holdingsOf(old);
    const after = holdingsOf(svc);
    await this.releaseAll(
      {
        ips: before.ips.filter((ip) => !after.ips.includes(ip)),
        ports: before.ports.filter((p) => !after.ports.includes(p)),
      },
      owner,
    );
    for (const ip of after.ips) if (!before.ips.includes(ip)) await this.record(this.ips, ip, owner);
    for (const p of after.ports)
      if (!before.ports.includes(p)) await this.record(this.ports, String(p), owner);
  }

  /** Make sure `owner` holds `value`; true if it does now, false (logged) if another Service does. */
  private async record(set: RecordSet, value: string, owner: string): Promise<boolean> {
    if (await set.claim(value, owner)) return true;
    const holder = await set.holder(value);
    if (holder && holder.owner !== owner) {
      this.log.warn({ value, owner, holder: holder.owner }, 'service-allocator: value held by two services');
      return false;
    }
    return true;
  }

  /** Converge the records with `services` (default: every Service in the store). See the file comment. */
  repair(services?: any[]): Promise<RepairReport> {
    this.repairing ??= this.runRepair(services).finally(() => (this.repairing = undefined));
    return this.repairing;
  }

  private async runRepair(services?: any[]): Promise<RepairReport> {
    const list = services ?? (await this.objects.list(SERVICE)).items;
    const report: RepairReport = { recorded: 0, freed: 0, conflicts: [] };
    const now = Date.now();
    for (const [set, valuesOf] of [
      [this.ips, (s: any) => holdingsOf(s).ips],
      [this.ports, (s: any) => holdingsOf(s).ports.map(String)],
    ] as const) {
      const records = await set.all();
      const want = new Map<string, string>();
      for (const svc of list) for (const v of valuesOf(svc)) want.set(v, ownerOf(svc));
      for (const [value, owner] of want) {
        const rec = records.get(value);
        if (!rec) {
          if (await set.claim(value, owner)) report.recorded++;
        } else if (rec.owner !== owner)
          report.conflicts.push(`${value}: held by ${rec.owner}, used by ${owner}`);
      }
      for (const [value, rec] of records) {
        if (want.has(value)) continue;
        const age = now - Date.parse(rec.at);
        if (!(age >= this.leakGraceMs)) continue;
        if (await set.releaseIfUnchanged(value, rec.rev)) report.freed++;
      }
    }
    for (const c of report.conflicts)
      this.log.warn({ conflict: c }, 'service-allocator: repair found a double allocation');
    if (report.recorded || report.freed)
      this.log.info({ ...report, conflicts: report.conflicts.length }, 'service-allocator: repaired');
    return report;
  }

  /**
   * Follow Services through an informer: releases after deletes and updates, and a repair once the
   * informer has synced and then every `repairIntervalMs` (default 60 s).
   */
  start(services: Informer<any>, repairIntervalMs = 60_000): void {
    const report = (err: unknown) =>
      this.log.warn({ err: errorMessage(err) }, 'service-allocator: sync failed');
    this.removeHandler = services.addHandler({
      onUpdate: (old, svc) => void this.serviceUpdated(old, svc).catch(report),
      onDelete: (svc) => void this.releaseService(svc).catch(report),
    });
    const repairFromCache = () => {
      if (services.hasSynced()) void this.repair(services.list()).catch(report);
    };
    void services.waitForSync().then((synced) => synced && repairFromCache());
    this.timer = setInterval(repairFromCache, repairIntervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    this.removeHandler?.();
    if (this.timer) clearInterval(this.timer);
    await this.repairing?.catch(() => undefined);
  }
}
