// CertificateSigningRequest admission, as kube-apiserver's strategy for the kind: on create the request
// must be a PKCS#10 request signed by the key it names, and spec.username/uid/groups/extra are replaced by
// who created it (so an approver can trust them); on update the spec never changes (it is what was asked).
import { invalid, type KindInfo } from '../../api/index.ts';
import { ApiError, type CreateHook, type PrepareUpdateHook } from '../../store/objects.ts';
import { CsrError, parseCsr } from './csr.ts';

const isCsr = (kind: KindInfo) =>
  kind.group === 'certificates.k8s.io' && kind.kind === 'CertificateSigningRequest';

export const csrCreateAdmission: CreateHook = async (obj, kind, opts) => {
  if (!isCsr(kind)) return;
  try {
    await parseCsr(Buffer.from(obj.spec.request, 'base64').toString('utf8'));
  } catch (err) {
    if (!(err instanceof CsrError)) throw err;
    throw new ApiError(
      invalid(kind, obj.metadata.name ?? '', [
        {
          field: 'spec.request',
          reason: 'FieldValueInvalid',
          message: `Invalid value: "<request>": ${err.message}`,
        },
      ]),
    );
  }
  // Through the API the caller is known: the request is theirs whatever the body claims. In-process
  // writers (the control plane's own) name the requester themselves.
  if (opts.user) {
    obj.spec.username = opts.user.username;
    obj.spec.groups = [...opts.user.groups];
    if (opts.user.uid) obj.spec.uid = opts.user.uid;
    else delete obj.spec.uid;
    if (opts.user.extra && Object.keys(opts.user.extra).length) obj.spec.extra = opts.user.extra;
    else delete obj.spec.extra;
  }
};

export const csrPrepareUpdate: PrepareUpdateHook = (next, current, kind) => {
  if (!isCsr(kind)) return;
  next.spec = structuredClone(current.spec);
};
