// Container lifecycle hooks as the kubelet runs them: postStart right after the container starts (a
// failure kills the container: FailedPostStartHook), preStop before the stop signal, within the pod's
// grace period (a hook still running when the grace period ends is abandoned and the container killed).
// exec needs a tier with exec; httpGet and tcpSocket connect where the container's probes do; sleep waits.
import { runProbe, type ProbeOutcome, type ProbeTarget } from './probes.ts';

export interface HookHandler {
  exec?: { command: string[] };
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: 'HTTP' | 'HTTPS';
    httpHeaders?: Array<{ name: string; value: string }>;
  };
  tcpSocket?: { port: number | string; host?: string };
  sleep?: { seconds: number };
}

/** Runs a hook once, for at most `timeoutMs`; resolves with its outcome (never rejects). */
export async function runHook(
  handler: HookHandler,
  target: ProbeTarget,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  if (handler.sleep) {
    const ms = Math.min(handler.sleep.seconds * 1000, timeoutMs);
    await new Promise((r) => setTimeout(r, ms));
    return { ok: true, message: '' };
  }
  const timeoutSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return runProbe({ ...handler, timeoutSeconds }, target).catch((err: Error) => ({
    ok: false,
    message: err.message,
  }));
}
