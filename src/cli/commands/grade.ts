/**
 * `retalign grade --checkpoint C IMAGE [--note TEXT] [--field age=61 ...] [--index I]`: ICDR and
 * SDRG probabilities as bars, the referable flag and the calibrated confidence. The temperatures
 * come from an index's serve.json (--index, fitted at index build); without one the raw softmax
 * is shown and labelled uncalibrated.
 */
import type { Command } from 'commander';
import { readImageFile } from '../../data/images/preprocess.js';
import { ServeEngine, UNCALIBRATED, temperaturesFromSidecar, type GradeOutput } from '../../serve/engine.js';
import { fieldArgs, parseFields } from '../../serve/fields.js';
import { ICDR_NAMES, SDRG_NAMES, bar } from '../../serve/format.js';
import { readSidecar } from '../../serve/sidecar.js';
import { imageTypeProblem } from '../../data/images/formats.js';

/** The human-readable report of one grading. */
export function formatGrade(g: GradeOutput, o: { model: string; checkpointId: string; image: string }): string {
  const lines: string[] = [];
  const inputs = ['image', ...(g.used.note ? ['note'] : []), ...(g.used.fields.length > 0 ? [`fields (${g.used.fields.join(', ')})`] : [])];
  lines.push(`model ${o.model} (checkpoint ${o.checkpointId}); ${o.image}; inputs: ${inputs.join(' + ')}`);
  for (const [title, s, names] of [['ICDR', g.icdr, ICDR_NAMES], ['SDRG', g.sdrg, SDRG_NAMES]] as const) {
    lines.push('', title);
    s.probabilities.forEach((p, k) => {
      lines.push(`  ${k} ${(names[k] as string).padEnd(24)} ${bar(p)} ${p.toFixed(3)}${k === s.grade ? '  <-' : ''}`);
    });
  }
  const t = g.temperatures;
  lines.push('',
    `referable DR (ICDR >= 2): ${g.referable.flag ? 'YES' : 'no'}  (P = ${g.referable.probability.toFixed(3)}, threshold 0.5)`,
    `confidence: ICDR ${g.icdr.grade} (${ICDR_NAMES[g.icdr.grade]}) at ${g.icdr.confidence.toFixed(3)}, SDRG ${g.sdrg.grade} at ${g.sdrg.confidence.toFixed(3)}; ` +
      (t.fitted
        ? `calibrated (temperatures ICDR ${t.icdr.toFixed(3)}, SDRG ${t.sdrg.toFixed(3)}, fitted on the validation split)`
        : `UNCALIBRATED (raw softmax: ${t.note ?? 'pass --index DIR to use the temperatures fitted at index build'})`));
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('grade')
    .description('Grade one fundus photo on ICDR and SDRG: probabilities as bars, the referable flag (P(ICDR >= 2) >= 0.5) ' +
      'and the calibrated confidence. A note and patient fields join the image in the fusion when given.')
    .argument('<image>', 'fundus photo (JPEG, PNG, WebP or TIFF)')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (run/best, run/last) or a run folder')
    .option('--note <text>', 'clinical note')
    .option('--field <name=value>', 'patient field (repeatable): age=61, sex=female, diabetes=yes, diabetes_time=12, insulin=no, ...',
      (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--index <dir>', 'index folder whose serve.json holds the calibration temperatures for this checkpoint')
    .option('--json', 'print the result as JSON', false)
    .action(async (image: string, o: { checkpoint: string; note?: string; field: string[]; index?: string; json: boolean }) => {
      const sidecar = o.index === undefined ? null : readSidecar(o.index);
      const engine = ServeEngine.fromCheckpoint(o.checkpoint, sidecar === null ? { ...UNCALIBRATED } : temperaturesFromSidecar(sidecar));
      if (sidecar !== null && sidecar.checkpointId !== engine.checkpointId) {
        throw new Error(`--index ${o.index} was built from checkpoint ${sidecar.checkpointId}, not ${engine.checkpointId}: its temperatures do not apply`);
      }
      const fields = parseFields(fieldArgs(o.field), engine.acceptedFields);
      const bytes = await readImageFile(image, engine.served.pre.image.maxInputPixels);
      const refused = imageTypeProblem(bytes); // the same rule as data check, training and the server's pipeline
      if (refused !== null) throw new Error(`${image}: the file holds ${refused}`);
      const prepared = await engine.prepareImage(bytes, image);
      const g = engine.grade({ image: prepared, note: o.note, fields }, { attention: false });
      if (o.json) {
        const { imageEmb: _e, attention: _a, ...rest } = g;
        console.log(JSON.stringify(rest, null, 1));
      } else {
        console.log(formatGrade(g, { model: engine.served.name, checkpointId: engine.checkpointId, image }));
      }
    });
}
