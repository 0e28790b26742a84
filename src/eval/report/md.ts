/** Markdown building blocks of the report. */

/**
 * A GitHub-flavoured Markdown table; '|' and newlines inside cells are escaped.
 *
 * @example mdTable(['a', 'b'], [['1', '2']]) // -> '| a | b |\n| --- | --- |\n| 1 | 2 |'
 */
export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  for (const [i, r] of rows.entries()) {
    if (r.length !== headers.length) throw new Error(`mdTable: row ${i} has ${r.length} cells, expected ${headers.length} (headers: ${headers.join(', ')})`);
  }
  const line = (r: readonly string[]): string => `| ${r.map(cell).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Parses the cells of a Markdown table row back into strings (for tests and the report checker).
 *
 * @example parseRow('| a | 99.94% |') // -> ['a', '99.94%']
 */
export function parseRow(line: string): string[] {
  const t = line.trim();
  if (!t.startsWith('|') || !t.endsWith('|')) throw new Error(`parseRow: '${line}' is not a Markdown table row (expected '| ... |')`);
  return t.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}
