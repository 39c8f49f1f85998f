import { describe, expect, it } from 'vitest';
import { checksMeaninglessOn, evaluatePod, formatViolations } from './checks.ts';

const pod = (spec: any, annotations?: Record<string, string>) => ({ metadata: { annotations }, spec });
const hardened = {
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [
    {
      name: 'app',
      image: 'localhost/httpd:1.0',
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    },
  ],
};

describe('Pod Security Standards checks', () => {
  it('a plain root container violates restricted exactly as kube words it', () => {
    const r = evaluatePod('restricted', pod({ containers: [{ name: 'app', image: 'x' }] }), 'container');
    expect(formatViolations(r)).toBe(
      'allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ' +
        'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), ' +
        'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), ' +
        'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
    expect(evaluatePod('baseline', pod({ containers: [{ name: 'app', image: 'x' }] }), 'container')).toEqual(
      [],
    );
  });

  it('the hardened pod passes restricted; runAsUser 0 and added capabilities do not', () => {
    expect(evaluatePod('restricted', pod(hardened), 'container')).toEqual([]);
    const root = structuredClone(hardened);
    root.securityContext = { ...root.securityContext, runAsUser: 0 } as any;
    (root.containers[0]!.securityContext as any).capabilities.add = ['SYS_ADMIN', 'NET_BIND_SERVICE'];
    expect(formatViolations(evaluatePod('restricted', pod(root), 'container'))).toBe(
      'non-default capabilities (container "app" must not include "SYS_ADMIN" in securityContext.capabilities.add), ' +
        'unrestricted capabilities (container "app" must not include "SYS_ADMIN" in securityContext.capabilities.add), ' +
        'runAsUser=0 (pod must not set runAsUser=0)',
    );
  });

  it('baseline: hostPort, hostPath, host namespaces, privileged, sysctls, seccomp, SELinux, procMount, AppArmor, hostProcess', () => {
    const spec = {
      hostNetwork: true,
      hostPID: true,
      securityContext: {
        sysctls: [{ name: 'kernel.msgmax', value: '1' }],
        seccompProfile: { type: 'Unconfined' },
        seLinuxOptions: { type: 'spc_t', user: 'root' },
        windowsOptions: { hostProcess: true },
      },
      containers: [
        { name: 'a', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] },
        {
          name: 'b',
          image: 'x',
          ports: [{ containerPort: 81, hostPort: 8081 }],
          securityContext: { privileged: true, procMount: 'Unmasked', capabilities: { add: ['CHOWN'] } },
        },
      ],
      volumes: [{ name: 'host', hostPath: { path: '/' } }],
    };
    const r = evaluatePod(
      'baseline',
      pod(spec, { 'container.apparmor.security.beta.kubernetes.io/a': 'unconfined' }),
      'container',
    );
    expect(r.map((x) => `${x.reason} (${x.detail})`)).toEqual([
      'forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/a="unconfined")',
      'host namespaces (hostNetwork=true, hostPID=true)',
      'hostPath volumes (volume "host")',
      'hostPort (containers "a", "b" use hostPorts 8080, 8081)',
      'privileged (container "b" must not set securityContext.privileged=true)',
      'procMount (container "b" must not set securityContext.procMount to "Unmasked")',
      'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)',
      'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
      'forbidden sysctls (kernel.msgmax)',
      'hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)',
    ]);
  });

  it('restricted volume types name the source; the allowed ones pass', () => {
    const spec = {
      ...hardened,
      volumes: [
        { name: 'cfg', configMap: { name: 'c' } },
        { name: 'data', persistentVolumeClaim: { claimName: 'd' } },
        { name: 'host', hostPath: { path: '/srv' } },
      ],
    };
    expect(formatViolations(evaluatePod('restricted', pod(spec), 'container'))).toBe(
      'hostPath volumes (volume "host"), restricted volume types (volume "host" uses restricted volume type "hostPath")',
    );
  });

  it('on wasm, fields a guest has no use for are not judged; hostPath still is', () => {
    expect(checksMeaninglessOn('wasm')).toContain('runAsNonRoot');
    const plain = { containers: [{ name: 'm', image: 'build/wasm/ticker.wasm' }] };
    expect(evaluatePod('restricted', pod(plain), 'wasm')).toEqual([]);
    const withHost = { ...plain, volumes: [{ name: 'h', hostPath: { path: '/tmp' } }] };
    expect(evaluatePod('restricted', pod(withHost), 'wasm').map((r) => r.reason)).toEqual([
      'hostPath volumes',
      'restricted volume types',
    ]);
    expect(evaluatePod('restricted', pod(plain), 'microvm').length).toBe(4);
  });

  it('privileged allows everything', () => {
    expect(evaluatePod('privileged', pod({ hostNetwork: true, containers: [] }), 'container')).toEqual([]);
  });
});
