/** `retalign index build --checkpoint C [--data D] --out I`: embed a dataset into a searchable index. */
import type { Command } from 'commander';
import { checkOutputFolder } from '../../data/paths.js';
import { buildIndex } from '../../serve/build-index.js';

export function register(program: Command): void {
  const index = program
    .command('index')
    .description('Embedding index of a dataset\'s images and notes, for search and the web service.');
  index
    .command('build')
    .description('Embed every image and note of a dataset with a checkpoint and store them with their metadata (imageId, ' +
      'patientId, image path relative to the data folder, note, grades) in a new index folder. Also fits the grade-head ' +
      'temperatures on the training run\'s validation split (calibrated confidence) and writes <out>/serve.json.')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (run/best, run/last) or a run folder')
    .option('--data <dir>', 'dataset to index (default: the one the model was trained on)')
    .requiredOption('--out <dir>', 'index folder to create (must not hold an index yet)')
    .option('--batch-size <n>', 'exams per forward pass', (v) => Number(v), 64)
    .action(async (o: { checkpoint: string; data?: string; out: string; batchSize: number }) => {
      if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`--batch-size must be a positive integer, got ${o.batchSize}`);
      checkOutputFolder(o.out, 'index build: --out');
      await buildIndex({ checkpoint: o.checkpoint, data: o.data, out: o.out, batchSize: o.batchSize });
    });
}
