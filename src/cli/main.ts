#!/usr/bin/env node
// The `strata` command line. Every API command talks to the server only through the HTTP client.
//
// What only some commands need is imported inside their actions: the node and the control plane
// (src/node/, through cluster.ts) for up/server/agent/down, the image store for `strata image`, the
// controllers' rollout history for `rollout`/`scale`, the server's version for `strata version`. A client command like `strata get pods` loads cli, client and
// api only (`import()` of a module already loaded costs nothing, so the actions stay simple).
import { Command, Option } from 'commander';
import { resourcePath } from '../client/client.ts';
import { topNodes, topPods } from './top.ts';
import { connect, kindArg, type GlobalOptions } from './context.ts';
import { describe } from './describe.ts';
import { execInteractive } from './exec.ts';
import { streamLogs } from './logs.ts';
import { cordon, drain } from './drain.ts';
import { seconds } from './duration.ts';
import { apply, del, get } from './resources.ts';
import { run } from './run.ts';
import { registerTokenCommands } from './token.ts';
import { registerPolicyCommands } from './policy.ts';
import { registerFuncCommands } from './func.ts';
import { registerAlertCommands } from './alerts.ts';
import { registerAuthCommands } from './auth.ts';
import { registerDatastoreCommands, withDatastoreOptions } from './datastore.ts';
import { collect, int, withControlPlaneOptions, withNodeOptions } from './cluster-options.ts';

const withGlobalOptions = (cmd: Command): Command =>
  cmd
    .option('--kubeconfig <path>', 'config file (default $STRATACONFIG or ~/.strata/config)')
    .option('-n, --namespace <ns>', 'namespace of the request');

const program = withGlobalOptions(new Command('strata'))
  .description('Strata: one control plane for WebAssembly, container and microVM workloads')
  .configureOutput({ outputError: (str, write) => write(str) });

/** The command argv runs (`help X` counts as X), read past the global options the way commander will. */
function commandOf(argv: string[]): string | undefined {
  try {
    const { operands } = withGlobalOptions(new Command()).exitOverride().parseOptions(argv);
    return operands[0] === 'help' ? operands[1] : operands[0];
  } catch {
    return undefined; // a malformed global option: the real parse reports it
  }
}

const cluster = () => import('./cluster.ts');
// Rollouts share the Deployment controller's history helpers (src/controllers).
const rollouts = () => import('./rollout.ts');

const g = (): GlobalOptions => program.opts();
/**
 * The microvm tier reads its accelerator, the container tier its OCI runtime, from the environment (a
 * detached `up` inherits it).
 */
const useTierSettings = (o: { microvmAccel?: string; containerRuntime?: string }): void => {
  if (o.microvmAccel) process.env.STRATA_MICROVM_ACCEL = o.microvmAccel;
  if (o.containerRuntime) process.env.STRATA_CONTAINER_RUNTIME = o.containerRuntime;
};
const print = (s: string): void => void process.stdout.write(`${s}\n`);
let exitCode = 0;

withNodeOptions(
  withControlPlaneOptions(
    program
      .command('up')
      .description(
        'start a single-node cluster (API server, controllers, scheduler and agent) in one process',
      )
      .option('--data-dir <dir>', 'state directory (default $STRATA_HOME/data or ~/.strata/data)'),
  ),
)
  .option('-d, --detach', 'run in the background and return once ready')
  .option('-v, --verbose', 'debug logging')
  .action(async (o) => {
    useTierSettings(o);
    await (await cluster()).up({ ...o, kubeconfig: g().kubeconfig });
  });

program
  .command('down')
  .description('stop a cluster started with `strata up -d`')
  .option('--data-dir <dir>', 'state directory')
  .action(async (o) => (await cluster()).down(o));

withControlPlaneOptions(
  program
    .command('server')
    .description('run the control plane only (API server, controllers, scheduler)')
    .option('--data-dir <dir>', 'state directory'),
)
  .option('--cluster-init', 'found a new cluster with an embedded etcd member (DATA/etcd; docs/ha.md)')
  .option(
    '--join <url>',
    "join a server's embedded etcd cluster (https://SERVER:6443), with --token and --ca-cert-hash",
  )
  .option('--token <token>', 'with --join: a join token in group system:bootstrappers:strata:servers')
  .option('--ca-cert-hash <sha256:hex>', "with --join: pins the joined server's CA")
  .option('--etcd-address <ip>', "where the other members reach this one's etcd (default 127.0.0.1)")
  .option('--etcd-client-port <port>', "the embedded etcd's client port (default 2379)", int)
  .option('--etcd-peer-port <port>', "the embedded etcd's peer port (default 2380)", int)
  .option('--quota-backend-bytes <n>', "the embedded etcd's backend quota (default 8 GiB)", int)
  .option(
    '--cluster-cidr <cidr>',
    "the cluster's pod range: each Node gets a block of it (spec.podCIDR) for pods that reach other nodes' (docs/ha.md)",
  )
  .option('--node-cidr-mask-size <n>', "with --cluster-cidr: the size of each node's block (default 24)", int)
  .option(
    '--cluster-leave',
    "remove this data directory's etcd member from the cluster (server stopped), then exit",
  )
  .option(
    '--cluster-reset',
    "make this data directory's etcd member the only member of a new cluster, keeping its data (server stopped), then exit (docs/ha.md)",
  )
  .option(
    '--cluster-reset-restore-path <file>',
    'with --cluster-reset: restore this backup (FILE.sha256 checked) instead, the old member data kept aside',
  )
  .action(async (o) => (await cluster()).server({ ...o, kubeconfig: g().kubeconfig }));
withDatastoreOptions(
  program.commands.find((c) => c.name() === 'server')!,
  int,
);

const secrets = program.command('secrets').description('data protection: secrets encrypted at rest');
secrets
  .command('reencrypt')
  .description(
    'rewrite every encrypted resource with the first provider of the configuration (key rotation; encrypting data stored before), then compact and VACUUM the datastore; the server must be stopped',
  )
  .option('--data-dir <dir>', 'state directory of the stopped server')
  .requiredOption(
    '--encryption-provider-config <file>',
    'the EncryptionConfiguration the server will run with',
  )
  .action(async (o) => (await import('./secrets.ts')).reencryptSecrets(o));

withNodeOptions(
  program
    .command('agent')
    .description('run a node agent that joins a server')
    .requiredOption(
      '--server <url>',
      'API server URL; several comma-separated: the agent reaches them through its local load balancer',
    )
    .option(
      '--lb-port <port>',
      "the local load balancer's port (default 6444; used with several servers)",
      int,
    )
    .option(
      '--token <token>',
      'join token (strata token create): the node obtains its own certificate with it, once',
    )
    .option('--token-file <file>', 'file holding the join token (or a bearer token to present instead)')
    .option(
      '--ca-cert-hash <sha256:hex>',
      "pin of the cluster CA (the server's DATA/tls/ca.hash), as kubeadm join takes it",
    )
    .option('--ca-file <file>', 'the cluster CA certificate (instead of --ca-cert-hash)')
    .option('--service-cidr <cidr>', "the cluster's Service range (as the server's)", '10.96.0.0/16')
    .option('--data-dir <dir>', 'agent state directory'),
)
  .option('--address <addr>', "address of the agent's endpoint", '127.0.0.1')
  .option('--port <port>', "port of the agent's endpoint (0 = any)", int, 0)
  .option('--label <k=v>', 'node label (repeatable)', collect)
  .option(
    '--cgroup-parent <path>',
    "the sandboxes' cgroup parent (default strata; another node on this kernel needs its own)",
  )
  .option(
    '--run-dir <dir>',
    "the sandboxes' per-boot state: runtime root, pid/exit files (default /run/strata)",
  )
  .action(async (o) => {
    useTierSettings(o);
    await (await cluster()).agent({ ...o, labels: o.label });
  });

program
  .command('apply')
  .description('create or update objects from manifests')
  .requiredOption('-f, --filename <path...>', 'file, directory, or - for stdin')
  .action(async (o) => {
    exitCode = await apply(connect(g()), o.filename, print);
  });

program
  .command('get')
  .description('list objects, or show some')
  .argument('<kind>', 'kind, e.g. pods, deploy, jobs, nodes (or kind/name)')
  .argument('[names...]')
  .option('-o, --output <format>', 'wide | yaml | json | name')
  .option('-w, --watch', 'watch for changes after listing')
  .option('-l, --selector <sel>', 'label selector')
  .option('--field-selector <sel>', 'field selector')
  .option('-A, --all-namespaces', 'across all namespaces')
  .action(async (kind, names, o) => get(connect(g()), kind, names, o, print));

program
  .command('describe')
  .description('show details of an object')
  .argument('<kind>')
  .argument('[name]')
  .action(async (kind: string, name?: string) => {
    if (!name && kind.includes('/')) [kind, name] = kind.split('/');
    if (!name) throw new Error(`specify the name: strata describe ${kind} NAME`);
    print(await describe(connect(g()), kindArg(kind), name));
  });

program
  .command('delete')
  .description('delete objects by kind and names, TYPE/NAME, or -f FILE')
  .argument('[args...]')
  .option('-f, --filename <path...>', 'delete the objects in these manifests')
  .option('--grace-period <s>', 'seconds a pod gets to stop', int)
  .option('--force', 'delete at once (grace period 0)')
  .option('--wait <bool>', 'wait until the objects are gone', (v) => v !== 'false', true)
  .option('--ignore-not-found', 'treat missing objects as deleted')
  .action(async (args, o) => {
    exitCode = await del(connect(g()), args, o, print);
  });

program
  .command('logs')
  .description("print a pod's container log")
  .argument('<pod>')
  .option('-c, --container <name>', 'container (default: the only one)')
  .option('-f, --follow', 'stream new output until the container exits')
  .option('-p, --previous', 'the previous run of the container')
  .option('--tail <n>', 'last N lines', int)
  .action(async (pod: string, o) => {
    const ctx = connect(g());
    await streamLogs(ctx.client, ctx.namespace, pod.replace(/^pods?\//, ''), o, (c) =>
      process.stdout.write(c),
    );
  });

program
  .command('run')
  .description('run a pod docker-run style: stream its output, exit with its exit code')
  .argument('<runtime>', 'runtime class: wasm, container or microvm')
  .argument(
    '<image>',
    "container/microvm: an image reference in the node's store or a registry (e.g. localhost/busybox:1.0); wasm: a .wasm path, https:// URL or OCI reference",
  )
  .argument('[args...]', 'arguments for the program (after --)')
  .option('--name <name>', 'pod name')
  .option('--rm', 'delete the pod when it exits (and on Ctrl-C)')
  .option(
    '-e, --env <k=v>',
    "environment variable; a bare NAME takes this shell's value (repeatable)",
    collect,
  )
  .option('--env-file <file>', 'environment variables from a file of KEY=VALUE lines (repeatable)', collect)
  .option(
    '-p, --publish <[ip:]host:container[/udp]>',
    'publish a container port on the node (repeatable)',
    collect,
  )
  .option(
    '-v, --volume <src:path[:ro]>',
    'mount a host path (absolute or ./) or a named claim (repeatable)',
    collect,
  )
  .option('-w, --workdir <dir>', 'working directory in the container')
  .option('-u, --user <uid[:gid]>', 'run as this numeric user and group')
  .option('-i, --interactive', "pass this process's stdin to the container")
  .option('-t, --tty', 'give the container a terminal')
  .option('--memory <q>', "memory limit, e.g. 64Mi (docker's 512m, 1g mean MiB, GiB)")
  .option('--cpu <q>', 'cpu limit, e.g. 500m or 1.5')
  .addOption(
    new Option('--restart <policy>', 'restart policy')
      .choices(['Never', 'OnFailure', 'Always'])
      .default('Never'),
  )
  .option('--timeout <s>', 'seconds to wait for the pod to start', int, 300)
  .option('-d, --detach', 'create the pod and return')
  .action(async (runtime: string, image: string, args: string[], o) => {
    exitCode = await run(connect(g()), runtime, image, args, o);
  });

program
  .command('attach')
  .description("attach to a running container's output (and stdin with -i, for pods with stdin: true)")
  .argument('<pod>')
  .option('-c, --container <name>', 'container (default: the only one)')
  .option('-i, --stdin', "pass stdin to the container's own stdin")
  .option('-t, --tty', 'the container runs on a terminal: put this one in raw mode')
  .action(async (pod: string, o) => {
    const ctx = connect(g());
    const path = resourcePath(kindArg('pods'), ctx.namespace, pod.replace(/^pods?\//, ''), 'attach');
    const opts = { container: o.container, command: [], stdin: !!o.stdin, tty: !!o.tty };
    exitCode = await execInteractive(ctx.client, path, opts);
  });

const rollout = program
  .command('rollout')
  .description('manage the rollout of a deployment: status, history, undo, restart, pause, resume');
rollout
  .command('status')
  .description('wait until the rollout completes (exit 1 if it exceeds its progress deadline)')
  .argument('<workload...>', 'deployment/NAME or daemonset/NAME')
  .option('-w, --watch <bool>', 'keep watching until done', (v) => v !== 'false', true)
  .option('--timeout <duration>', 'give up after this long (default: never)', seconds)
  .action(async (args: string[], o) => (await rollouts()).rolloutStatus(connect(g()), args, o, print));
rollout
  .command('history')
  .description('list the revisions of a deployment')
  .argument('<deployment...>', 'deployment/NAME')
  .option('--revision <n>', 'show the pod template of this revision', int)
  .action(async (args: string[], o) => (await rollouts()).rolloutHistory(connect(g()), args, o, print));
rollout
  .command('undo')
  .description('roll back to the previous revision (or --to-revision N)')
  .argument('<deployment...>', 'deployment/NAME')
  .option('--to-revision <n>', 'the revision to roll back to (default: the previous one)', int)
  .action(async (args: string[], o) => (await rollouts()).rolloutUndo(connect(g()), args, o, print));
rollout
  .command('restart')
  .description('replace every pod of a deployment (or daemonset) through a rollout')
  .argument('<workload...>', 'deployment/NAME or daemonset/NAME')
  .action(async (args: string[]) => (await rollouts()).rolloutRestart(connect(g()), args, print));
rollout
  .command('pause')
  .description('stop rolling out template changes')
  .argument('<deployment...>', 'deployment/NAME')
  .action(async (args: string[]) => (await rollouts()).rolloutPause(connect(g()), args, true, print));
rollout
  .command('resume')
  .description('resume a paused rollout')
  .argument('<deployment...>', 'deployment/NAME')
  .action(async (args: string[]) => (await rollouts()).rolloutPause(connect(g()), args, false, print));

program
  .command('scale')
  .description('set the number of replicas of a deployment')
  .argument('<target...>', 'deployment/NAME (or: deployment NAME)')
  .requiredOption('--replicas <n>', 'the new number of replicas', int)
  .option('--current-replicas <n>', 'only if the deployment has this many replicas now', int)
  .action(async (args: string[], o) => (await rollouts()).scale(connect(g()), args, o, print));

program
  .command('autoscale')
  .description(
    'create a HorizontalPodAutoscaler for a deployment, replicaset or statefulset (like kubectl autoscale)',
  )
  .argument('<target...>', 'deployment/NAME (or: deployment NAME)')
  .requiredOption('--max <n>', 'the upper limit of replicas', int)
  .option('--min <n>', 'the lower limit of replicas (default 1)', int)
  .option('--cpu-percent <n>', 'the target average CPU utilization, percent of requests (default 80)', int)
  .option('--name <name>', 'the HorizontalPodAutoscaler name (default: the target name)')
  .action(async (args: string[], o) =>
    (await import('./autoscale.ts')).autoscale(connect(g()), args, o, print),
  );

program
  .command('cordon')
  .description('mark a node unschedulable')
  .argument('<node>')
  .action(async (node: string) => cordon(connect(g()).client, node.replace(/^nodes?\//, ''), true, print));

program
  .command('uncordon')
  .description('mark a node schedulable again')
  .argument('<node>')
  .action(async (node: string) => cordon(connect(g()).client, node.replace(/^nodes?\//, ''), false, print));

program
  .command('top')
  .description(
    'CPU and memory of nodes or pods (metrics.k8s.io); pods --bottlenecks: efficiency and bottlenecks',
  )
  .argument('<what>', 'nodes | pods')
  .argument('[name]')
  .option('--containers', "each container's usage (pods)")
  .option('-A, --all-namespaces', 'across all namespaces (pods)')
  .option('-l, --selector <sel>', 'label selector')
  .option('--bottlenecks', "each pod's efficiency (usage ÷ requests), throttling, OOM risk and verdict")
  .option('--window <seconds>', 'seconds of history --bottlenecks looks at (default 300)', int)
  .action(async (what: string, name: string | undefined, o) => {
    const ctx = connect(g());
    const opts = { ...o, selector: o.selector };
    if (/^(no|node|nodes)$/.test(what)) print(await topNodes(ctx, name, opts));
    else if (/^(po|pod|pods)$/.test(what)) print(await topPods(ctx, name, opts));
    else throw new Error(`strata top: expected nodes or pods, not "${what}"`);
  });

program
  .command('drain')
  .description('cordon a node and evict its pods, respecting PodDisruptionBudgets')
  .argument('<node>')
  .option('--ignore-daemonsets', 'leave DaemonSet-managed pods (they would come right back)')
  .option('--delete-emptydir-data', 'evict pods with emptyDir volumes (their data is lost)')
  .option('--force', 'also delete pods that no controller will replace')
  .option('--grace-period <s>', 'seconds each pod gets to stop (default: its own)', int)
  .option('--timeout <duration>', 'give up after this long (default: never)', seconds)
  .option('--pod-selector <sel>', 'only pods with these labels')
  .option('--disable-eviction', 'delete instead of evicting (bypasses PodDisruptionBudgets)')
  .action(async (node: string, o) =>
    drain(connect(g()).client, node.replace(/^nodes?\//, ''), o, print, (s) =>
      process.stderr.write(`${s}\n`),
    ),
  );

program
  .command('exec')
  .description('run a command in a running container (container tier) and exit with its exit code')
  .argument('<pod>')
  .argument('<command...>', 'the command and its arguments (after --)')
  .option('-c, --container <name>', 'container (default: the only one)')
  .option('-i, --stdin', 'pass stdin to the command')
  .option('-t, --tty', 'allocate a terminal for the command')
  .action(async (pod: string, command: string[], o) => {
    const ctx = connect(g());
    const podKind = kindArg('pods');
    const path = resourcePath(podKind, ctx.namespace, pod.replace(/^pods?\//, ''), 'exec');
    if (o.stdin || o.tty) {
      const opts = { container: o.container, command, stdin: !!o.stdin, tty: !!o.tty };
      exitCode = await execInteractive(ctx.client, path, opts);
      return;
    }
    const r = await ctx.client.json('POST', path, {
      body: { container: o.container, command },
    });
    process.stdout.write(Buffer.from(r.stdout, 'base64'));
    process.stderr.write(Buffer.from(r.stderr, 'base64'));
    exitCode = r.exitCode;
  });

// `strata image …` acts on a node's image store: its commands (and the store's code) are loaded only
// when argv names them; any other command line sees a stand-in for the help listing.
if (commandOf(process.argv.slice(2)) === 'image') {
  const { registerImageCommands } = await import('./image.ts');
  registerImageCommands(program);
} else {
  program.command('image').description("manage this node's OCI images (node-local store)");
}

registerTokenCommands(program, () => connect(g()), print);
registerPolicyCommands(program, () => connect(g()), print);
registerFuncCommands(program, () => connect(g()), print);
registerAlertCommands(program, () => connect(g()), print);
registerAuthCommands(
  program,
  () => connect(g()),
  print,
  (code) => (exitCode = code),
);
registerDatastoreCommands(program, int);

program
  .command('version')
  .description('print client and server versions')
  .action(async () => {
    const { STRATA_VERSION } = await import('../api/version.ts');
    print(`Client Version: v${STRATA_VERSION} (Node.js ${process.version})`);
    try {
      const v = await connect(g()).client.json('GET', '/version');
      print(`Server Version: v${v.strataVersion ?? '?'} (Kubernetes API ${v.gitVersion})`);
    } catch (err) {
      print(`Server Version: unavailable (${(err as Error).message})`);
    }
  });

try {
  await program.parseAsync(process.argv);
  process.exitCode = exitCode;
} catch (err) {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  // Exit now: a server or agent that failed half-way through its start may hold timers, sockets or a
  // supervised child open, and would otherwise stay alive printing nothing more (stderr to a pipe or file
  // is written synchronously, so the message is out).
  process.exit(1);
}
