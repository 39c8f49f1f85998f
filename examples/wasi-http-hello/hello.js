// A wasi:http/proxy handler in JavaScript: componentize-js compiles it with StarlingMonkey into a
// WASI 0.2 component that exports wasi:http/incoming-handler (what `wasmtime serve` and Spin run).
// It imports only WASI interfaces, so any wasi:http host runs it unchanged.
addEventListener('fetch', (event) =>
  event.respondWith(
    (async () => {
      const url = new URL(event.request.url);
      if (url.pathname === '/env')
        return new Response(`GREETING=${globalThis.process?.env?.GREETING ?? ''}\n`);
      const body = event.request.method === 'POST' ? await event.request.text() : '';
      return new Response(`hello from a wasi:http component${body ? `: ${body}` : ''}\n`, {
        headers: { 'content-type': 'text/plain; charset=utf-8', 'x-served-by': 'wasi-http-hello' },
      });
    })(),
  ),
);
