#!/usr/bin/env bash
# The MCP conformance suite (@modelcontextprotocol/conformance, pinned in
# .ci/conformance/package.json) against our client, `agent conformance-client`.
#
# Needs only Python, npm and any Node: installs Node 22 into .ci/node when the Node on PATH is
# older, the suite into .ci/conformance/node_modules, and the Python venv with uv. Every server
# the suite starts listens on 127.0.0.1 only (.ci/conformance/loopback.cjs).
#
# Runs every client scenario of the suite. A scenario passes when the suite says so, it made at
# least one pass/fail check, and no check is a warning. Fails when a scenario listed in
# tests/conformance/expected.txt does not pass (or is not in the suite any more); lists
# scenarios that pass but are not listed, so the list can be raised.
#
#   bash .ci/conformance.sh [SCENARIO...]      (default: all client scenarios)
#   CONFORMANCE_RESULTS=DIR  keep the suite's per-scenario results there (default: a temp dir)
#   CONFORMANCE_JOBS=N       scenarios run at once (default 2; timing-sensitive ones run alone)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

NODE_VERSION=22.23.3
jobs="${CONFORMANCE_JOBS:-2}"
expected_file="tests/conformance/expected.txt"
suite_dir=".ci/conformance"
started=$SECONDS

# --- Node >= 22 --------------------------------------------------------------------------------
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
node_bin="$(command -v node || true)"
if [ -z "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 22 ]; then
    node_bin="$root/.ci/node/node_modules/node/bin/node"
    if [ ! -x "$node_bin" ] || [ "$("$node_bin" -v)" != "v$NODE_VERSION" ]; then
        echo "== installing Node $NODE_VERSION into .ci/node (from npm)"
        npm install --silent --no-audit --no-fund --no-save --prefix .ci/node "node@$NODE_VERSION"
    fi
fi
# npm itself runs on the new Node too (the suite declares engines.node >= 22).
export PATH="$(dirname "$node_bin"):$PATH"
echo "== node $("$node_bin" -v)"

# --- the suite, pinned by package-lock.json ----------------------------------------------------
if ! cmp -s "$suite_dir/package-lock.json" "$suite_dir/node_modules/.ci-installed-lock" 2>/dev/null; then
    echo "== installing the conformance suite (npm ci)"
    npm ci --silent --no-audit --no-fund --prefix "$suite_dir"
    cp "$suite_dir/package-lock.json" "$suite_dir/node_modules/.ci-installed-lock"
fi
suite_js="$suite_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
suite_version="$("$node_bin" -p "require('./$suite_dir/node_modules/@modelcontextprotocol/conformance/package.json').version")"

# --- our client --------------------------------------------------------------------------------
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
export UV_NO_PROGRESS=1
uv sync --frozen --quiet

conformance() { "$node_bin" -r "$root/$suite_dir/loopback.cjs" "$suite_js" "$@"; }

# --- which scenarios ---------------------------------------------------------------------------
mapfile -t all_scenarios < <(conformance list | sed -n '/^Client scenarios/,$p' | sed -n 's/^  - \([^ ]*\).*/\1/p')
if [ "${#all_scenarios[@]}" -eq 0 ]; then
    echo "conformance.sh: the suite listed no client scenarios" >&2
    exit 1
fi
mapfile -t expected < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$expected_file" | grep -v '^$' || true)
if [ "$#" -gt 0 ]; then scenarios=("$@"); else scenarios=("${all_scenarios[@]}"); fi

results="${CONFORMANCE_RESULTS:-$(mktemp -d)}"
mkdir -p "$results"
echo "== MCP conformance suite $suite_version: ${#scenarios[@]} client scenarios (results in $results)"

# One scenario: the suite's verdict plus our stricter rules, as one line in $results/<slug>.status.
run_one() {
    local scenario="$1" slug out rc verdict began=$SECONDS
    slug="${scenario//\//_}"
    out="$results/$slug"
    rm -rf "$out" && mkdir -p "$out"
    rc=0
    timeout --kill-after=5 120 "$node_bin" -r "$root/$suite_dir/loopback.cjs" "$suite_js" client \
        --scenario "$scenario" --command "'$root/$suite_dir/client.sh'" --timeout 60000 -o "$out" \
        >"$out/suite.log" 2>&1 || rc=$?
    verdict="$("$node_bin" -e '
        const fs = require("fs"), path = require("path");
        const [dir, rc, scenario] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
        let checks, stderr;
        try {
            // The suite writes DIR/<scenario>-<time>/ (a scenario name may hold a "/").
            const found = fs.readdirSync(dir, { recursive: true }).filter((f) => path.basename(f) === "checks.json");
            const where = path.join(dir, path.dirname(found[0]));
            checks = JSON.parse(fs.readFileSync(path.join(where, "checks.json"), "utf8"));
            stderr = fs.readFileSync(path.join(where, "stderr.txt"), "utf8");
        } catch (error) {
            console.log(`FAIL no results (suite exit ${rc}; see ${dir}/suite.log)`);
            process.exit();
        }
        // For the log of a failure: what failed, and how the client ended.
        const details = checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING")
            .map((c) => `  ${c.status} ${c.id}: ${c.errorMessage || c.description}`);
        const tail = stderr.trim().split("\n").filter((line) => line.trim()).slice(-3).map((line) => `  client: ${line.slice(0, 300)}`);
        fs.writeFileSync(`${dir}.why`, [...details, ...tail].join("\n") + "\n");
        const count = (s) => checks.filter((c) => c.status === s).length;
        const [ok, bad, warn] = [count("SUCCESS"), count("FAILURE"), count("WARNING")];
        const why = [];
        if (bad) why.push(`${bad} failed`);
        if (warn) why.push(`${warn} warnings`);
        if (ok + bad === 0) why.push("0 checks");
        if (stderr.includes("client.sh: TIMEOUT")) why.push("client timed out");
        // The suite passes this scenario when the client never asks for authorization, which a
        // client that fails for any other reason does too: insist it refused the resource.
        if (scenario === "auth/resource-mismatch" && !/resource/i.test(stderr)) {
            why.push("client did not say it refused the mismatched resource");
        }
        if (rc !== 0 && why.length === 0) why.push(`suite exit ${rc} (client error)`);
        console.log(why.length ? `FAIL ${ok}/${ok + bad} passed, ${why.join(", ")}` : `PASS ${ok}/${ok + bad}`);
    ' "$out" "$rc" "$scenario")"
    echo "$verdict" >"$results/$slug.status"
    printf '   %-45s %3ds  %s\n' "$scenario" "$((SECONDS - began))" "$verdict"
}
export -f run_one
export root suite_dir suite_js node_bin results

# Timing-sensitive scenarios run alone (sse-retry measures the reconnect delay to 200 ms).
serial=(); parallel=()
for s in "${scenarios[@]}"; do
    case "$s" in sse-retry) serial+=("$s") ;; *) parallel+=("$s") ;; esac
done
for s in "${serial[@]}"; do run_one "$s"; done
if [ "${#parallel[@]}" -gt 0 ]; then
    printf '%s\n' "${parallel[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}
fi

# --- compare with the expected list ------------------------------------------------------------
status_of() { cat "$results/${1//\//_}.status" 2>/dev/null || echo "FAIL not run"; }
regressions=0; passing=0
for s in "${expected[@]}"; do
    if ! printf '%s\n' "${all_scenarios[@]}" | grep -qxF "$s"; then
        echo "REGRESSION: $s is listed in $expected_file but is not a client scenario of suite $suite_version"
        regressions=$((regressions + 1))
    elif [ "$#" -eq 0 ] || printf '%s\n' "${scenarios[@]}" | grep -qxF "$s"; then
        st="$(status_of "$s")"
        if [[ "$st" != PASS* ]]; then
            echo "REGRESSION: $s is listed as passing in $expected_file but now: $st"
            cat "$results/${s//\//_}.why" 2>/dev/null || true
            echo "  (everything: $results/${s//\//_}/)"
            regressions=$((regressions + 1))
        fi
    fi
done
for s in "${scenarios[@]}"; do
    st="$(status_of "$s")"
    if [[ "$st" == PASS* ]]; then
        passing=$((passing + 1))
        if ! printf '%s\n' "${expected[@]}" | grep -qxF "$s"; then
            echo "NEW PASS: $s passes but is not in $expected_file (add it)"
        fi
    fi
done
echo "== conformance: $passing/${#scenarios[@]} scenarios pass, $regressions regression(s), $((SECONDS - started)) s"
if [ "$regressions" -ne 0 ]; then
    exit 1
fi
if [ -z "${CONFORMANCE_RESULTS:-}" ]; then
    rm -rf "$results"
fi
