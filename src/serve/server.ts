/**
 * Starting the service from paths: checkpoint + index folder (+ its serve.json) -> a listening
 * server. Used by `retalign serve` and by the browser test.
 *
 * @example
 *   const s = await startServer({ checkpoint: 'runs/smoke/best', index: 'runs/smoke/index', port: 8080 });
 *   console.log(s.url); await s.close();
 */
import { resolve } from 'node:path';
import { EmbeddingIndex } from '../index/index.js';
import { buildApp, type ServeApp, type ServeOptions } from './app.js';
import { ServeEngine, temperaturesFromSidecar } from './engine.js';
import { readSidecar } from './sidecar.js';

export interface StartOptions extends Omit<ServeOptions, 'engine' | 'index' | 'dataRoot' | 'host' | 'token' | 'caseCount' | 'embeddingSpread'> {
  checkpoint: string;
  index: string;
  /** Override the sidecar's data folder (the dataset moved). */
  data?: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  token?: string | null;
}

export interface RunningServer extends ServeApp {
  url: string;
  engine: ServeEngine;
  index: EmbeddingIndex;
  /** Stops listening, then closes the index. */
  close(): Promise<void>;
}

export async function startServer(o: StartOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const sidecar = readSidecar(o.index);
  const engine = ServeEngine.fromCheckpoint(o.checkpoint, temperaturesFromSidecar(sidecar));
  if (sidecar.checkpointId !== engine.checkpointId) {
    throw new Error(`${o.index} was built from checkpoint ${sidecar.checkpointId} (${sidecar.checkpointDir}), but ${o.checkpoint} is ${engine.checkpointId}: ` +
      'rebuild the index with `retalign index build`, or serve the checkpoint it was built from');
  }
  const index = EmbeddingIndex.open(o.index, { expectCheckpointId: engine.checkpointId, readOnly: true }); // the server never writes it
  try {
    const built = await buildApp({ ...o, engine, index, caseCount: sidecar.counts?.images ?? null, embeddingSpread: sidecar.meanPairwiseCosine ?? null, dataRoot: o.data === undefined ? sidecar.dataPath : resolve(o.data), host, token: o.token ?? null });
    await built.app.listen({ host, port: o.port ?? 8080 });
    const addr = built.app.server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : o.port ?? 8080;
    const shown = host.includes(':') ? `[${host}]` : host;
    return {
      ...built, engine, index, url: `http://${shown}:${port}`,
      close: async () => {
        await built.app.close();
        index.close();
      },
    };
  } catch (e) {
    index.close();
    throw e;
  }
}
