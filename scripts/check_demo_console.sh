#!/usr/bin/env bash
# Run the whole `make demo` into a fresh folder and check what it printed: fewer than 100 lines, and none from a
# font-subsetting or event-file library (fontTools' "glyf pruned", "Glyph IDs: ...", TensorBoard's "No path found
# after ...tfevents..."), which other libraries' loggers once put between the training lines and the findings.
# tests/test_console.py checks the same on a shortened demo in seconds; this is the full one (minutes).
# usage: scripts/check_demo_console.sh [OUT_DIR [overrides...]]   (OUT_DIR default: a new temporary folder;
#        overrides go to the demo, e.g. trainer.device=cuda; exit 1 when a check fails)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
shift || true
mkdir -p "$out"
log="$out/demo-console.log"
make demo DEMO_ARGS="out_dir=$out $*" 2>&1 | tee "$log"
lines=$(wc -l < "$log")
noise=$(grep -ciE 'pruned|glyph|subset|tfevents|No path found|fontTools' "$log" || true)
echo "check: make demo printed $lines lines, $noise of them from a font or event-file library (console kept in $log)"
if (( lines >= 100 || noise > 0 )); then
    echo "check: FAILED (want fewer than 100 lines and none from those libraries)" >&2
    exit 1
fi
echo "check: passed"
