#!/usr/bin/env bash
# What a newcomer does, timed: a fresh clone of this repository into a temporary directory, a
# fresh virtual environment, then the README's two commands, each in its own timed step.
# For each step it prints the exit status, the wall time and how many C++ files it compiled
# (the second command should compile none: it reuses the first one's build).
#
#   bash tools/newcomer_check.sh [REPO]      # REPO: a path or URL to clone (default: this checkout)
#
# On a machine shared with other builds, run it under the build lock:
#   flock /tmp/lstmrt-build.lock bash tools/newcomer_check.sh
set -uo pipefail
REPO="${1:-$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)}"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lstmrt-newcomer.XXXXXX")"
LOGS="$WORK/logs"
mkdir -p "$LOGS"

# The README's commands, verbatim (tests/test_docs.py checks that the README still says these).
INSTALL_AND_DEMO='pip install -v . && python -m lstmrt demo'
INSTALL_AND_TEST='pip install -v ".[test]" && pytest'

echo "newcomer check: $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $("$PYTHON" --version 2>&1)"
echo "clone of $REPO at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') into $WORK"
git clone -q "$REPO" "$WORK/lstmrt" || exit 1
"$PYTHON" -m venv "$WORK/venv" || exit 1
# shellcheck disable=SC1091
source "$WORK/venv/bin/activate"
cd "$WORK/lstmrt" || exit 1

status=0
step() {
  local name="$1" command="$2" start end rc compiled
  start=$(date +%s.%N)
  bash -c "$command" >"$LOGS/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  compiled=$(grep -c "Building CXX object" "$LOGS/$name.log")
  printf '%-16s %-50s exit %d, %6.1f s, %2d C++ files compiled\n' "$name" "$command" "$rc" \
    "$(echo "$end - $start" | bc)" "$compiled"
  [ "$rc" -eq 0 ] || { status=1; tail -n 30 "$LOGS/$name.log"; }
}
step install+demo "$INSTALL_AND_DEMO"
step install+test "$INSTALL_AND_TEST"
grep -E "^(lstmrt on|    time per|    onnxruntime|    identical|OK|FAILED)" "$LOGS/install+demo.log" | sed 's/^/  demo: /'
tail -n 1 "$LOGS/install+test.log" | sed 's/^/  pytest: /'
echo "logs in $LOGS"
exit "$status"
