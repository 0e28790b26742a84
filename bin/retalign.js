#!/usr/bin/env node
// retalign command-line entry (compiled code lives in dist/; run `make build` first).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number' && process.exitCode === undefined) process.exitCode = code; },
  (err) => {
    console.error(`retalign: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
