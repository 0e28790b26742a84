/**
 * `retalign export onnx --checkpoint C --out model.onnx [--parts image,fusion,heads] [--index I]`: the
 * inference graph as ONNX (opset 17, float32, batch 1) from the model's own recorded forward pass.
 * `retalign export web --checkpoint C --out DIR [--index I]`: a static folder (page + model + WASM
 * runtime) that grades photos in the browser with no retalign server.
 */
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { checkOutputFolder } from '../../data/paths.js';
import { EXPORT_PARTS, exportOnnx, parseParts, sourceOf, type ExportTemperatures } from '../../export/onnx.js';
import { writeWebFolder } from '../../export/web.js';
import { loadRun, type LoadedRun } from '../../run/index.js';
import { temperaturesFromSidecar } from '../../serve/engine.js';
import { readSidecar } from '../../serve/sidecar.js';

/** The index's grade-head temperatures, refused when the index was built from other weights. */
function temperatures(run: LoadedRun, index: string | undefined): ExportTemperatures | undefined {
  if (index === undefined) return undefined;
  const s = readSidecar(index);
  if (s.checkpointId !== run.checkpointId) {
    throw new Error(`--index ${index}: built from checkpoint ${s.checkpointId}, but --checkpoint ${run.checkpointDir} is ${run.checkpointId}`);
  }
  return temperaturesFromSidecar(s);
}

export function register(program: Command): void {
  const ex = program
    .command('export')
    .description('Export a trained model for use outside retalign: ONNX, or a static web folder that grades in the browser.');
  ex.command('onnx')
    .description('Write the inference graph as ONNX (opset 17, float32, batch 1), recorded from the model\'s own forward pass. ' +
      'Inputs: image (1, 3, S, S) normalized; with text: token_ids, attention_mask (1, L) int64; with tabular: tabular (1, F); ' +
      'with more than one modality: present (1, 3) bool. Outputs: icdr/sdrg logits and probabilities (1, 5), the embeddings, ' +
      'the attention rollout. The preprocessing constants, temperatures and the model\'s identity are in the metadata (key "retalign").')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (run/best, run/last) or a run folder')
    .requiredOption('--out <file>', 'the .onnx file to write')
    .option('--parts <list>', `comma-separated, of ${EXPORT_PARTS.join(', ')} (default: image,fusion,heads,attention; image,attention for a model without heads)`)
    .option('--index <dir>', 'index folder of the same checkpoint: its fitted grade-head temperatures go into the metadata')
    .action((o: { checkpoint: string; out: string; parts?: string; index?: string }) => {
      const run = loadRun(o.checkpoint);
      const { bytes, meta } = exportOnnx(sourceOf(run), { parts: o.parts === undefined ? undefined : parseParts(o.parts), temperatures: temperatures(run, o.index) });
      const out = resolve(o.out);
      checkOutputFolder(dirname(out), '--out');
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, bytes);
      console.log(`wrote ${out} (${(bytes.length / 1e6).toFixed(1)} MB): ${meta.model}, checkpoint ${meta.checkpointId}; ` +
        `inputs ${meta.inputs.join(', ')}; outputs ${meta.outputs.join(', ')}`);
    });
  ex.command('web')
    .description('Write a static folder (index.html, web/: the page, model.onnx, model.json, onnxruntime-web\'s WASM files) that ' +
      'grades photos in the browser: no retalign server, nothing uploaded. Serve it from any static file host.')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (run/best, run/last) or a run folder')
    .requiredOption('--out <dir>', 'folder to write')
    .option('--index <dir>', 'index folder of the same checkpoint: the page applies its fitted grade-head temperatures')
    .action((o: { checkpoint: string; out: string; index?: string }) => {
      const out = checkOutputFolder(o.out, '--out');
      const run = loadRun(o.checkpoint);
      if (!run.model.capabilities.gradeHeads) throw new Error(`the model ${run.runConfig.name}/${run.model.name} has no grade heads: the page has nothing to grade with`);
      const files = writeWebFolder(out, exportOnnx(sourceOf(run), { temperatures: temperatures(run, o.index) }));
      console.log(`wrote ${files.length} files to ${out}: open it through any static file server (e.g. python3 -m http.server -d ${o.out})`);
    });
}
