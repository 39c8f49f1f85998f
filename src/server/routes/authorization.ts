// authorization.k8s.io/v1 reviews: questions to the authorizer, answered and not stored (create only).
//   SelfSubjectAccessReview   may I do this?                     (`kubectl auth can-i`)
//   SubjectAccessReview       may user U (groups G) do this?     (node agents, webhooks)
//   LocalSubjectAccessReview  the same, within one namespace     (namespace admins)
//   SelfSubjectRulesReview    what may I do in namespace N?      (`kubectl auth can-i --list`)
// Creating each is itself authorized by the request path (system:basic-user grants the Self ones).
import type { FastifyInstance } from 'fastify';
import { invalid } from '../../api/index.ts';
import type { Cause } from '../../api/causes.ts';
import type { Authorizer, RequestAttributes } from '../../auth/authorizer.ts';
import type { UserInfo } from '../../auth/identities.ts';
import type { RBACAuthorizer } from '../../auth/rbac/authorizer.ts';
import { ApiError } from '../../store/objects.ts';

const GROUP = 'authorization.k8s.io';
const GV = `${GROUP}/v1`;

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}
interface NonResourceAttributes {
  path?: string;
  verb?: string;
}
interface ReviewSpec {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: NonResourceAttributes;
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** The attributes a review asks about; causes when the spec does not say exactly one thing. */
export function reviewAttributes(
  kind: string,
  spec: ReviewSpec | undefined,
  user: UserInfo,
): RequestAttributes {
  const fail = (causes: Cause[]) => new ApiError(invalid(kind, '', causes));
  const ra = spec?.resourceAttributes;
  const nra = spec?.nonResourceAttributes;
  if ((ra ? 1 : 0) + (nra ? 1 : 0) !== 1)
    throw fail([
      {
        field: 'spec.resourceAttributes',
        reason: 'FieldValueInvalid',
        message:
          'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
      },
    ]);
  if (nra) return { user, verb: nra.verb ?? '', resourceRequest: false, path: nra.path ?? '' };
  return {
    user,
    verb: ra!.verb ?? '',
    resourceRequest: true,
    apiGroup: ra!.group ?? '',
    apiVersion: ra!.version,
    resource: ra!.resource ?? '',
    subresource: ra!.subresource || undefined,
    namespace: ra!.namespace || undefined,
    name: ra!.name || undefined,
    path: '',
  };
}

async function answer(authorizer: Authorizer, attrs: RequestAttributes) {
  const r = await authorizer.authorize(attrs);
  return {
    allowed: r.decision === 'allow',
    ...(r.decision === 'deny' && r.reason ? { denied: true } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}

function review(kind: string, body: any, status: unknown) {
  return {
    apiVersion: GV,
    kind,
    metadata: { ...(body?.metadata ?? {}), creationTimestamp: null },
    spec: body?.spec ?? {},
    status,
  };
}

export function registerAuthorizationRoutes(
  app: FastifyInstance,
  authorizer: Authorizer,
  rbac: RBACAuthorizer | undefined,
): void {
  app.post(`/apis/${GV}/selfsubjectaccessreviews`, async (req, reply) => {
    const body = req.body as any;
    const attrs = reviewAttributes('SelfSubjectAccessReview', body?.spec, req.user!);
    reply.code(201);
    return review('SelfSubjectAccessReview', body, await answer(authorizer, attrs));
  });

  const subjectReview = (kind: string, namespace?: string) => async (req: any, reply: any) => {
    const body = req.body as any;
    const spec: ReviewSpec = body?.spec ?? {};
    if (!spec.user && !(spec.groups ?? []).length)
      throw new ApiError(
        invalid(kind, '', [
          {
            field: 'spec.user',
            reason: 'FieldValueInvalid',
            message: 'Invalid value: "": at least one of user or group must be specified',
          },
        ]),
      );
    const subject: UserInfo = {
      username: spec.user ?? '',
      groups: spec.groups ?? [],
      via: 'token',
      ...(spec.uid ? { uid: spec.uid } : {}),
      ...(spec.extra ? { extra: spec.extra } : {}),
    };
    const attrs = reviewAttributes(kind, spec, subject);
    if (namespace !== undefined) {
      const ns = (req.params as { namespace: string }).namespace;
      if (!attrs.resourceRequest || (attrs.namespace && attrs.namespace !== ns))
        throw new ApiError(
          invalid(kind, '', [
            {
              field: 'spec.resourceAttributes.namespace',
              reason: 'FieldValueInvalid',
              message: `Invalid value: ${JSON.stringify(attrs.namespace ?? '')}: must be resourceAttributes in the namespace ${JSON.stringify(ns)}`,
            },
          ]),
        );
      attrs.namespace = ns;
    }
    reply.code(201);
    return review(kind, body, await answer(authorizer, attrs));
  };
  app.post(`/apis/${GV}/subjectaccessreviews`, subjectReview('SubjectAccessReview'));
  app.post(
    `/apis/${GV}/namespaces/:namespace/localsubjectaccessreviews`,
    subjectReview('LocalSubjectAccessReview', ''),
  );

  app.post(`/apis/${GV}/selfsubjectrulesreviews`, async (req, reply) => {
    const body = req.body as any;
    const namespace: string | undefined = body?.spec?.namespace || undefined;
    const resolved = rbac?.rulesFor(req.user!, namespace) ?? { rules: [], errors: ['no RBAC authorizer'] };
    const resourceRules = [];
    const nonResourceRules = [];
    for (const r of resolved.rules) {
      if (r.nonResourceURLs?.length)
        nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
      else
        resourceRules.push({
          verbs: r.verbs,
          apiGroups: r.apiGroups ?? [],
          resources: r.resources ?? [],
          ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}),
        });
    }
    // Authorizers before RBAC (the superuser one, the Node authorizer) are not rule-based: a member of
    // system:masters sees its cluster-admin binding's rules, and the answer is complete as kube's is.
    reply.code(201);
    return review('SelfSubjectRulesReview', body, {
      resourceRules,
      nonResourceRules,
      incomplete: resolved.errors.length > 0,
      ...(resolved.errors.length ? { evaluationError: resolved.errors.join(', ') } : {}),
    });
  });
}
