// Mutation testing: puts small deliberate bugs (mutants) into a private copy of the compiled code,
// one at a time, runs the test files that should notice, and reports each mutant as killed (a test
// failed or timed out) or survived (every test passed: a blind spot, unless the mutant is marked
// equivalent, i.e. it changes no observable behaviour, with the reason).
//
// Usage: npm run build && npm run test:mutants [-- FILTER] [--list] [--keep]
//   FILTER  run only mutants whose file or description contains it (e.g. split, auth, losses)
//   --list  print the mutants and exit
//   --keep  keep the mutated copy's folder (.cache/mutants/) for inspection
//
// The mutants edit the compiled JavaScript (dist/src/*.js, the output of `npm run build`) in a copy
// under .cache/mutants/dist; dist/ and src/ are never written, so an interrupted run leaves nothing
// behind in the tree (the copy is removed on exit, Ctrl-C included). The copy resolves the native
// addon, configs and node_modules by walking up to the repository root, as dist/ does. Each test
// group first passes unmutated (its time x 4, at least 60 s, is its mutants' timeout); a mutant's
// run stops at its first failing test. Mutants run one at a time, only their group's test files.
// Exit status: 0 when every mutant is killed or explained as equivalent, 1 when one survives
// unexplained, 2 when the run could not be judged (stale build, a mutant's text not found, a
// failing baseline).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WORK = join(ROOT, '.cache', 'mutants');
const COPY = join(WORK, 'dist');
// The tests' temporary folders (and the serve tests' trained fixture) go here, not in the shared
// /tmp: a test stopped early leaves nothing behind, and no mutant can touch another run's fixture.
const TMP = join(WORK, 'tmp');

// Test groups: the test files (under test/, without .test.ts) that a mutant's area is checked by.
const group = (name, files) => ({ name, files });
const METRICS = group('metrics', ['eval/metrics-grading', 'eval/metrics-referable', 'eval/metrics-retrieval',
  'eval/metrics-calibration', 'eval/metrics-bootstrap', 'eval/metrics-subgroups']);
const SPLIT = group('split', ['data/split']);
const LOSSES = group('losses', ['losses/contrastive', 'losses/objective', 'losses/reconstruction-classification']);
const GRAD = group('gradcheck', ['tensor/grad']);
const SERVE = group('serve', ['serve/units', 'serve/security', 'serve/api']);

/**
 * The mutants. `file` is the TypeScript source; the edits apply to its compiled .js. Each edit is
 * [find, replace]: a string that must occur exactly once, or a RegExp (without g) that must match
 * exactly once. `equivalent`: why a surviving mutant changes nothing observable.
 */
const MUTANTS = [
  // --- src/eval/metrics
  { file: 'src/eval/metrics/grading.ts', what: 'kappa weights linear instead of quadratic', tests: METRICS,
    edits: [['const w = ((i - j) * (i - j)) / ((k - 1) * (k - 1));', 'const w = Math.abs(i - j) / (k - 1);']] },
  { file: 'src/eval/metrics/grading.ts', what: 'confusion matrix indexed [prediction][truth]', tests: METRICS,
    edits: [['m[truth[i]][pred[i]] += 1;', 'm[pred[i]][truth[i]] += 1;']] },
  { file: 'src/eval/metrics/grading.ts', what: 'macro-F1 averages over classes absent from truth and prediction', tests: METRICS,
    edits: [['if (truthC === 0 && predC === 0)\n            continue;', 'if (truthC === 0 && predC === 0) {\n            count++;\n            continue;\n        }']] },
  { file: 'src/eval/metrics/grading.ts', what: 'majority class: ties go to the highest grade', tests: METRICS,
    edits: [['if (counts[c] > counts[cls])', 'if (counts[c] >= counts[cls])']] },
  { file: 'src/eval/metrics/grading.ts', what: 'argmaxRows: ties go to the last class', tests: METRICS,
    edits: [['if (scores[i * numClasses + c] > scores[i * numClasses + best])', 'if (scores[i * numClasses + c] >= scores[i * numClasses + best])']] },
  { file: 'src/eval/metrics/referable.ts', what: 'referable probability summed from grade 1', tests: METRICS,
    edits: [['for (let c = fromGrade; c < numClasses; c++)', 'for (let c = fromGrade - 1; c < numClasses; c++)']] },
  { file: 'src/eval/metrics/referable.ts', what: 'threshold strict: score > threshold is positive', tests: METRICS,
    edits: [['const called = scores[i] >= threshold;', 'const called = scores[i] > threshold;']] },
  { file: 'src/eval/metrics/referable.ts', what: 'AUC ties counted as wins (top rank of the tie)', tests: METRICS,
    edits: [['const avgRank = (i + j) / 2 + 1;', 'const avgRank = j + 1;']] },
  { file: 'src/eval/metrics/referable.ts', what: 'referable labels from grade 3 (g > from)', tests: METRICS,
    edits: [['const labels = Array.from(truthGrades, (g) => g >= from);', 'const labels = Array.from(truthGrades, (g) => g > from);']] },
  { file: 'src/eval/metrics/referable.ts', what: 'ROC curve: tied scores as separate points (no diagonal step)', tests: METRICS,
    edits: [['while (i < n && scores[order[i]] === s) {', 'if (i < n) {']] },
  { file: 'src/eval/metrics/retrieval.ts', what: "duplicate-aware recall: duplicates' hits dropped (strict only)", tests: METRICS,
    edits: [['rankOf(row, (j) => j === t || gg[j] === qg, qi)', 'rankOf(row, (j) => j === t, qi)']] },
  { file: 'src/eval/metrics/retrieval.ts', what: 'ties ranked optimistically (wrong items at an equal score not ahead)', tests: METRICS,
    edits: [['if (!isCorrect(j) && row[j] >= best)', 'if (!isCorrect(j) && row[j] > best)']] },
  { file: 'src/eval/metrics/retrieval.ts', what: 'Recall@K counts ranks < K', tests: METRICS,
    edits: [['if (ranks[i] <= k)', 'if (ranks[i] < k)']] },
  { file: 'src/eval/metrics/retrieval.ts', what: 'median of an even count: upper middle rank', tests: METRICS,
    edits: [['(sorted[mid - 1] + sorted[mid]) / 2', 'sorted[mid]']] },
  { file: 'src/eval/metrics/calibration.ts', what: 'ECE: bins averaged unweighted by their counts', tests: METRICS,
    edits: [['ece += (k / n) * Math.abs(acc - meanConfidence);', 'ece += Math.abs(acc - meanConfidence) / nBins;']] },
  { file: 'src/eval/metrics/calibration.ts', what: 'bin edges: a confidence on an edge goes to the upper bin', tests: METRICS,
    edits: [['Math.ceil(c * nBins) - 1', 'Math.floor(c * nBins)']] },
  { file: 'src/eval/metrics/calibration.ts', what: 'temperature search keeps the wrong side', tests: METRICS,
    edits: [['if (f1 <= f2) {', 'if (f1 >= f2) {']] },
  { file: 'src/eval/metrics/bootstrap.ts', what: 'bootstrap resamples images, not patients', tests: METRICS,
    edits: [['const id = patientIds[i];', 'const id = i;']] },
  { file: 'src/eval/metrics/bootstrap.ts', what: 'bootstrap keeps NaN resamples (e.g. AUC without positives)', tests: METRICS,
    edits: [['if (Number.isFinite(v))\n            stats.push(v);', 'stats.push(v);']] },
  { file: 'src/eval/metrics/bootstrap.ts', what: 'quantile position n q instead of (n - 1) q', tests: METRICS,
    edits: [['const h = (n - 1) * q;', 'const h = n * q;']] },
  { file: 'src/eval/metrics/subgroups.ts', what: 'a group of exactly minSize is skipped', tests: METRICS,
    edits: [['if (s.length < minSize)', 'if (s.length <= minSize)']] },
  // --- src/data/split.ts
  { file: 'src/eval/metrics/subgroups.ts', what: 'a gap reported from a single scored group', tests: METRICS,
    edits: [['if (best && count >= 2) {', 'if (best && count >= 1) {']] },
  { file: 'src/data/split.ts', what: 'stratification removed (every unit in the grade-0 stratum)', tests: SPLIT,
    edits: [['const s = strata.get(u.grade) ?? [];', 'const s = strata.get(0) ?? [];'], ['strata.set(u.grade, s);', 'strata.set(0, s);']] },
  { file: 'src/data/split.ts', what: 'split by image instead of patient', tests: SPLIT,
    edits: [["const key = c.mode === 'patient' ? r.patientId : r.imageId;", 'const key = r.imageId;']] },
  { file: 'src/data/split.ts', what: "patients stratified by their first image's grade, not their maximum", tests: SPLIT,
    edits: [['u.grade = Math.max(u.grade, r.labels.icdr ?? -1);', 'if (u.ids.length === 1)\n            u.grade = r.labels.icdr ?? -1;']] },
  { file: 'src/data/split.ts', what: 'at-least-one-unit-per-split rule removed', tests: SPLIT,
    edits: [['if (n >= positive.length) {', 'if (false) {']] },
  { file: 'src/data/split.ts', what: 'largest remainder: ties go to the later split', tests: SPLIT,
    edits: [['b[0] - a[0] || a[1] - b[1]', 'b[0] - a[0] || b[1] - a[1]']] },
  { file: 'src/data/split.ts', what: 'no shuffle within a stratum (id order)', tests: SPLIT,
    edits: [['rng.fork(grade + 1).shuffle(keys);', '']] },
  { file: 'src/data/split.ts', what: 'verifySplit misses a patient straddling splits', tests: SPLIT,
    edits: [['if (w !== undefined && w !== s)\n                straddle.add(r.patientId);', 'if (false)\n                straddle.add(r.patientId);']] },
  // --- src/losses
  { file: 'src/losses/contrastive.ts', what: 'InfoNCE one direction only (a -> b)', tests: LOSSES,
    edits: [['return aToB.add(bToA).mul(0.5);', 'return aToB;']] },
  { file: 'src/losses/contrastive.ts', what: 'logit scale not capped at 100', tests: LOSSES,
    edits: [['logitScale.exp().clamp(undefined, LOGIT_SCALE_MAX)', 'logitScale.exp()']] },
  { file: 'src/losses/contrastive.ts', what: 'same-note pairs not masked', tests: LOSSES,
    edits: [['if (mask !== null)\n        logits = logits.maskedFill(mask, -Infinity);', '']] },
  { file: 'src/losses/classification.ts', what: 'label smoothing ignored', tests: LOSSES,
    edits: [['labelSmoothing: smoothing })', 'labelSmoothing: 0 })']] },
  { file: 'src/losses/classification.ts', what: 'inverse-frequency weights normalized over all classes, absent ones too', tests: LOSSES,
    edits: [['raw.reduce((s, w) => s + w, 0) / present', 'raw.reduce((s, w) => s + w, 0) / numClasses']] },
  { file: 'src/losses/reconstruction.ts', what: 'MAE loss over every patch, not the masked ones', tests: LOSSES,
    edits: [['return perPatch.mul(m).sum().div(count);', 'return perPatch.mean();']] },
  { file: 'src/losses/objective.ts', what: 'part weights ignored in the total', tests: LOSSES,
    edits: [['const weighted = w[name] === 1 ? t : t.mul(w[name]);', 'const weighted = t;']] },
  { file: 'src/losses/objective.ts', what: 'grade parts computed at weight 0', tests: LOSSES,
    edits: [['if (w[name] === 0 || logits === null || labels === null)', 'if (logits === null || labels === null)']] },
  // --- src/tensor/gradcheck.ts (the check the loss and op gradients rely on)
  { file: 'src/losses/objective.ts', what: 'MAE branch left on at weight 0 (forward options)', tests: LOSSES,
    edits: [['maeMaskRatio: this.config.weights.mae === 0 ? 0 : r.maeMaskRatio,', 'maeMaskRatio: r.maeMaskRatio,']] },
  { file: 'src/tensor/gradcheck.ts', what: 'gradcheck reports a relative error of 0', tests: GRAD,
    edits: [['return { maxAbsErr, maxRelErr };', 'return { maxAbsErr, maxRelErr: 0 };']] },
  { file: 'src/tensor/gradcheck.ts', what: 'gradcheck uses a one-sided difference', tests: GRAD,
    edits: [['(evalAt(eps) - evalAt(-eps)) / (2 * eps)', '(evalAt(eps) - evalAt(0)) / eps']] },
  // --- src/serve: auth and the routes' flags
  { file: 'src/serve/routes/search.ts', what: '/v1/search/text, /v1/search/image and /v1/cases/:id declared public', tests: SERVE,
    edits: [
      ["config: { openapi: { summary: 'Find cases whose images match a text query'", "config: { public: true, openapi: { summary: 'Find cases whose images match a text query'"],
      [/config: \{(\s*openapi: \{\s*summary: 'Find cases similar to a fundus photo')/, 'config: { public: true,$1'],
      ["config: { openapi: { summary: 'One indexed case: grades, note, metadata'", "config: { public: true, openapi: { summary: 'One indexed case: grades, note, metadata'"],
    ] },
  { file: 'src/serve/routes/grade.ts', what: '/v1/grade declared public', tests: SERVE,
    edits: [['config: { openapi: DOC }', 'config: { public: true, openapi: DOC }']] },
  { file: 'src/serve/app.ts', what: 'open by default: only routes flagged public: false need the token', tests: SERVE,
    edits: [['if (req.routeOptions.config?.public === true)', 'if (req.routeOptions.config?.public !== false)']] },
  { file: 'src/serve/app.ts', what: 'token never checked', tests: SERVE,
    edits: [[/if \(verifyToken !== null\)\s*await verifyToken\(req, reply\);/, '']] },
  { file: 'src/serve/app.ts', what: 'any bearer token accepted (the plugin\'s refusal ignored)', tests: SERVE,
    edits: [[/if \(err === undefined\)\s*return ok\(\);/, 'return ok();']] },
  { file: 'src/serve/auth.ts', what: '0.0.0.0 counted as loopback (binds without a token)', tests: SERVE,
    edits: [["if (h === 'localhost')", "if (h === 'localhost' || h === '0.0.0.0')"]] },
  { file: 'src/serve/auth.ts', what: 'shortest accepted token 8 characters instead of 16', tests: SERVE,
    edits: [['export const MIN_TOKEN_LENGTH = 16;', 'export const MIN_TOKEN_LENGTH = 8;']] },
  { file: 'src/serve/auth.ts', what: 'tokens with spaces or control characters accepted', tests: SERVE,
    edits: [['if (!/^[\\x21-\\x7e]+$/.test(token))', 'if (false)']] },
];

const args = process.argv.slice(2);
const list = args.includes('--list');
const keep = args.includes('--keep');
const filter = args.find((a) => !a.startsWith('--')) ?? '';
const chosen = MUTANTS.filter((m) => m.file.includes(filter) || m.what.includes(filter));

const jsOf = (ts) => join(ROOT, 'dist', ts.replace(/\.ts$/, '.js'));
const copyOf = (ts) => join(COPY, ts.replace(/\.ts$/, '.js'));
const testJs = (t) => join(COPY, 'test', `${t}.test.js`);
const label = (m) => `${m.file}: ${m.what}`;

if (list) {
  for (const m of chosen) console.log(`${label(m)}   [tests: ${m.tests.name}]${m.equivalent ? `   (equivalent: ${m.equivalent})` : ''}`);
  process.exit(0);
}
if (chosen.length === 0) fail(`no mutant matches '${filter}'`);

// ---- the copy, and its cleanup on every way out
let child = null;
let current = null; // { path, original } while a mutant is in place
function cleanup() {
  if (child !== null && child.exitCode === null) {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  if (current !== null) writeFileSync(current.path, current.original);
  if (!keep) rmSync(WORK, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping; the copy is ${keep ? 'kept with its mutant undone' : 'removed'} (dist/ and src/ were never touched)`);
    process.exit(130);
  });
}

function fail(msg) {
  console.error(`mutants: ${msg}`);
  process.exit(2);
}

// A stale build would test old code: every mutated file and test file must be newer than its source.
const stale = [];
for (const ts of new Set([...chosen.map((m) => m.file), ...chosen.flatMap((m) => m.tests.files.map((t) => `test/${t}.test.ts`))])) {
  const js = jsOf(ts);
  if (!existsSync(js)) stale.push(`${relative(ROOT, js)} is missing`);
  else if (statSync(js).mtimeMs + 1 < statSync(join(ROOT, ts)).mtimeMs) stale.push(`${relative(ROOT, js)} is older than ${ts}`);
}
if (stale.length > 0) fail(`the build is stale (${stale.join('; ')}): run npm run build first`);

rmSync(WORK, { recursive: true, force: true });
mkdirSync(TMP, { recursive: true });
cpSync(join(ROOT, 'dist', 'src'), join(COPY, 'src'), { recursive: true });
cpSync(join(ROOT, 'dist', 'test'), join(COPY, 'test'), { recursive: true });

/** The mutated text of a mutant's file, or throws naming the edit that does not match exactly once. */
function mutate(m, text) {
  let out = text;
  m.edits.forEach(([find, replace], i) => {
    const n = typeof find === 'string' ? out.split(find).length - 1 : (out.match(new RegExp(find.source, `${find.flags}g`)) ?? []).length;
    if (n !== 1) throw new Error(`${label(m)}: edit ${i + 1} (${String(find).slice(0, 70)}) matches ${n} times in ${relative(ROOT, jsOf(m.file))}, expected once: update the mutant`);
    out = typeof find === 'string' ? out.replace(find, () => replace) : out.replace(find, replace);
  });
  return out;
}
// Every mutant must apply and still parse: a syntax error would be "killed" for the wrong reason.
const problems = [];
const probe = join(WORK, 'probe.mjs');
for (const m of chosen) {
  try {
    writeFileSync(probe, mutate(m, readFileSync(copyOf(m.file), 'utf8')));
    const r = spawnSync(process.execPath, ['--check', probe], { encoding: 'utf8' });
    if (r.status !== 0) problems.push(`${label(m)}: the mutated file does not parse: ${(r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr).trim()}`);
  } catch (e) {
    problems.push(e.message);
  }
}
if (problems.length > 0) fail(`${problems.length} mutant(s) no longer apply:\n  ${problems.join('\n  ')}`);

/** Runs test files in the copy; resolves to { status: 'pass' | 'fail' | 'timeout', firstFailure, ms }. */
function runTests(files, timeoutMs) {
  return new Promise((done) => {
    const t0 = Date.now();
    let out = '';
    let stopped = false;
    child = spawn(process.execPath, ['--expose-gc', '--test', '--test-concurrency=1', '--test-reporter=tap', ...files.map(testJs)],
      { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: TMP } });
    // The first failing test decides: stop there (the rest would only cost time).
    child.stdout.on('data', (d) => {
      out += d;
      if (!stopped && /^\s*not ok \d+ - /m.test(out)) { stopped = true; try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }
    });
    child.stderr.on('data', (d) => { out += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      child = null;
      const first = /^\s*not ok \d+ - (.*)$/m.exec(out);
      const status = timedOut ? 'timeout' : code === 0 && !stopped ? 'pass' : 'fail';
      done({ status, firstFailure: first ? first[1] : null, ms: Date.now() - t0, tail: out.slice(-3000) });
    });
  });
}

// Baseline: each group's tests must pass on the unmutated copy; its time sets the group's timeout.
const groups = [...new Set(chosen.map((m) => m.tests))];
const timeoutOf = new Map();
console.log(`mutants: ${chosen.length} mutant(s), ${groups.length} test group(s); baseline first`);
for (const g of groups) {
  const r = await runTests(g.files, 600_000);
  if (r.status !== 'pass') fail(`the baseline of ${g.name} fails (${g.files.join(', ')}): ${r.firstFailure ?? r.status}\n${r.tail}`);
  timeoutOf.set(g, Math.max(60_000, 4 * r.ms));
  console.log(`  baseline ${g.name} (${g.files.join(', ')}): pass in ${(r.ms / 1000).toFixed(1)} s`);
}

const results = [];
for (const m of chosen) {
  const path = copyOf(m.file);
  const original = readFileSync(path, 'utf8');
  let r;
  try {
    current = { path, original };
    writeFileSync(path, mutate(m, original));
    r = await runTests(m.tests.files, timeoutOf.get(m.tests));
  } finally {
    writeFileSync(path, original);
    current = null;
  }
  const killed = r.status !== 'pass';
  results.push({ m, killed });
  const how = r.status === 'timeout' ? 'killed (timeout)' : killed ? 'killed' : m.equivalent ? 'survived (equivalent)' : 'SURVIVED';
  const why = killed ? (r.firstFailure ? ` by "${r.firstFailure}"` : '') : m.equivalent ? `: ${m.equivalent}` : '';
  console.log(`${how.padEnd(22)} ${label(m)}${why}  (${(r.ms / 1000).toFixed(1)} s)`);
}

const killed = results.filter((x) => x.killed).length;
const unexplained = results.filter((x) => !x.killed && !x.m.equivalent);
const equivalent = results.filter((x) => !x.killed && x.m.equivalent);
const wrongMark = results.filter((x) => x.killed && x.m.equivalent);
for (const x of wrongMark) console.log(`note: ${label(x.m)} is marked equivalent but was killed: drop the mark`);
console.log(`mutants killed ${killed}/${results.length}` +
  (equivalent.length > 0 ? `, ${equivalent.length} survived as equivalent` : '') +
  (unexplained.length > 0 ? `, ${unexplained.length} SURVIVED: ${unexplained.map((x) => label(x.m)).join('; ')}` : ''));
process.exit(unexplained.length > 0 ? 1 : 0);
