import { describe, expect, it } from 'vitest';
import { BootstrapTokenAuthenticator } from './authenticator.ts';
import { formatToken, generateToken, parseToken, secretName, tokenSecret, isExpired } from './token.ts';

// A Secret as the store keeps it: stringData folded into base64 data.
function stored(s: ReturnType<typeof tokenSecret>, extra: Record<string, unknown> = {}) {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.stringData)) data[k] = Buffer.from(v).toString('base64');
  return { type: s.type, data, metadata: { ...s.metadata }, ...extra } as any;
}

function withSecrets(...secrets: any[]) {
  const byKey = new Map(secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const refused: string[] = [];
  const auth = new BootstrapTokenAuthenticator({
    secrets: (k) => byKey.get(k),
    onRefused: (_id, reason) => refused.push(reason),
  });
  return { auth, refused, byKey };
}

describe('bootstrap tokens', () => {
  it('generates tokens of the Kubernetes shape, named bootstrap-token-<id>', () => {
    const t = generateToken();
    expect(formatToken(t)).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(parseToken(formatToken(t))).toEqual(t);
    expect(parseToken('ABCDEF.0123456789abcdef')).toBeUndefined();
    expect(parseToken('abcdef.0123456789abcde')).toBeUndefined();
    expect(secretName('abcdef')).toBe('bootstrap-token-abcdef');
    expect(generateToken().id).not.toBe(t.id + 'x');
  });

  it('authenticates a valid token as system:bootstrap:<id> in system:bootstrappers and its extra groups', () => {
    const t = generateToken();
    const s = tokenSecret(t, { ttlSeconds: 3600, extraGroups: ['system:bootstrappers:worker'] });
    const { auth } = withSecrets(stored(s));
    expect(auth.verify(formatToken(t))).toEqual({
      username: `system:bootstrap:${t.id}`,
      groups: ['system:bootstrappers', 'system:bootstrappers:worker', 'system:authenticated'],
      via: 'bootstrap',
    });
  });

  it('refuses a wrong secret, an expired token, a deleted one, a wrong type and a token not for authentication', () => {
    const t = generateToken();
    const { auth, refused, byKey } = withSecrets(stored(tokenSecret(t, { ttlSeconds: 3600 })));
    expect(auth.verify(`${t.id}.${'0'.repeat(16)}`)).toBeUndefined();
    expect(refused.pop()).toBe('wrong token secret');

    const expired = stored(tokenSecret(t, { ttlSeconds: 60, now: Date.now() - 120_000 }));
    expect(isExpired(expired)).toBe(true);
    byKey.set(`kube-system/${secretName(t.id)}`, expired);
    expect(auth.verify(formatToken(t))).toBeUndefined();
    expect(refused.pop()).toBe('the token has expired');

    byKey.set(`kube-system/${secretName(t.id)}`, { ...stored(tokenSecret(t)), type: 'Opaque' });
    expect(auth.verify(formatToken(t))).toBeUndefined();

    const noAuth = stored(tokenSecret(t));
    noAuth.data['usage-bootstrap-authentication'] = Buffer.from('false').toString('base64');
    byKey.set(`kube-system/${secretName(t.id)}`, noAuth);
    expect(auth.verify(formatToken(t))).toBeUndefined();

    byKey.delete(`kube-system/${secretName(t.id)}`);
    expect(auth.verify(formatToken(t))).toBeUndefined();
    expect(refused.pop()).toBe('no such token');
    // Not a bootstrap token at all: no opinion, nothing logged.
    expect(auth.verify('some-other-token')).toBeUndefined();
  });

  it('refuses extra groups outside system:bootstrappers:', () => {
    expect(() => tokenSecret(generateToken(), { extraGroups: ['system:masters'] })).toThrow(/extra group/);
    const t = generateToken();
    const s = stored(tokenSecret(t));
    s.data['auth-extra-groups'] = Buffer.from('system:masters').toString('base64');
    const { auth } = withSecrets(s);
    expect(auth.verify(formatToken(t))).toBeUndefined();
  });
});
