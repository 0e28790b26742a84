/**
 * `retalign serve --checkpoint C --index I [--port P] [--host H] [--token-file F] [--max-batch 8]
 * [--batch-window-ms 5]`: the HTTP API and the web page; requests that arrive together are batched. Listens on 127.0.0.1 unless told otherwise; any other address needs a token.
 */
import type { Command } from 'commander';
import { cpus } from 'node:os';
import { setNumThreads } from '../../tensor/index.js';
import { assertBindable, readTokenFile } from '../../serve/auth.js';
import { DEFAULT_BATCHING, DEFAULT_LIMITS, DEFAULT_RATE_LIMIT } from '../../serve/app.js';
import { parseAllowedHosts } from '../../serve/origin.js';
import { startServer } from '../../serve/server.js';
import { defaultServeThreads } from '../../serve/threads.js';

function int(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min || x > max) throw new Error(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return x;
  };
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve the grading and search API (OpenAPI at /openapi.json) and the web page (/). Without --token-file ' +
      'the server only listens on a loopback address; with one, every API call needs "Authorization: Bearer <token>".')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (run/best, run/last) or a run folder')
    .requiredOption('--index <dir>', 'index folder made by `retalign index build` from the same checkpoint')
    .option('--host <host>', 'address to listen on (a non-loopback one requires --token-file)', '127.0.0.1')
    .option('--port <port>', 'TCP port', int('--port', 0, 65535), 8080)
    .option('--token-file <file>', 'file whose first line is the bearer token (at least 16 characters)')
    .option('--allowed-host <host>', 'on a loopback address, also answer this Host name (name or name:port; repeatable or a comma list), ' +
      'e.g. the local end of an ssh tunnel on another port; other names are refused (DNS rebinding)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--data <dir>', 'data folder of the cases\' images (default: the one recorded at index build)')
    .option('--max-upload-mb <n>', 'largest uploaded image file, MiB', int('--max-upload-mb', 1, 1024), DEFAULT_LIMITS.maxUploadBytes / 1024 / 1024)
    .option('--max-queue <n>', 'inference jobs allowed to wait (503 beyond)', int('--max-queue', 0, 100000), 64)
    .option('--concurrency <n>', 'inference jobs at once (libtorch already uses every core for one)', int('--concurrency', 1, 64), 1)
    .option('--max-batch <n>', 'dynamic batching: at most this many requests of a kind (grade, image search, text search) run as one ' +
      'forward pass (1 = each alone, unbatched)', int('--max-batch', 1, 256), DEFAULT_BATCHING.maxBatch)
    .option('--batch-window-ms <ms>', 'dynamic batching: how long the first request of a batch waits for others to join it ' +
      '(0 = no waiting: only requests already queued behind a busy model are batched)', int('--batch-window-ms', 0, 1000), DEFAULT_BATCHING.batchWindowMs)
    .option('--threads <n>', 'libtorch threads (default: every core). Idle threads sleep (OMP_WAIT_POLICY=PASSIVE, OpenBLAS sized to match; ' +
      'set by bin/retalign.js before libtorch loads, unless already set: src/serve/threads.ts)',
      int('--threads', 1, 1024), defaultServeThreads(cpus().length))
    .option('--rate-limit <n>', 'requests per minute per client (0 = off)', int('--rate-limit', 0, 1_000_000), DEFAULT_RATE_LIMIT.perMinute)
    .action(async (o: { checkpoint: string; index: string; host: string; port: number; tokenFile?: string; allowedHost: string[]; data?: string; maxUploadMb: number; maxQueue: number; concurrency: number; maxBatch: number; batchWindowMs: number; threads: number; rateLimit: number }) => {
      const token = o.tokenFile === undefined ? null : readTokenFile(o.tokenFile);
      assertBindable(o.host, token); // before loading anything
      parseAllowedHosts(o.allowedHost);
      setNumThreads(o.threads);
      const s = await startServer({
        checkpoint: o.checkpoint, index: o.index, data: o.data, host: o.host, port: o.port, token, allowedHosts: o.allowedHost,
        maxUploadBytes: o.maxUploadMb * 1024 * 1024, maxQueue: o.maxQueue, concurrency: o.concurrency,
        maxBatch: o.maxBatch, batchWindowMs: o.batchWindowMs,
        rateLimit: o.rateLimit === 0 ? null : { perMinute: o.rateLimit, burst: Math.max(1, Math.min(DEFAULT_RATE_LIMIT.burst, o.rateLimit)) },
        logger: { level: 'info' },
      });
      console.log(`retalign serving ${s.engine.served.name} (${s.engine.checkpointId}), ${s.index.size} indexed items, at ${s.url}/ ` +
        `(API: ${s.url}/openapi.json; ${token === null ? 'no token: loopback only' : 'bearer token required'})`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          s.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
