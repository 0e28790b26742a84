/** `retalign search --index I "text query" [-k 10] [--checkpoint C]`: the cases whose images match a text. */
import type { Command } from 'commander';
import { EmbeddingIndex } from '../../index/index.js';
import { ServeEngine } from '../../serve/engine.js';
import { excerpt, table } from '../../serve/format.js';
import { readSidecar } from '../../serve/sidecar.js';

export function register(program: Command): void {
  program
    .command('search')
    .description('Text -> image retrieval over an index: embeds the query with the index\'s model and prints the k ' +
      'closest case images (rank, cosine score, imageId, grades, note excerpt).')
    .argument('<query>', 'free text, e.g. "new vessels at the disc"')
    .requiredOption('--index <dir>', 'index folder made by `retalign index build`')
    .option('-k, --k <n>', 'number of cases', (v) => Number(v), 10)
    .option('--checkpoint <dir>', 'model to embed the query with (default: the one the index was built from)')
    .option('--json', 'print the hits as JSON instead of a table', false)
    .action((query: string, o: { index: string; k: number; checkpoint?: string; json: boolean }) => {
      if (!Number.isInteger(o.k) || o.k < 1 || o.k > 1000) throw new Error(`-k must be an integer in [1, 1000], got ${o.k}`);
      if (query.trim() === '') throw new Error('the query is empty');
      const sidecar = readSidecar(o.index);
      const engine = ServeEngine.fromCheckpoint(o.checkpoint ?? sidecar.checkpointDir);
      const index = EmbeddingIndex.open(o.index, { expectCheckpointId: engine.checkpointId });
      try {
        const hits = index.search(engine.embedText(query), { k: o.k, kind: 'image' });
        if (o.json) {
          console.log(JSON.stringify(hits.map((h, i) => ({ rank: i + 1, score: h.score, id: h.id, ...h.meta })), null, 1));
          return;
        }
        const g = (x: number | null): string => (x === null ? '-' : String(x));
        console.log(table(['rank', 'score', 'imageId', 'ICDR', 'SDRG', 'note'],
          hits.map((h, i) => [String(i + 1), h.score.toFixed(3), h.id, g(h.meta.icdr), g(h.meta.sdrg), excerpt(h.meta.note, 70)])));
        if (hits.length === 0) console.log('(the index is empty)');
      } finally {
        index.close();
      }
    });
}
