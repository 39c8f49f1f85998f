// The service-account token surface of the API, as kube-apiserver serves it:
//   - POST /api/v1/namespaces/NS/serviceaccounts/NAME/token — authentication.k8s.io/v1 TokenRequest
//     (`kubectl create token`, the node agent's projected tokens): a token for the account, for the
//     audiences asked (default: the API's), for expirationSeconds (≥ 600, default 3600), optionally bound
//     to a Pod or a Secret of the namespace (the token dies with it);
//   - GET /.well-known/openid-configuration and /openid/v1/jwks — the issuer's OIDC discovery document
//     and public keys, so other systems (Vault, cloud IAM, a service mesh) verify the tokens offline.
//     Public, like kube's system:service-account-issuer-discovery made readable to all (app.ts PUBLIC_PATHS).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Reason, invalid, issuesToCauses, kindFor, msg, notFound } from '../../api/index.ts';
import type { ObjectRef, TokenBinding } from '../../auth/serviceaccount/claims.ts';
import { SIGNING_ALGORITHM } from '../../auth/serviceaccount/signing-key.ts';
import type { ServiceAccountTokens } from '../../auth/serviceaccount/tokens.ts';
import { ApiError, type ObjectStore } from '../../store/objects.ts';
import type { ServerExtension } from '../app.ts';

const SERVICE_ACCOUNT = kindFor('v1', 'ServiceAccount')!;
const POD = kindFor('v1', 'Pod')!;
const SECRET = kindFor('v1', 'Secret')!;
const NODE = kindFor('v1', 'Node')!;

export const TOKEN_REQUEST_GV = 'authentication.k8s.io/v1';
/** kube's bounds: at least 10 minutes, at most 2^32 seconds; an hour when unset. */
export const MIN_EXPIRATION_SECONDS = 600;
export const MAX_EXPIRATION_SECONDS = 2 ** 32;
export const DEFAULT_EXPIRATION_SECONDS = 3600;
export const BINDABLE_KINDS = ['Pod', 'Secret'] as const;

export const DISCOVERY_PATH = '/.well-known/openid-configuration';
export const JWKS_PATH = '/openid/v1/jwks';

const TokenRequest = z.object({
  apiVersion: z.literal(TOKEN_REQUEST_GV).optional(),
  kind: z.literal('TokenRequest').optional(),
  metadata: z.object({ name: z.string().optional(), namespace: z.string().optional() }).loose().optional(),
  spec: z
    .strictObject({
      audiences: z.array(z.string().min(1)).optional().nullable(),
      expirationSeconds: z.int().optional().nullable(),
      boundObjectRef: z
        .strictObject({
          kind: z.enum(BINDABLE_KINDS),
          apiVersion: z.literal('v1').optional(),
          name: z.string().min(1),
          uid: z.string().optional(),
        })
        .optional()
        .nullable(),
    })
    .optional(),
  status: z.unknown().optional(),
});

/** Registers the TokenRequest and discovery routes (a ServerExtension: control-plane.ts, testing.ts). */
export function serviceAccountTokenRoutes(
  objects: ObjectStore,
  tokens: ServiceAccountTokens,
): ServerExtension {
  return (app: FastifyInstance) => {
    app.post<{ Params: { namespace: string; name: string } }>(
      '/api/v1/namespaces/:namespace/serviceaccounts/:name/token',
      async (req, reply) => {
        const { namespace, name } = req.params;
        const created = await createToken(objects, tokens, namespace, name, req.body);
        reply.code(201);
        return created;
      },
    );
    app.get(DISCOVERY_PATH, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=3600');
      return openIDConfiguration(tokens.issuer);
    });
    app.get(JWKS_PATH, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=3600').type('application/jwk-set+json');
      return JSON.stringify({ keys: [tokens.key.jwk] });
    });
  };
}

/** The OIDC discovery document (kube's: the fields a relying party needs, nothing of a full OP). */
export function openIDConfiguration(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer.replace(/\/+$/, '')}${JWKS_PATH}`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALGORITHM],
  };
}

function refused(name: string, field: string, reason: string, message: string): ApiError {
  return new ApiError(invalid('TokenRequest', name, [{ field, reason, message }]));
}

/** Issues the token a TokenRequest body asks for, after checking the account and the bound object. */
export async function createToken(
  objects: ObjectStore,
  tokens: ServiceAccountTokens,
  namespace: string,
  name: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const parsed = TokenRequest.safeParse(body ?? {});
  if (!parsed.success) throw new ApiError(invalid('TokenRequest', name, issuesToCauses(parsed.error.issues)));
  const spec = parsed.data.spec ?? {};
  const exp = spec.expirationSeconds;
  if (exp !== undefined && exp !== null && (exp < MIN_EXPIRATION_SECONDS || exp > MAX_EXPIRATION_SECONDS))
    throw refused(
      name,
      'spec.expirationSeconds',
      Reason.Invalid,
      msg.invalid(
        exp,
        exp < MIN_EXPIRATION_SECONDS
          ? 'may not specify a duration less than 10 minutes'
          : 'may not specify a duration larger than 2^32 seconds',
      ),
    );
  const sa = await objects.get(SERVICE_ACCOUNT, namespace, name);
  if (!sa) throw new ApiError(notFound(SERVICE_ACCOUNT, name));
  const binding: TokenBinding = { namespace, serviceAccount: { name, uid: sa.metadata.uid } };
  const ref = spec.boundObjectRef ?? undefined;
  if (ref) {
    const target = await objects.get(ref.kind === 'Pod' ? POD : SECRET, namespace, ref.name);
    if (!target)
      throw refused(
        name,
        'spec.boundObjectRef.name',
        Reason.NotFound,
        msg.notFound(ref.name) + ` (${ref.kind})`,
      );
    if (ref.uid && ref.uid !== target.metadata.uid)
      throw refused(
        name,
        'spec.boundObjectRef.uid',
        Reason.Invalid,
        msg.invalid(
          ref.uid,
          `the UID in the bound object reference does not match the UID in record (${target.metadata.uid})`,
        ),
      );
    const bound: ObjectRef = { name: ref.name, uid: target.metadata.uid };
    if (ref.kind === 'Pod') {
      const podAccount = target.spec?.serviceAccountName ?? 'default';
      if (podAccount !== name)
        throw refused(
          name,
          'spec.boundObjectRef.name',
          Reason.Forbidden,
          msg.forbidden(`pod ${ref.name} runs as service account ${podAccount}, not ${name}`),
        );
      binding.pod = bound;
      // The pod's node too, as kube 1.32 records it (the user's authentication.kubernetes.io/node-name).
      const nodeName = target.spec?.nodeName;
      const node = nodeName ? await objects.get(NODE, undefined, nodeName) : undefined;
      if (node) binding.node = { name: nodeName, uid: node.metadata.uid };
    } else {
      binding.secret = bound;
    }
  }
  const audiences = spec.audiences?.length ? spec.audiences : tokens.apiAudiences;
  const expirationSeconds = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  const issued = await tokens.issue(binding, { audiences, expirationSeconds });
  return {
    apiVersion: TOKEN_REQUEST_GV,
    kind: 'TokenRequest',
    metadata: { name, namespace, creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    spec: {
      audiences,
      expirationSeconds,
      boundObjectRef: ref
        ? { kind: ref.kind, apiVersion: 'v1', name: ref.name, uid: (binding.pod ?? binding.secret)!.uid }
        : null,
    },
    status: {
      token: issued.token,
      expirationTimestamp: issued.expirationTimestamp.toISOString().replace(/\.\d+Z$/, 'Z'),
    },
  };
}
