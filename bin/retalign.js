#!/usr/bin/env node
// retalign command-line entry (compiled code lives in dist/; run `make build` first).
import { cpus } from 'node:os';
import { serveThreadEnv } from '../dist/src/serve/threads.js';

// `retalign serve`: idle OpenMP threads sleep instead of spinning. libgomp and OpenBLAS read these
// once, when libtorch loads, so they are set before the command line (and libtorch) is imported.
Object.assign(process.env, serveThreadEnv(process.argv.slice(2), cpus().length, process.env));
const { main } = await import('../dist/src/cli/main.js');

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number' && process.exitCode === undefined) process.exitCode = code; },
  (err) => {
    console.error(`retalign: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
