#!/usr/bin/env bash
# The client command the conformance suite runs: `client.sh URL`, with the scenario in
# MCP_CONFORMANCE_SCENARIO (and MCP_CONFORMANCE_CONTEXT for credentials).
#
# Runs `agent conformance-client URL` in fresh, empty user folders (no config, no stored tokens
# from the developer or from another scenario), bounded by CONFORMANCE_CLIENT_TIMEOUT seconds.
# `timeout` puts the client in a process group of its own and, when time is up, signals the
# whole group (TERM, then KILL after 3 s), so a hung client cannot outlive its scenario.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
limit="${CONFORMANCE_CLIENT_TIMEOUT:-45}"
agent="${CONFORMANCE_AGENT:-$root/.venv/bin/agent}"  # another build of `agent` to test, if set

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for sub in config data state cache; do mkdir -p "$work/$sub"; done
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
export XDG_STATE_HOME="$work/state" XDG_CACHE_HOME="$work/cache"
unset AGENT_CONFIG BROWSER
cd "$work"

timeout --kill-after=3 "$limit" "$agent" conformance-client "$@"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "client.sh: TIMEOUT: the client ran over ${limit}s; its process group was killed" >&2
fi
exit "$rc"
