// authentication.k8s.io/v1: TokenReview (node agents check the bearer tokens of requests forwarded to them)
// and SelfSubjectReview (`kubectl auth whoami`).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator, User } from '../auth.ts';

const GV = 'authentication.k8s.io/v1';

// uid and extra as kube returns them (a service account's uid, its token's pod binding).
const userInfo = (u: User) => ({
  username: u.username,
  ...(u.uid ? { uid: u.uid } : {}),
  groups: u.groups,
  ...(u.extra ? { extra: u.extra } : {}),
});

/** The authenticated caller of a request (set by the server's authentication hook). */
export function requestUser(req: FastifyRequest): User | undefined {
  return (req as FastifyRequest & { user?: User }).user;
}

export function registerAuthenticationRoutes(app: FastifyInstance, auth: Authenticator): void {
  app.post(`/apis/${GV}/tokenreviews`, async (req) => {
    const token = (req.body as { spec?: { token?: unknown } } | undefined)?.spec?.token;
    const user = typeof token === 'string' ? await auth.authenticateToken(token) : undefined;
    return {
      apiVersion: GV,
      kind: 'TokenReview',
      metadata: { creationTimestamp: null },
      spec: {},
      status: user ? { authenticated: true, user: userInfo(user) } : { authenticated: false },
    };
  });
  app.post(`/apis/${GV}/selfsubjectreviews`, async (req, reply) => {
    const user = requestUser(req)!;
    reply.code(201);
    return {
      apiVersion: GV,
      kind: 'SelfSubjectReview',
      metadata: { creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      status: { userInfo: userInfo(user) },
    };
  });
}
