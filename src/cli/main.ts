/**
 * The retalign command line: wiring only. Each command lives in src/cli/commands/<name>.ts and
 * registers itself on the program.
 *
 * @example
 *   await main(['synth', '--out', '/tmp/s', '--patients', '40']);
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fsErrorInWords } from '../data/paths.js';

type Register = (program: Command) => void;

function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      dir = dirname(dir);
    }
  }
  return 'unknown';
}

/** Command modules, loaded lazily so that `--help` and data commands never load libtorch. */
const COMMANDS: string[] = ['data', 'synth', 'train', 'eval', 'report', 'demo', 'ladder', 'index', 'search', 'grade', 'serve', 'export'];

/** Builds the program with every command registered. */
export async function buildProgram(): Promise<Command> {
  const program = new Command();
  program
    .name('retalign')
    .description('Multimodal DR screening research: fundus image + clinical note + patient record in one embedding space, ' +
      'ICDR/SDRG grading, text<->image retrieval, honest evaluation, a search-and-grade service.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const name of COMMANDS) {
    const mod = (await import(`./commands/${name}.js`)) as { register: Register };
    mod.register(program);
  }
  return program;
}

/** Runs the CLI with the given arguments (without `node` and the script). Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit with code 0 through exitOverride.
      return e.exitCode;
    }
    // A raw ENOTDIR/EACCES/... that no check caught is still said in words, with its path.
    throw fsErrorInWords(e);
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
