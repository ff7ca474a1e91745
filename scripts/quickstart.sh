#!/usr/bin/env bash
# The main job on the sample pages the project ships: install (first run only),
# then upscale samples/ 2x with the shipped SRforMC model and print the
# per-page category table.
#   bash scripts/quickstart.sh                 # writes out/samples_2x/
#   bash scripts/quickstart.sh --precision bf16  # extra args go to `mchmc upscale`
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}" DO_NOT_TRACK=1
export RAY_USAGE_STATS_ENABLED=0
cd "$ROOT"
set +e
mchmc upscale samples --out out/samples_2x "$@"
rc=$?
set -e
if [ -f out/samples_2x/mchmc-upscale-report.csv ]; then
  python - <<'PY'
import csv
rows = list(csv.DictReader(open("out/samples_2x/mchmc-upscale-report.csv", encoding="utf-8")))
print(f"\n{'page':<24} {'status':<8} {'category':<8} {'nature':>7} {'manga':>7} {'text':>7}  {'input':>9} -> output")
for r in rows:
    p = [r[k] and f"{float(r[k]):.3f}" for k in ("p_nature", "p_manga", "p_text")]
    w, h = int(r["input_width"]), int(r["input_height"])
    print(f"{r['input'].split('/')[-1]:<24} {r['status']:<8} {r['category']:<8} {p[0]:>7} {p[1]:>7} {p[2]:>7}  "
          f"{f'{w}x{h}':>9} -> {2 * w}x{2 * h} {r['output']}")
PY
fi
exit $rc
