#!/usr/bin/env bash
# The Quick start demo: start the sandbox, then plan, apply and plan again the example overrides against it.
set -euo pipefail
bin="${1:-.venv/bin}"
log="$(mktemp)"
"$bin/oes-reconcile" sandbox --port 0 >"$log" 2>&1 &
sandbox=$!
trap 'kill "$sandbox" 2>/dev/null; rm -rf "$log" "${state_dir:-}"' EXIT
for _ in $(seq 100); do
    url="$(sed -n 's/^Sandbox listening on \([^ ]*\) .*/\1/p' "$log")"
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { cat "$log"; echo "the sandbox did not start" >&2; exit 1; }
export AS_API_ENDPOINT="$url" AS_API_KEY=sandbox
# The demo's record (what apply did) lives with the demo, not in your home directory.
state_dir="$(mktemp -d)"
export OES_RECONCILE_STATE="$state_dir/state.db"

step() {
    echo
    echo "\$ oes-reconcile $*"
    set +e
    "$bin/oes-reconcile" "$@"
    echo "(exit $?)"
    set -e
}

echo "Sandbox on $url, seeded with data that matches examples/overrides.yaml and examples/overrides.csv."
step plan examples/
step apply examples/
step history --runs
echo
echo "\$ oes-reconcile plan --detailed-exitcode examples/    # 0: nothing left to change"
"$bin/oes-reconcile" plan --detailed-exitcode examples/
