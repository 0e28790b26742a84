/**
 * `retalign train --nproc-per-node N [--nnodes M --node-rank R --master-addr H --master-port P]`:
 * starts this machine's N ranks of a data-parallel job as child processes of the same command, with
 * the variables torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
 * MASTER_PORT), and on CPU the machine's cores split between them (OMP_NUM_THREADS). As torchrun:
 * when one rank fails, the others are stopped and the launcher exits non-zero naming the rank.
 *
 * @example
 *   const code = await launchLocalRanks(['train', '--config', 'c.json'], { nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500 });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

/** bin/retalign.js of this package (dist/src/cli/launch.js -> ../../../bin), also when main() runs inside a test. */
const BIN = fileURLToPath(new URL('../../../bin/retalign.js', import.meta.url));

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** Split the cores between the local ranks (CPU training). */
  cpu: boolean;
}

/** The launcher's own flags, removed from the argv the ranks get (they read the environment instead). */
const LAUNCH_FLAGS = ['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port'];

/** argv without the launcher flags (and their values, as `--flag v` or `--flag=v`). */
export function rankArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (LAUNCH_FLAGS.includes(a)) i++;
    else if (!LAUNCH_FLAGS.some((f) => a.startsWith(`${f}=`))) out.push(a);
  }
  return out;
}

/** Runs the local ranks of the job to the end; resolves to the exit code the launcher should return. */
export function launchLocalRanks(argv: readonly string[], o: LaunchOptions): Promise<number> {
  const { nprocPerNode: n, nnodes, nodeRank } = o;
  for (const [name, v, min] of [['--nproc-per-node', n, 1], ['--nnodes', nnodes, 1], ['--node-rank', nodeRank, 0], ['--master-port', o.masterPort, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new Error(`train: ${name} ${v} is not an integer >= ${min}`);
  }
  if (nodeRank >= nnodes) throw new Error(`train: --node-rank ${nodeRank} is not in [0, --nnodes ${nnodes})`);
  const world = n * nnodes;
  const threads = Math.max(1, Math.floor(cpus().length / n));
  const args = rankArgv(argv);
  const children: ChildProcess[] = [];
  return new Promise((resolve) => {
    let left = n;
    let failed: string | null = null;
    for (let i = 0; i < n; i++) {
      const rank = nodeRank * n + i;
      const p = spawn(process.execPath, [BIN, ...args], {
        stdio: 'inherit',
        env: {
          ...process.env, WORLD_SIZE: String(world), RANK: String(rank), LOCAL_RANK: String(i), LOCAL_WORLD_SIZE: String(n),
          MASTER_ADDR: o.masterAddr, MASTER_PORT: String(o.masterPort),
          ...(o.cpu && process.env['OMP_NUM_THREADS'] === undefined ? { OMP_NUM_THREADS: String(threads) } : {}),
        },
      });
      children.push(p);
      p.on('exit', (code, signal) => {
        left--;
        if ((code !== 0 || signal !== null) && failed === null) {
          failed = `rank ${rank} (local rank ${i}, pid ${p.pid}) exited with ${signal !== null ? `signal ${signal}` : `code ${code}`}`;
          process.stderr.write(`train: ${failed}; stopping the other local ranks\n`);
          for (const c of children) if (c !== p && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
        }
        if (left === 0) resolve(failed === null ? 0 : 1);
      });
    }
  });
}
