// The audit log as the control plane starts it: the policy file (or Metadata for everything), the
// rotating JSON-lines file, and the request-path extension; close() on shutdown writes what is buffered.
import type { ServerExtension } from '../app.ts';
import type { Authenticator } from '../auth.ts';
import { auditExtension } from './extension.ts';
import { AuditPolicy, loadAuditPolicy } from './policy.ts';
import { AuditLogWriter } from './writer.ts';

export { addAuditAnnotation } from './extension.ts';

export interface AuditLogConfig {
  /** --audit-log-path: a file, or `-` for stdout. */
  path: string;
  /** --audit-policy-file (default: every request at Metadata). */
  policyFile?: string;
  /** --audit-log-maxsize (MB), --audit-log-maxbackup, --audit-log-maxage (days). */
  maxSizeMB?: number;
  maxBackups?: number;
  maxAgeDays?: number;
}

/** Strata's rotation defaults (kube-apiserver's are 0: never rotate); docs/data-protection.md. */
export const AUDIT_DEFAULTS = { maxSizeMB: 100, maxBackups: 10, maxAgeDays: 30 };

export interface Audit {
  extension: ServerExtension;
  /** The policy, for events of in-process callers (auth/components). */
  policy: AuditPolicy;
  writer: AuditLogWriter;
  close(): void;
}

/** Reads the policy (a bad file refuses to start) and opens the log. */
export function startAudit(c: AuditLogConfig, auth: Authenticator): Audit {
  const policy = c.policyFile ? loadAuditPolicy(c.policyFile) : AuditPolicy.metadataForAll();
  const writer = new AuditLogWriter({
    path: c.path,
    maxSizeMB: c.maxSizeMB ?? AUDIT_DEFAULTS.maxSizeMB,
    maxBackups: c.maxBackups ?? AUDIT_DEFAULTS.maxBackups,
    maxAgeDays: c.maxAgeDays ?? AUDIT_DEFAULTS.maxAgeDays,
  });
  return {
    extension: auditExtension({ policy, sink: writer, auth }),
    policy,
    writer,
    close: () => writer.close(),
  };
}
