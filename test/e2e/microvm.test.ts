// End to end, the microvm tier: a pod with `runtimeClassName: microvm` boots the same OCI image a
// container pod runs as a QEMU microVM (TCG here). Its logs come from the guest and its exit code decides
// the pod's phase; a microVM Deployment is on the pod network like a container pod (its hostPort, a
// ClusterIP Service reached from a container pod); exec works with and without a terminal; a memory hog
// is stopped by the guest's limit and the pod says why; kill -9 of the agent leaves the VM running and
// the restarted agent re-adopts it with its logs; and the guest sees nothing of the host beyond its disks.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindFor } from '../../src/api/index.ts';
import { microvmUnavailable } from '../../src/sandbox/microvm/test-support.ts';
import { Cluster, waitFor } from './harness.ts';

const pods = kindFor('v1', 'Pod')!;

function missing(): string | undefined {
  const vm = microvmUnavailable();
  if (vm) return vm;
  for (const bin of ['runc', 'conmon', 'iptables', 'nft', 'curl']) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) return `${bin} is not installed`;
  }
  return undefined;
}

const why = missing();
if (why) console.warn(`skipping microvm e2e tests: ${why}`);

let c: Cluster;
const NODE = 'vm-node';
const HOST_PORT = 18400 + (process.pid % 500);

describe.skipIf(!!why)('microvm tier end to end', () => {
  beforeAll(async () => {
    // TCG without the KVM canary: these hosts' /dev/kvm cannot boot the kernel (PLATFORM-NOTES).
    process.env.STRATA_MICROVM_ACCEL = 'tcg';
    c = await new Cluster().serverOnly();
    await c.addAgent(NODE, ['--runtimes', 'wasm,container,microvm']);
    await c.importTestImages('busybox', { root: join(c.agentDir(NODE), 'images') });
  }, 180_000);

  afterAll(async () => {
    if (!c) return;
    // VMs outlive their agent by design: delete the workloads first, so the agent stops them.
    await c.kubectl(['delete', 'deployment,pods', '--all', '--wait=true', '--timeout=90s'], {
      timeoutMs: 120_000,
    });
    await c.stop();
    // And whatever a failed test left: this cluster's QEMUs (their pidfiles are under its directory).
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(c.dir))
          process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  });

  const finished = (name: string, ms = 180_000) =>
    waitFor(
      `${name} finished`,
      async () => {
        const p = await c.client.get(pods, 'default', name);
        return ['Succeeded', 'Failed'].includes(p.status?.phase) ? p : undefined;
      },
      ms,
    );

  it('runs pods as VMs: guest kernel and QEMU CPU in the logs, exit codes map to Succeeded/Failed', async () => {
    const file = join(c.dir, 'vms.yaml');
    const pod = (name: string, script: string): string => `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  runtimeClassName: microvm
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, ${JSON.stringify(script)}]
`;
    writeFileSync(
      file,
      `${pod('vm-ok', "uname -r; cat /proc/cpuinfo | grep -m1 'model name'")}---\n${pod('vm-fail', 'echo failing; exit 3')}`,
    );
    const applied = await c.cli(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const [ok, failed] = await Promise.all([finished('vm-ok'), finished('vm-fail')]);
    expect(ok.status.phase).toBe('Succeeded');
    expect(failed.status.phase).toBe('Failed');
    expect(failed.status.containerStatuses[0].state.terminated.exitCode).toBe(3);

    const logs = await c.cli(['logs', 'vm-ok']);
    expect(logs.code, logs.stderr).toBe(0);
    const [kernel, cpu] = logs.stdout.trim().split('\n');
    expect(kernel).toMatch(/-cloud-amd64$/);
    expect(kernel).not.toBe(release());
    expect(cpu).toMatch(/model name\s*: QEMU/);
    expect((await c.cli(['logs', 'vm-fail'])).stdout).toBe('failing\n');
  }, 300_000);

  let vmPod = '';
  let podIP = '';

  it('a microVM Deployment answers on its hostPort and through a ClusterIP Service from a container pod', async () => {
    const file = join(c.dir, 'web.yaml');
    writeFileSync(
      file,
      `apiVersion: apps/v1
kind: Deployment
metadata: { name: web-vm }
spec:
  replicas: 1
  selector: { matchLabels: { app: web-vm } }
  template:
    metadata: { labels: { app: web-vm } }
    spec:
      runtimeClassName: microvm
      containers:
        - name: httpd
          image: localhost/busybox:1.0
          command: [sh, -c, 'mkdir -p /www && echo "vm $(uname -r)" > /www/index.html && echo serving && exec httpd -f -v -p 8080 -h /www']
          ports: [{ name: http, containerPort: 8080, hostPort: ${HOST_PORT} }]
          readinessProbe: { tcpSocket: { port: http }, periodSeconds: 1 }
          volumeMounts: [{ name: conf, mountPath: /etc/web }]
      volumes:
        - name: conf
          configMap: { name: web-conf }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: web-conf }
data: { greeting: hello-from-a-configmap }
---
apiVersion: v1
kind: Service
metadata: { name: web-vm }
spec:
  selector: { app: web-vm }
  ports: [{ port: 80, targetPort: http }]
`,
    );
    const applied = await c.kubectl(['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    const ready = await waitFor(
      'the microVM replica Ready',
      async () => {
        const l = await c.client.list(pods, 'default', { labelSelector: 'app=web-vm' });
        return l.items.find((p: any) =>
          p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'),
        );
      },
      240_000,
    );
    vmPod = ready.metadata.name;
    podIP = ready.status.podIP;
    // The pod's IP is on this cluster's pod range, like a container pod's.
    expect(podIP.startsWith(c.podCidr.replace(/0\.0\/16$/, ''))).toBe(true);
    const viaHostPort = execFileSync('curl', ['-sf', '--max-time', '10', `http://127.0.0.1:${HOST_PORT}/`], {
      encoding: 'utf8',
    });
    expect(viaHostPort).toMatch(/^vm .*-cloud-amd64\n$/);
    expect(viaHostPort).not.toContain(release());

    const svc = JSON.parse((await c.kubectl(['get', 'svc', 'web-vm', '-o', 'json'])).stdout);
    const clusterIP = svc.spec.clusterIP;
    writeFileSync(
      join(c.dir, 'client.yaml'),
      `apiVersion: v1
kind: Pod
metadata: { name: svc-client }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      # busybox nc (its static wget crashes in this image): the response's body is its last line.
      command: [sh, -c, 'for i in $(seq 1 30); do r=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 5 ${clusterIP} 80) && [ -n "$r" ] && { echo "$r" | tail -1; exit 0; }; sleep 1; done; exit 1']
`,
    );
    expect((await c.kubectl(['apply', '-f', join(c.dir, 'client.yaml')])).code).toBe(0);
    const client = await finished('svc-client', 120_000);
    const out = (await c.kubectl(['logs', 'svc-client'])).stdout;
    expect(client.status.phase, out).toBe('Succeeded');
    expect(out).toBe(viaHostPort);
  }, 420_000);

  it('exec on a microVM pod: kubectl exec, strata exec -i and -it, in the workload root', async () => {
    expect(vmPod).not.toBe('');
    const uname = await c.kubectl(['exec', vmPod, '--', 'uname', '-r']);
    expect(uname.code, uname.stderr).toBe(0);
    expect(uname.stdout.trim()).toMatch(/-cloud-amd64$/);
    expect(uname.stdout.trim()).not.toBe(release());
    const conf = await c.kubectl(['exec', vmPod, '--', 'cat', '/etc/web/greeting']);
    expect(conf.stdout).toBe('hello-from-a-configmap');
    const failing = await c.kubectl(['exec', vmPod, '--', 'sh', '-c', 'echo oops >&2; exit 3']);
    expect(failing.code).toBe(3);
    expect(failing.stderr).toContain('oops');

    const piped = await c.kubectl(
      ['exec', '-i', vmPod, '--', 'sh', '-c', 'read x; echo "got $x"; cat; exit 4'],
      {
        input: 'hello\nmore\n',
      },
    );
    expect(piped.stdout).toBe('got hello\nmore\n');
    expect(piped.code).toBe(4);

    const tty = await c.cli(
      ['exec', '-it', vmPod, '--', 'sh', '-c', 'read x; echo "got $x tty=$(tty)"; exit 5'],
      {
        input: 'hi\n',
      },
    );
    expect(tty.stdout).toMatch(/got hi tty=\/dev\/pts\/\d+/);
    expect(tty.code).toBe(5);

    // kubectl exec -it from a real terminal (util-linux script gives kubectl one): raw mode, the
    // guest's terminal, the remote exit code.
    const q = (w: string): string => `'${w.replaceAll("'", "'\\''")}'`;
    const line = [
      'kubectl',
      '--kubeconfig',
      c.kubeconfig,
      '--cache-dir',
      join(c.dir, 'kube-cache'),
      'exec',
      '-it',
      vmPod,
      '--',
      'sh',
      '-c',
      'read x; echo "got $x on $(tty)"; exit 6',
    ]
      .map(q)
      .join(' ');
    const terminal = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn('script', ['-q', '-e', '-c', `${line}; echo "exit=$?"`, '/dev/null'], {
        stdio: 'pipe',
      });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', (code) => resolve({ code, out }));
      setTimeout(() => p.stdin.write('typed\r'), 4000);
      setTimeout(() => p.stdin.end(), 15000);
    });
    expect(terminal.out).toMatch(/got typed on \/dev\/pts\/\d+/);
    expect(terminal.out).toContain('exit=6');
  }, 180_000);

  it('escape battery: the guest sees its own disks only, and no pod reaches a VM control socket', async () => {
    expect(vmPod).not.toBe('');
    const r = await c.kubectl([
      'exec',
      vmPod,
      '--',
      'sh',
      '-c',
      'ls /sys/block; echo ---; cut -d" " -f3 /proc/mounts | sort -u; echo ---; ls /run/strata 2>&1; ls /sys/class/net',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [blocks, fstypes, rest] = r.stdout.split('---\n');
    // The image's disk, the configMap's and the service-account token's (the kube-api-access projected
    // volume every pod gets): nothing else is attached to the VM.
    expect(blocks.trim().split(/\s+/).sort()).toEqual(['vda', 'vdb', 'vdc']);
    // No filesystem shared with the host (9p, virtiofs, fuse, nfs): block devices and kernel filesystems.
    for (const t of fstypes.trim().split('\n')) {
      expect(['rootfs', 'ext4', 'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs']).toContain(t);
    }
    expect(rest).toMatch(/No such file or directory/);
    expect(rest.trim().split('\n').slice(1).sort()).toEqual(['eth0', 'lo']);

    // The host side of every VM's channels: root's own directories (no pod runs as root on the host,
    // and no pod's root filesystem includes /run/strata).
    const runDir = '/run/strata/microvm';
    const socketDirs = readdirSync(runDir).filter((d) => /^[0-9a-f]{16}$/.test(d));
    expect(socketDirs.length).toBeGreaterThan(0);
    for (const d of socketDirs) {
      const st = statSync(join(runDir, d));
      expect(st.uid).toBe(0);
      expect(st.mode & 0o077).toBe(0);
    }
    // A container pod does not see the host's /run/strata either.
    writeFileSync(
      join(c.dir, 'peek.yaml'),
      `apiVersion: v1
kind: Pod
metadata: { name: peek }
spec:
  runtimeClassName: container
  restartPolicy: Never
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'ls /run/strata/microvm 2>&1; exit 0']
`,
    );
    expect((await c.kubectl(['apply', '-f', join(c.dir, 'peek.yaml')])).code).toBe(0);
    await finished('peek', 120_000);
    expect((await c.kubectl(['logs', 'peek'])).stdout).toMatch(/No such file or directory/);
  }, 240_000);

  it('kill -9 of the agent leaves the VM running; the restarted agent re-adopts it with its logs', async () => {
    expect(vmPod).not.toBe('');
    const before = await c.client.get(pods, 'default', vmPod);
    const containerID = before.status.containerStatuses[0].containerID;
    // busybox httpd -v logs a `response:200` line per request (on stderr, in the pod's log).
    const served = async () =>
      ((await c.kubectl(['logs', vmPod])).stdout.match(/response:200/g) ?? []).length;
    const servedBefore = await served();
    // The guest's projected service-account token (a live volume: kept current from the node's copy).
    const guestToken = async () =>
      (await c.kubectl(['exec', vmPod, '--', 'cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']))
        .stdout;
    const tokenBefore = await guestToken();
    expect(tokenBefore).toMatch(/^ey/);
    await c.killAgent(NODE);
    // The VM serves while no agent runs.
    const during = execFileSync('curl', ['-sf', '--max-time', '10', `http://127.0.0.1:${HOST_PORT}/`], {
      encoding: 'utf8',
    });
    expect(during).toMatch(/^vm /);
    await c.restartAgent(NODE);
    // The request served while the agent was away and one after reach the pod's log.
    execFileSync('curl', ['-sf', '--max-time', '10', `http://127.0.0.1:${HOST_PORT}/`]);
    await waitFor(
      'both requests logged after the restart',
      async () => (await served()) >= servedBefore + 2,
      60_000,
    );
    const after = await c.client.get(pods, 'default', vmPod);
    expect(after.status.containerStatuses[0].containerID).toBe(containerID);
    expect(after.status.containerStatuses[0].restartCount).toBe(0);
    expect(after.status.podIP).toBe(podIP);
    expect((await c.kubectl(['logs', vmPod])).stdout).toMatch(/^serving$/m);
    // exec still works on the re-adopted VM.
    expect((await c.kubectl(['exec', vmPod, '--', 'cat', '/www/index.html'])).stdout).toMatch(/^vm /);
    // The restarted agent fetched the pod a fresh token (its rotation died with the old agent); the
    // running VM reads it — the node's rewrite reaches the guest, as every token rotation does.
    await waitFor(
      'the fresh service-account token in the VM',
      async () => {
        const t = await guestToken();
        return /^ey/.test(t) && t !== tokenBefore;
      },
      60_000,
    );
  }, 240_000);

  it('a memory hog in the VM is stopped by the guest kernel, and the pod says OOMKilled', async () => {
    writeFileSync(
      join(c.dir, 'hog.yaml'),
      `apiVersion: v1
kind: Pod
metadata: { name: vm-hog }
spec:
  runtimeClassName: microvm
  restartPolicy: Never
  # A 96 MiB guest: no service-account token disk to mount beside the hog (once, in CI, its init failed to
  # mount one under load: StartError — noted for the microvm tier).
  automountServiceAccountToken: false
  containers:
    - name: main
      image: localhost/busybox:1.0
      command: [sh, -c, 'head -c 300000000 /dev/zero | sort > /dev/null']
      resources: { limits: { memory: 96Mi } }
`,
    );
    expect((await c.kubectl(['apply', '-f', join(c.dir, 'hog.yaml')])).code).toBe(0);
    const p = await finished('vm-hog');
    const term = p.status.containerStatuses[0].state.terminated;
    expect(p.status.phase).toBe('Failed');
    expect(term.reason, term.message).toBe('OOMKilled');
    expect(term.exitCode).toBe(137);
    expect(term.message).toMatch(/Out of memory: Killed process \d+ \(sort\)/);
  }, 300_000);
});
