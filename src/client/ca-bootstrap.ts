// Trust on first use, pinned: a joining agent knows the server's URL and the CA's hash (as `kubeadm join
// --discovery-token-ca-cert-hash` does), not the CA itself. It opens one TLS connection without verifying,
// takes the chain the server presents (the server sends its CA after its certificate), and keeps the CA only
// if its public key has the expected hash. Every later connection verifies against that CA.
import { connect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { caCertHash } from '../lib/ca-hash.ts';

function toPem(raw: Buffer): string {
  return new X509Certificate(raw).toString();
}

/** The chain the server at `serverUrl` presents, leaf first. */
export function presentedChain(serverUrl: string, timeoutMs = 10_000): Promise<string[]> {
  const url = new URL(serverUrl);
  if (url.protocol !== 'https:') return Promise.reject(new Error(`${serverUrl}: the server is not HTTPS`));
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      rejectUnauthorized: false,
      servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname,
    });
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no TLS answer from ${serverUrl} in ${timeoutMs} ms`)),
    );
    socket.once('secureConnect', () => {
      const chain: string[] = [];
      let c: PeerCertificate | DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (c && c.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        chain.push(toPem(c.raw));
        c = (c as DetailedPeerCertificate).issuerCertificate;
      }
      socket.end();
      resolve(chain);
    });
    socket.once('error', reject);
  });
}

/** The CA from the server's chain whose key matches `expectedHash`, or a clear error. */
export async function fetchPinnedCA(serverUrl: string, expectedHash: string): Promise<string> {
  const chain = await presentedChain(serverUrl);
  for (const pem of chain) if (caCertHash(pem) === expectedHash) return pem;
  const seen = chain.map(caCertHash).join(', ') || 'none';
  throw new Error(
    `the server at ${serverUrl} presented no CA with hash ${expectedHash} (it presented ${seen}); ` +
      'check --ca-cert-hash against DATA/tls/ca.hash on the server',
  );
}
