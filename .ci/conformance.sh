#!/usr/bin/env bash
# The MCP conformance suites (@modelcontextprotocol/conformance, each version pinned in
# .ci/conformance/suites/VERSION/package.json and its lock file) against our client,
# `agent conformance-client`.
#
# Needs only Python, npm and any Node: installs Node 22 into .ci/node when the Node on PATH is
# older, each suite into .ci/conformance/suites/VERSION/node_modules, and the Python venv with
# uv. Every server a suite starts listens on 127.0.0.1 only (.ci/conformance/loopback.cjs).
#
# Runs every client scenario of every suite, each scenario under its own time limit. A scenario
# passes when the suite says so, it made at least one pass/fail check, and no check is a warning.
# Fails when a scenario listed in tests/conformance/expected-VERSION.txt does not pass (a
# regression); a listed name the suite no longer has is reported, not counted; scenarios that
# pass but are not listed are named, so the list can be raised.
#
#   bash .ci/conformance.sh [SCENARIO...]      (default: all client scenarios of each suite)
#   CONFORMANCE_SUITES="V1 V2"  which suites (default: every folder in .ci/conformance/suites)
#   CONFORMANCE_RESULTS=DIR     keep the per-scenario results there, DIR/VERSION/ (default: a temp dir)
#   CONFORMANCE_JOBS=N          scenarios run at once (default 2; timing-sensitive ones run alone)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

NODE_VERSION=22.23.3
jobs="${CONFORMANCE_JOBS:-2}"
suites_dir=".ci/conformance/suites"
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

# --- our client --------------------------------------------------------------------------------
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet uv
fi
export UV_NO_PROGRESS=1
uv sync --frozen --quiet


# Whether $1 is one of the other arguments (no `printf | grep -q`: under pipefail, grep's early
# exit can fail the pipeline with printf's SIGPIPE).
contains() {
    local item want="$1"
    shift
    for item in "$@"; do [ "$item" = "$want" ] && return 0; done
    return 1
}

# One scenario of one suite: the verdict (.ci/conformance/verdict.cjs) as one line in
# $results/<slug>.status. Each scenario has its own limits: the suite process is killed after
# $suite_limit s, the client (.ci/conformance/client.sh) after $CONFORMANCE_CLIENT_TIMEOUT s.
run_one() {
    local scenario="$1" slug out rc verdict began=$SECONDS
    slug="${scenario//\//_}"
    out="$results/$slug"
    rm -rf "$out" && mkdir -p "$out"
    rc=0
    timeout --kill-after=5 "$suite_limit" "$node_bin" -r "$root/.ci/conformance/loopback.cjs" "$suite_js" client \
        --scenario "$scenario" --command "'$root/.ci/conformance/client.sh'" --timeout 60000 -o "$out" \
        >"$out/suite.log" 2>&1 || rc=$?
    verdict="$("$node_bin" "$root/.ci/conformance/verdict.cjs" "$out" "$rc" "$scenario")"
    echo "$verdict" >"$results/$slug.status"
    printf '   %-48s %3ds  %s\n' "$scenario" "$((SECONDS - began))" "$verdict"
}
export -f run_one
export root node_bin
export suite_limit=120 CONFORMANCE_CLIENT_TIMEOUT="${CONFORMANCE_CLIENT_TIMEOUT:-45}"

results_root="${CONFORMANCE_RESULTS:-$(mktemp -d)}"
read -r -a suites <<<"${CONFORMANCE_SUITES:-$(ls "$suites_dir" | sort -V | tr '\n' ' ')}"
total_regressions=0
summary=()

for version in "${suites[@]}"; do
    suite_dir="$suites_dir/$version"
    expected_file="tests/conformance/expected-$version.txt"
    if [ ! -f "$suite_dir/package.json" ]; then
        echo "conformance.sh: no suite $version (expected $suite_dir/package.json)" >&2
        exit 2
    fi
    # --- the suite, pinned by its package-lock.json -------------------------------------------
    if ! cmp -s "$suite_dir/package-lock.json" "$suite_dir/node_modules/.ci-installed-lock" 2>/dev/null; then
        echo "== installing the conformance suite $version (npm ci)"
        npm ci --silent --no-audit --no-fund --prefix "$suite_dir"
        cp "$suite_dir/package-lock.json" "$suite_dir/node_modules/.ci-installed-lock"
    fi
    suite_js="$root/$suite_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"
    installed="$("$node_bin" -p "require('./$suite_dir/node_modules/@modelcontextprotocol/conformance/package.json').version")"
    if [ "$installed" != "$version" ]; then
        echo "conformance.sh: $suite_dir installs $installed, not $version" >&2
        exit 2
    fi
    export suite_js

    # --- which scenarios ----------------------------------------------------------------------
    mapfile -t all_scenarios < <("$node_bin" -r "$root/.ci/conformance/loopback.cjs" "$suite_js" list \
        | sed -n '/^Client scenarios/,/^$/p' | sed -n 's/^  - \([^ ]*\).*/\1/p')
    if [ "${#all_scenarios[@]}" -eq 0 ]; then
        echo "conformance.sh: suite $version listed no client scenarios" >&2
        exit 1
    fi
    mapfile -t expected < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$expected_file" 2>/dev/null | grep -v '^$' || true)
    scenarios=()
    if [ "$#" -gt 0 ]; then
        for s in "$@"; do
            if contains "$s" "${all_scenarios[@]}"; then scenarios+=("$s"); fi
        done
        if [ "${#scenarios[@]}" -eq 0 ]; then continue; fi
    else
        scenarios=("${all_scenarios[@]}")
    fi

    results="$results_root/$version"
    mkdir -p "$results"
    export results
    echo "== MCP conformance suite $version: ${#scenarios[@]} client scenarios (results in $results)"

    # Timing-sensitive scenarios run alone (sse-retry measures the reconnect delay to 200 ms).
    serial=(); parallel=()
    for s in "${scenarios[@]}"; do
        case "$s" in sse-retry) serial+=("$s") ;; *) parallel+=("$s") ;; esac
    done
    for s in "${serial[@]}"; do run_one "$s"; done
    if [ "${#parallel[@]}" -gt 0 ]; then
        printf '%s\n' "${parallel[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}
    fi

    # --- compare with the expected list -------------------------------------------------------
    status_of() { cat "$results/${1//\//_}.status" 2>/dev/null || echo "FAIL not run"; }
    regressions=0; passing=0; gone=0
    for s in "${expected[@]}"; do
        if ! contains "$s" "${all_scenarios[@]}"; then
            # Renamed or removed upstream: say so (the list needs editing), but it is no regression.
            echo "GONE: $s is listed in $expected_file but suite $version has no such client scenario"
            gone=$((gone + 1))
        elif contains "$s" "${scenarios[@]}"; then
            st="$(status_of "$s")"
            if [[ "$st" != PASS* ]]; then
                echo "REGRESSION ($version): $s is listed as passing in $expected_file but now: $st"
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
            if ! contains "$s" "${expected[@]}"; then
                echo "NEW PASS ($version): $s passes but is not in $expected_file (add it)"
            fi
        fi
    done
    line="suite $version: $passing/${#scenarios[@]} client scenarios pass, $regressions regression(s)"
    if [ "$gone" -ne 0 ]; then line+=", $gone listed name(s) gone"; fi
    echo "== conformance $line"
    summary+=("$line")
    total_regressions=$((total_regressions + regressions))
done

echo "== conformance summary ($((SECONDS - started)) s):"
printf '   %s\n' "${summary[@]}"
if [ "$total_regressions" -ne 0 ]; then
    exit 1
fi
if [ -z "${CONFORMANCE_RESULTS:-}" ]; then
    rm -rf "$results_root"
fi
