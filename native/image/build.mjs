// Builds native/build/retalign_image.node: the image pipeline's fast path (JPEG decode over the
// system libjpeg-turbo, Lanczos crop-resize; see image.cc for why). Optional: without jpeglib.h
// (Debian: libjpeg62-turbo-dev) it says so and exits 0, and the pipeline does everything with sharp.
// Only rebuilds when the source changed. Usage: node native/image/build.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const buildDir = join(here, '..', 'build');
const out = join(buildDir, 'retalign_image.node');
const source = join(here, 'image.cc');

const header = ['/usr/include/jpeglib.h', '/usr/include/x86_64-linux-gnu/jpeglib.h', '/usr/include/aarch64-linux-gnu/jpeglib.h',
  '/usr/local/include/jpeglib.h'].find((p) => existsSync(p));
if (!header) {
  console.log('native/image: jpeglib.h not found (Debian: apt-get install -y libjpeg62-turbo-dev); ' +
    'skipping the image fast path: sharp will do all image work (slower; same results within resampling noise)');
  process.exit(0);
}
const nodeInclude = [join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node']
  .find((d) => existsSync(join(d, 'node_api.h')));
if (!nodeInclude) throw new Error('Node headers (node_api.h) not found next to the node binary or in /usr/include/node');
const napiInclude = resolve(require('node-addon-api').include_dir.replace(/^"|"$/g, ''));
const args = ['-std=c++17', '-O3', '-Wall', '-fPIC', '-shared', '-fexceptions', '-DNAPI_CPP_EXCEPTIONS', '-DNAPI_VERSION=8',
  `-I${nodeInclude}`, `-I${napiInclude}`, source, '-o', out + '.tmp', '-ljpeg'];
const stamp = JSON.stringify({ header, args });
const stampFile = join(buildDir, 'image-stamp.json');
const newest = Math.max(statSync(source).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs);
if (!process.argv.includes('--force') && existsSync(out) && existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp && statSync(out).mtimeMs > newest) {
  console.log('native/image: up to date');
  process.exit(0);
}
mkdirSync(buildDir, { recursive: true });
const t0 = Date.now();
const r = spawnSync(process.env.CXX ?? 'g++', args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('native/image: compile failed (see the compiler output above)');
  process.exit(1);
}
renameSync(out + '.tmp', out);
writeFileSync(stampFile, stamp);
console.log(`native/image: built ${out} against ${header} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
