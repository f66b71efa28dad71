#!/usr/bin/env bash
# seqtorch-forecast on real series against naive, seasonal naive, ETS and Theta: for each series
# of scripts/fetch_series.sh, `train` with the user's command (only data, target, season,
# horizon and the test part named; everything else the defaults) and the rolling-origin
# backtest over the last 20%. Prints a Markdown table of MASE per series and the time each took,
# then the table of scripts/bench/forecast_combinations.py (means of the model's, ETS's and
# Theta's forecasts) from each series' OUT_DIR/NAME.backtest.csv (`evaluate --output`).
#   scripts/bench/forecast_real.sh [BIN_DIR] [DATA_DIR] [OUT_DIR] [extra train options...]
# Defaults: build/bin, data/series (fetched when missing), /tmp/seqtorch-forecast-real.
# SERIES_SET=holdout: the held-out series instead (R's UKDriverDeaths, mdeaths, fdeaths,
# presidents, sunspots, LakeHuron, WWWusage, BJsales, discoveries, nhtemp), kept out of
# development to measure what the choices made on the development set are worth elsewhere.
# SERIES_SET=fresh: ten series that no run had seen when the question they answer was asked
# (whether averaging the model's forecast with ETS's, chosen after both sets above, helps):
# R's Seatbelts front, rear and VanKilled, BJsales.lead, lh, freeny.y and treering, and the
# forecast package's gas, wineind and woolyrnq.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$here/../../build/bin}"
data="${2:-$here/../../data/series}"
out="${3:-/tmp/seqtorch-forecast-real}"
shift $(( $# < 3 ? $# : 3 ))
[ -f "$data/AirPassengers.csv" ] && [ -f "$data/nhtemp.csv" ] && [ -f "$data/woolyrnq.csv" ] ||
  "$here/../fetch_series.sh" "$data"
python="${SEQTORCH_PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python=python3
mkdir -p "$out"
# name  season  horizon  extra
series=(
  "AirPassengers 12 12"
  "nottem 12 12"
  "co2 12 12"
  "USAccDeaths 12 12"
  "ldeaths 12 12"
  "UKgas 4 4"
  "JohnsonJohnson 4 4"
  "austres 4 4"
  "sunspot.year 1 6"
  "lynx 1 6"
  "Nile 1 6"
  "co2_weekly 52 52 --fill linear"
)
if [ "${SERIES_SET:-development}" = holdout ]; then
  series=(
    "UKDriverDeaths 12 12"
    "mdeaths 12 12"
    "fdeaths 12 12"
    "presidents 4 4 --fill linear"
    "sunspots 12 12"
    "LakeHuron 1 6"
    "WWWusage 1 6"
    "BJsales 1 6"
    "discoveries 1 6"
    "nhtemp 1 6"
  )
elif [ "${SERIES_SET:-development}" = fresh ]; then
  series=(
    "Seatbelts.front 12 12"
    "Seatbelts.rear 12 12"
    "Seatbelts.VanKilled 12 12"
    "gas 12 12"
    "wineind 12 12"
    "woolyrnq 4 4"
    "freeny.y 4 4"
    "BJsales.lead 1 6"
    "lh 1 6"
    "treering 1 6"
  )
elif [ "${SERIES_SET:-development}" != development ]; then
  echo "forecast_real.sh: SERIES_SET: expected development, holdout or fresh, got '$SERIES_SET'" >&2
  exit 2
fi
names=()
echo "| series | steps | m | H | naive | seasonal naive | ETS | Theta | seqtorch | form | s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
for line in "${series[@]}"; do
  read -r name m h extra <<< "$line"
  run="$out/$name"
  rm -rf "$run"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$bin/seqtorch-forecast" train --data "$data/$name.csv" --target value --time-column time \
    --season "$m" --horizon "$h" --test-fraction 0.2 --cell lstm --out "$run" --quiet $extra "$@" \
    > "$run.log" 2>&1 || { echo "forecast_real.sh: $name failed:" >&2; tail -3 "$run.log" >&2; exit 1; }
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  steps=$(($(wc -l < "$data/$name.csv") - 1))
  "$python" - "$run/metrics.json" "$name" "$steps" "$m" "$h" "$seconds" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
name, steps, season, h, secs = sys.argv[2:]
best = min(m["mase_ets"], m["mase_theta"])
def cell(v, mark):
    return ("**%.3f**" if mark else "%.3f") % v
def form(m):  # the chosen form, or a combination's two heaviest forms and their weights
    log = "" if m.get("transform") != "log" else ", log"
    weights = sorted(((v, k[7:]) for k, v in m.items() if k.startswith("weight_")), reverse=True)
    if weights:
        return "combined: " + ", ".join("%s %.2f" % (k, v) for v, k in weights[:2]) + log
    return m.get("relative", "?").replace(" (auto)", "") + log + (" (base)" if m.get("kept_base") else "")
print("| %s | %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %s | %s | %.0f |" % (
    name, steps, season, h, m["mase_naive"], m["mase_seasonal_naive"], m["mase_ets"], m["mase_theta"],
    cell(m["mase"], m["mase"] <= best), form(m), float(secs)))
PY
  # Every origin's forecasts, for scripts/bench/forecast_combinations.py (an explicit checkpoint:
  # evaluate then leaves the training run's metrics.json as it is).
  "$bin/seqtorch-forecast" evaluate --out "$run" --checkpoint "$run/checkpoints/best.pt" \
    --output "$out/$name.backtest.csv" --quiet > /dev/null 2>> "$run.log" ||
    { echo "forecast_real.sh: evaluate --output for $name failed:" >&2; tail -3 "$run.log" >&2; exit 1; }
  names+=("$name")
done
echo
echo "Combinations (scripts/bench/forecast_combinations.py $out ...):"
"$python" "$here/forecast_combinations.py" "$out" "${names[@]}"
