'use strict';
/**
 * The verdict on one scenario run by .ci/conformance.sh: the suite's checks plus our stricter
 * rules, as one line on stdout (`PASS n/m` or `FAIL ...`), and the failed checks and the end of
 * the client's stderr in DIR.why (for the log of a regression).
 *
 *   node verdict.cjs DIR SUITE_EXIT_CODE SCENARIO
 */
const fs = require('node:fs');
const path = require('node:path');

const [dir, rc, scenario] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
let checks;
let stderr;
try {
  // The suite writes DIR/<scenario>-<time>/ (a scenario name may hold a "/").
  const found = fs.readdirSync(dir, { recursive: true }).filter((f) => path.basename(f) === 'checks.json');
  const where = path.join(dir, path.dirname(found[0]));
  checks = JSON.parse(fs.readFileSync(path.join(where, 'checks.json'), 'utf8'));
  stderr = fs.readFileSync(path.join(where, 'stderr.txt'), 'utf8');
} catch (error) {
  console.log(`FAIL no results (suite exit ${rc}; see ${dir}/suite.log)`);
  process.exit();
}
const details = checks
  .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
  .map((c) => `  ${c.status} ${c.id}: ${c.errorMessage || c.description}`);
const tail = stderr
  .trim()
  .split('\n')
  .filter((line) => line.trim())
  .slice(-3)
  .map((line) => `  client: ${line.slice(0, 300)}`);
fs.writeFileSync(`${dir}.why`, [...details, ...tail].join('\n') + '\n');
const count = (s) => checks.filter((c) => c.status === s).length;
const [ok, bad, warn] = [count('SUCCESS'), count('FAILURE'), count('WARNING')];
const why = [];
if (bad) why.push(`${bad} failed`);
if (warn) why.push(`${warn} warnings`);
if (ok + bad === 0) why.push('0 checks');
if (stderr.includes('client.sh: TIMEOUT')) why.push('client timed out');
// The suite passes this scenario when the client never asks for authorization, which a client
// that fails for any other reason does too: insist it refused the resource.
if (scenario === 'auth/resource-mismatch' && !/resource/i.test(stderr)) {
  why.push('client did not say it refused the mismatched resource');
}
if (rc !== 0 && why.length === 0) why.push(`suite exit ${rc} (client error)`);
console.log(why.length ? `FAIL ${ok}/${ok + bad} passed, ${why.join(', ')}` : `PASS ${ok}/${ok + bad}`);
