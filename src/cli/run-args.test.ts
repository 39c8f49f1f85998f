import { describe, expect, it } from 'vitest';
import {
  buildRunPod,
  checkRuntime,
  memoryQuantity,
  parseEnvFile,
  parseEnvFlags,
  parsePublish,
  parseUser,
  parseVolume,
  RunArgumentError,
  type RunEnvironment,
} from './run-args.ts';

const env = (files: Record<string, string> = {}, existing: string[] = []): RunEnvironment => ({
  environ: { FROM_SHELL: 'shell value', EMPTY: '' },
  cwd: '/home/me/project',
  readFile: (p) => {
    if (!(p in files)) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return files[p];
  },
  exists: (p) => existing.includes(p),
});

describe('--env-file (docker format)', () => {
  it('reads KEY=VALUE lines literally, skips comments and blank lines, bare names from the environment', () => {
    const text = [
      '\uFEFF# a comment',
      '',
      'PLAIN=value',
      '   INDENTED=kept as is  ',
      'QUOTED="not unquoted"',
      'EQUALS=a=b=c',
      'NOTHING=',
      'FROM_SHELL',
      'EMPTY',
      'UNSET_IN_SHELL',
      '  # an indented comment',
    ].join('\n');
    expect(parseEnvFile(text, 'f', env().environ)).toEqual([
      { name: 'PLAIN', value: 'value' },
      { name: 'INDENTED', value: 'kept as is  ' },
      { name: 'QUOTED', value: '"not unquoted"' },
      { name: 'EQUALS', value: 'a=b=c' },
      { name: 'NOTHING', value: '' },
      { name: 'FROM_SHELL', value: 'shell value' },
      { name: 'EMPTY', value: '' },
    ]);
  });

  it('CRLF line ends are not part of values', () => {
    expect(parseEnvFile('A=1\r\nB=2\r\n', 'f', {})).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
  });

  it('refuses a name with whitespace or no name, naming the file and line', () => {
    expect(() => parseEnvFile('OK=1\nB C=2', 'vars.env', {})).toThrow(
      /--env-file vars.env, line 2: variable "B C" contains whitespace/,
    );
    expect(() => parseEnvFile('=value', 'vars.env', {})).toThrow(/line 1: no variable name/);
  });

  it('a missing file is an error naming the flag; -e wins over the file; the last of a name wins', () => {
    expect(() => buildRunPod('container', 'img', [], { envFile: ['nope.env'] }, 'p', 'ns', env())).toThrow(
      /--env-file nope.env: no such file/,
    );
    const files = { '/home/me/project/a.env': 'X=file\nY=file\nX=file again' };
    const pod = buildRunPod(
      'container',
      'img',
      [],
      { envFile: ['a.env'], env: ['Y=flag'] },
      'p',
      'ns',
      env(files),
    );
    expect(pod.spec.containers[0].env).toEqual([
      { name: 'X', value: 'file again' },
      { name: 'Y', value: 'flag' },
    ]);
  });
});

describe('-e', () => {
  it('NAME=VALUE, and a bare NAME takes the shell value or is left out', () => {
    expect(parseEnvFlags(['A=1', 'B=x=y', 'FROM_SHELL', 'UNSET'], env().environ)).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: 'x=y' },
      { name: 'FROM_SHELL', value: 'shell value' },
    ]);
  });
  it('refuses an empty name', () => {
    expect(() => parseEnvFlags(['=1'], {})).toThrow(RunArgumentError);
    expect(() => parseEnvFlags(['=1'], {})).toThrow(/^-e "=1"/);
  });
});

describe('-p', () => {
  it('HOST:CONTAINER, with a protocol and a host address', () => {
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, protocol: 'TCP' });
    expect(parsePublish('5353:53/udp')).toEqual({ hostPort: 5353, containerPort: 53, protocol: 'UDP' });
    expect(parsePublish('127.0.0.1:8080:80/TCP')).toEqual({
      hostPort: 8080,
      containerPort: 80,
      protocol: 'TCP',
      hostIP: '127.0.0.1',
    });
    expect(parsePublish('[::1]:8080:80')).toMatchObject({ hostIP: '::1', hostPort: 8080, containerPort: 80 });
  });
  it('refuses what a pod cannot say, naming the flag', () => {
    expect(() => parsePublish('80')).toThrow(/^-p 80: give the host port too/);
    expect(() => parsePublish('0:80')).toThrow(/-p 0:80: host port "0" is not a port number/);
    expect(() => parsePublish('8080:70000')).toThrow(/container port "70000"/);
    expect(() => parsePublish('8080:80/icmp')).toThrow(/protocol "icmp" is not tcp, udp or sctp/);
    expect(() => parsePublish('a:b:c:d')).toThrow(/expected \[IP:\]HOST:CONTAINER/);
    expect(() => parsePublish('host:8080:80')).toThrow(/"host" is not an IP address/);
  });
});

describe('-v', () => {
  const e = env({}, ['/srv/data', '/home/me/project/file.txt']);
  it('an absolute or ./ path is a hostPath volume (a missing one created as a directory, as docker does)', () => {
    expect(parseVolume('/srv/data:/data', 0, e)).toEqual({
      volume: { name: 'vol-0', hostPath: { path: '/srv/data' } },
      mount: { name: 'vol-0', mountPath: '/data' },
    });
    expect(parseVolume('./file.txt:/etc/app.conf:ro', 1, e)).toEqual({
      volume: { name: 'vol-1', hostPath: { path: '/home/me/project/file.txt' } },
      mount: { name: 'vol-1', mountPath: '/etc/app.conf', readOnly: true },
    });
    expect(parseVolume('/srv/new:/new/:rw', 2, e).volume).toEqual({
      name: 'vol-2',
      hostPath: { path: '/srv/new', type: 'DirectoryOrCreate' },
    });
  });
  it('a name is a PersistentVolumeClaim', () => {
    expect(parseVolume('pgdata:/var/lib/postgresql:ro', 0, e)).toEqual({
      volume: { name: 'vol-0', persistentVolumeClaim: { claimName: 'pgdata', readOnly: true } },
      mount: { name: 'vol-0', mountPath: '/var/lib/postgresql', readOnly: true },
    });
  });
  it('refuses bad forms, naming the flag', () => {
    expect(() => parseVolume('/srv', 0, e)).toThrow(/^-v \/srv: expected SOURCE:PATH/);
    expect(() => parseVolume('/srv:data', 0, e)).toThrow(/container path "data" must be absolute/);
    expect(() => parseVolume('/srv:/data:z', 0, e)).toThrow(/mode "z" is not ro or rw/);
    expect(() => parseVolume('My_Data:/data', 0, e)).toThrow(/neither an absolute path nor a volume name/);
  });
});

describe('--user', () => {
  it('UID and UID:GID', () => {
    expect(parseUser('1000')).toEqual({ runAsUser: 1000 });
    expect(parseUser('0:0')).toEqual({ runAsUser: 0, runAsGroup: 0 });
  });
  it('refuses names and junk, naming the flag', () => {
    expect(() => parseUser('www-data')).toThrow(/^--user www-data: expected UID\[:GID\] as numbers/);
    expect(() => parseUser('1000:')).toThrow(RunArgumentError);
    expect(() => parseUser('-1')).toThrow(RunArgumentError);
    expect(() => parseUser('99999999999')).toThrow(/too large/);
  });
});

describe('the pod', () => {
  it('carries every flag in its Kubernetes field', () => {
    const pod = buildRunPod(
      'container',
      'localhost/busybox:1.0',
      ['sh', '-c', 'id'],
      {
        publish: ['8080:80'],
        volume: ['/srv/data:/data'],
        workdir: '/data',
        user: '1000:100',
        interactive: true,
        tty: true,
        memory: '512m',
        cpu: '500m',
      },
      'p1',
      'team',
      env({}, ['/srv/data']),
    );
    expect(pod).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p1', namespace: 'team', labels: { 'strata.dev/run': 'p1' } },
      spec: {
        runtimeClassName: 'container',
        restartPolicy: 'Never',
        containers: [
          {
            name: 'main',
            image: 'localhost/busybox:1.0',
            args: ['sh', '-c', 'id'],
            ports: [{ hostPort: 8080, containerPort: 80, protocol: 'TCP' }],
            volumeMounts: [{ name: 'vol-0', mountPath: '/data' }],
            workingDir: '/data',
            securityContext: { runAsUser: 1000, runAsGroup: 100 },
            resources: { limits: { memory: '512Mi', cpu: '500m' } },
            stdin: true,
            stdinOnce: true,
            tty: true,
          },
        ],
        volumes: [{ name: 'vol-0', hostPath: { path: '/srv/data' } }],
      },
    });
  });
  it('-dit keeps stdin open for later attaches (not stdinOnce)', () => {
    const pod = buildRunPod(
      'container',
      'i',
      [],
      { interactive: true, tty: true, detach: true },
      'p',
      'ns',
      env(),
    );
    expect(pod.spec.containers[0]).toMatchObject({ stdin: true, stdinOnce: false, tty: true });
  });
  it('a relative working directory is refused', () => {
    expect(() => buildRunPod('container', 'i', [], { workdir: 'tmp' }, 'p', 'ns', env())).toThrow(
      /^-w tmp: the working directory must be an absolute path/,
    );
  });
});

describe('runtime and sizes', () => {
  it('the runtime is one of the tiers, and one the nodes run', () => {
    expect(() => checkRuntime('container', ['container', 'wasm'])).not.toThrow();
    expect(() => checkRuntime('docker', ['container', 'wasm'])).toThrow(
      'runtime "docker": expected one of wasm, container, microvm (this cluster\'s nodes run: container, wasm)',
    );
    expect(() => checkRuntime('microvm', ['container', 'wasm'])).toThrow(
      /"microvm": no node of this cluster runs it/,
    );
    expect(() => checkRuntime('microvm', undefined)).not.toThrow();
  });
  it("docker's memory suffixes are binary units; Kubernetes quantities pass through", () => {
    expect(memoryQuantity('512m')).toBe('512Mi');
    expect(memoryQuantity('1g')).toBe('1Gi');
    expect(memoryQuantity('64k')).toBe('64Ki');
    expect(memoryQuantity('1000b')).toBe('1000');
    expect(memoryQuantity('64Mi')).toBe('64Mi');
    expect(memoryQuantity('1G')).toBe('1G');
  });
});
