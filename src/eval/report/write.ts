/**
 * writeReport: EvalResult objects (+ training logs) -> outDir/report.md and outDir/charts/*.png.
 * Every number in the Markdown comes from the results through formatMetric (format.ts), except
 * the paper's numbers, which sit in rows marked CLAIMED.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LogRow } from '../charts/index.js';
import type { EvalResult } from '../result.js';
import { writeCharts, type ChartLink } from './charts.js';
import { resultLabels } from './columns.js';
import {
  ablationSection, calibrationSection, gradingSection, referableSection, retrievalSection, runSection, subgroupSection,
} from './details.js';
import { auditSection, headlineSection, zeroShotSection } from './sections.js';
import { ladderSection, type LadderSummary } from './ladder.js';

/** Options of {@link writeReport}. */
export interface ReportOptions {
  /** Training logs (rows of metrics.jsonl) by run name, drawn as training curves. */
  trainingLogs?: Record<string, readonly LogRow[]>;
  /** Report title. Default 'retalign evaluation report'. */
  title?: string;
  /** A protocol ladder (`retalign ladder`) to include as a section after the leakage audit, which links to it. */
  ladder?: LadderSummary;
}

function chartList(links: readonly ChartLink[], section: ChartLink['section']): string {
  const own = links.filter((l) => l.section === section);
  return own.length === 0 ? '' : `\n\n${own.map((l) => `![${l.caption}](${l.file})`).join('\n\n')}`;
}

/**
 * Writes report.md and the charts, and returns the Markdown.
 *
 * @example
 *   const md = await writeReport([parseEvalResult(readFileSync('runs/paper/metrics.json', 'utf8')),
 *     parseEvalResult(readFileSync('runs/honest/metrics.json', 'utf8'))], 'report', { trainingLogs: { honest: rows } });
 */
export async function writeReport(results: readonly EvalResult[], outDir: string, opts: ReportOptions = {}): Promise<string> {
  if (results.length === 0) throw new Error(`writeReport: no results given for ${outDir} (expected at least one EvalResult)`);
  const labels = resultLabels(results);
  await mkdir(join(outDir, 'charts'), { recursive: true });
  const links = await writeCharts(results, labels, join(outDir, 'charts'), opts.trainingLogs ? { trainingLogs: opts.trainingLogs } : {});
  const parts = [
    `# ${opts.title ?? 'retalign evaluation report'}`,
    `Results: ${labels.join('; ')}. Numbers are percentages with two decimals, or three-decimal values for kappa, AUC, ECE and ` +
      'temperatures; "n/a" marks an undefined value (e.g. kappa when truth and prediction are one single class, AUC without ' +
      'positives). Every number comes from the metrics.json of a run, except the rows marked CLAIMED.',
    headlineSection(results, labels) + chartList(links, 'retrieval'),
    auditSection(results, labels, opts.ladder ? '#the-protocol-ladder' : null),
    ...(opts.ladder ? [await ladderSection(opts.ladder, join(outDir, 'charts'))] : []),
    retrievalSection(results, labels),
    gradingSection(results, labels) + chartList(links, 'grading'),
    referableSection(results, labels) + chartList(links, 'referable'),
    calibrationSection(results, labels) + chartList(links, 'calibration'),
    subgroupSection(results, labels),
    ablationSection(results, labels),
    zeroShotSection(results, labels),
  ];
  const emb = chartList(links, 'embeddings');
  if (emb) parts.push(`## Embedding maps\n\nA seeded random sample of test images, image embeddings projected to 2-D, coloured by grade.${emb}`);
  const train = chartList(links, 'training');
  if (train) parts.push(`## Training curves${train}`);
  parts.push(runSection(results, labels));
  const md = `${parts.join('\n\n')}\n`;
  await writeFile(join(outDir, 'report.md'), md);
  return md;
}
