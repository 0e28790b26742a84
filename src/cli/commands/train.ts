/**
 * `retalign train --config <run.json> [--set k=v ...] [--out DIR] [--resume]`, on one process, or
 * data-parallel: `--nproc-per-node N` (this machine's ranks, started here), with `--nnodes M
 * --node-rank R --master-addr H --master-port P` for several machines, or under torchrun/srun with
 * WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT already set (see README "Distributed training").
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadRunConfig } from '../../run/index.js';
import { runTraining } from '../../job/train-run.js';
import { launchLocalRanks } from '../launch.js';

const int = (v: string): number => Number(v);

export function register(program: Command): void {
  program
    .command('train')
    .description('Train a model from a run config (configs/runs/*.json): prepares the data (or synthesizes the twin), ' +
      'trains with atomic checkpoints (<out>/last, <out>/best) and logs <out>/metrics.jsonl.')
    .requiredOption('-c, --config <file>', 'run config JSON, e.g. configs/runs/demo-kemt.json')
    .option('-s, --set <key=value>', 'override a config key (repeatable), e.g. --set train.steps=50 --set protocol=paper',
      (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-o, --out <dir>', 'run folder (default: runs/<name>-<protocol>)')
    .option('--resume', 'continue from <out>/last to the same result as an uninterrupted run', false)
    .option('--no-progress', 'plain log lines instead of a progress bar')
    .option('--allow-outside', 'read images outside the dataset folder (same as --set data.allowOutside=true)', false)
    .option('--nproc-per-node <n>', 'data-parallel: start n ranks on this machine (one per GPU on CUDA; the cores split between them on CPU); ' +
      'train.batchSize is per rank', int)
    .option('--nnodes <m>', 'machines in the job (with --nproc-per-node)', int, 1)
    .option('--node-rank <r>', 'this machine\'s index in [0, nnodes)', int, 0)
    .option('--master-addr <host>', 'address of the node-rank-0 machine (rank 0 hosts the rendezvous store)', '127.0.0.1')
    .option('--master-port <port>', 'rendezvous port on the master', int, 29500)
    .option('--dist-timeout <seconds>', 'a collective that waits longer fails and names the ranks that stopped answering', int, 60)
    .action(async (opts: { config: string; set: string[]; out?: string; resume: boolean; progress: boolean; allowOutside: boolean;
      nprocPerNode?: number; nnodes: number; nodeRank: number; masterAddr: string; masterPort: number; distTimeout: number }, cmd: Command) => {
      const cfg = loadRunConfig(opts.config, [...opts.set, ...(opts.allowOutside ? ['data.allowOutside=true'] : [])]);
      if (!(opts.distTimeout > 0)) throw new Error(`train: --dist-timeout ${opts.distTimeout} is not a number of seconds > 0`);
      if (opts.nprocPerNode === undefined && (opts.nnodes !== 1 || opts.nodeRank !== 0)) {
        throw new Error('train: --nnodes and --node-rank need --nproc-per-node (the ranks to start on this machine)');
      }
      if (opts.nprocPerNode !== undefined && process.env['WORLD_SIZE'] === undefined) {
        // The launcher: the ranks run this same command line without the launcher flags.
        const raw = (cmd.parent as unknown as { rawArgs?: unknown } | null)?.rawArgs;
        if (!Array.isArray(raw)) throw new Error('train: cannot read the command line to start the ranks with');
        process.exitCode = await launchLocalRanks(raw as string[], { nprocPerNode: opts.nprocPerNode, nnodes: opts.nnodes, nodeRank: opts.nodeRank,
          masterAddr: opts.masterAddr, masterPort: opts.masterPort, cpu: cfg.train.device === 'cpu' });
        return;
      }
      if (process.env['RANK'] === undefined || process.env['RANK'] === '0') console.log(`resolved config:\n${JSON.stringify(cfg, null, 1)}`);
      const out = opts.out ?? join('runs', `${cfg.name}-${cfg.protocol}`);
      await runTraining(cfg, { out, resume: opts.resume, progress: opts.progress ? 'auto' : 'off', distTimeoutMs: opts.distTimeout * 1000 });
    });
}
