#!/usr/bin/env bash
# Runs every Molecule scenario (extensions/molecule/) against local servers that this script
# starts and always stops: OpenBao, moto and the provider emulators (tests/bench).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=$(mktemp -d)
cleanup() {
  python -m tests.bench down --dir "$state" >/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
python -m tests.bench up --dir "$state"
set -a
# shellcheck source=/dev/null
. "$state/env.sh"
set +a
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$root/.build/collections}"
# Each scenario gets a fresh ephemeral directory, so no state of an earlier run is reused.
for config in extensions/molecule/*/molecule.yml; do
  scenario=$(basename "$(dirname "$config")")
  MOLECULE_EPHEMERAL_DIRECTORY="$state/molecule/$scenario" molecule test -s "$scenario"
done
