// /healthz, /readyz and /metrics on one small HTTP server.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Probe {
  /** ok, or a short reason the probe fails. */
  (): { ok: true } | { ok: false; reason: string };
}

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly healthy: Probe;
  readonly ready: Probe;
  readonly registry: Registry;
}

export const PATHS = { healthz: '/healthz', readyz: '/readyz', metrics: '/metrics' } as const;

export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const probe =
      path === PATHS.healthz ? options.healthy : path === PATHS.readyz ? options.ready : undefined;
    if (probe) {
      const result = probe();
      res
        .writeHead(result.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(result.ok ? 'ok\n' : `${result.reason}\n`);
      return;
    }
    if (path === PATHS.metrics) {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
