// A load generator on its own thread (a worker), so its HTTP/TLS work does not share the event loop and
// core of the server it measures. Runs `n` requests `concurrency` at a time with keep-alive (undici), or
// with a new connection per request, and posts the latencies back.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Agent } from 'undici';

export interface LoadSpec {
  /** Request i's URL, method and body come from these templates: `{i}` is replaced by i. */
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  headers: Record<string, string>;
  ca?: string;
  n: number;
  concurrency: number;
  /** keepAlive: a pool of connections; fresh: a new TCP (and TLS) connection per request. */
  connections: 'keepAlive' | 'fresh';
}

export interface LoadResult {
  lat: number[];
  perSec: number;
}

/** Runs the load in a worker thread and resolves with its result. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: spec });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`load worker exited with ${code}`)));
  });
}

async function main(spec: LoadSpec): Promise<LoadResult> {
  const sub = (s: string, i: number) => s.replaceAll('{i}', String(i));
  const dispatcher = new Agent({
    connections: spec.concurrency,
    pipelining: 1,
    connect: spec.ca ? { ca: spec.ca } : {},
  });
  const keepAlive = async (i: number) => {
    const res = await fetch(sub(spec.url, i), {
      method: spec.method,
      headers: spec.headers,
      body: spec.body ? sub(spec.body, i) : undefined,
      dispatcher,
    } as RequestInit);
    const text = await res.text();
    if (!res.ok) throw new Error(`${sub(spec.url, i)}: HTTP ${res.status} ${text}`);
  };
  const fresh = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const url = new URL(sub(spec.url, i));
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        { agent: false, ca: spec.ca, method: spec.method, headers: { ...spec.headers, connection: 'close' } },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end(spec.body ? sub(spec.body, i) : undefined);
    });
  const one = spec.connections === 'fresh' ? fresh : keepAlive;
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: spec.concurrency }, async () => {
      for (let i = next++; i < spec.n; i = next++) {
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const perSec = (spec.n / (performance.now() - t0)) * 1000;
  await dispatcher.close();
  return { lat, perSec };
}

if (!isMainThread) parentPort!.postMessage(await main(workerData as LoadSpec));
