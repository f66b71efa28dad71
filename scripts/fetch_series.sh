#!/usr/bin/env bash
# Real series for developing and checking seqtorch-forecast, from Debian packages (nothing of it
# is committed): R's `datasets` (the development set, and the held-out and fresh sets that
# scripts/bench/forecast_real.sh reads with SERIES_SET=holdout and fresh) and three series of
# the forecast package (r-cran-forecast), both read from the packages' lazy-load databases by
# scripts/data/r_datasets.py without installing R, and the weekly Mauna Loa CO2 series that
# python3-statsmodels ships. Writes DIR/<name>.csv with columns time,value (co2_weekly: with
# gaps; use --fill linear), and DIR/deaths.csv with columns time,ldeaths,mdeaths,fdeaths.
#   scripts/fetch_series.sh [DIR]      (default: data/series)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/../data/series}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"  # absolute: the work below happens in a temporary folder
python="${SEQTORCH_PYTHON:-/usr/bin/python3}"
[ -x "$python" ] || python=python3
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt-get download runs as the _apt user where it can; a folder it may write avoids the warning.
chmod 777 "$work"
apt-get download r-base-core r-cran-forecast python3-statsmodels >/dev/null 2>&1 || {
  echo "fetch_series.sh: 'apt-get download r-base-core r-cran-forecast python3-statsmodels' failed (no package index? run apt-get update)" >&2
  exit 1
}
for deb in ./*.deb; do dpkg -x "$deb" unpacked; done
"$python" "$here/data/r_datasets.py" unpacked/usr/lib/R/library/datasets/data "$out" \
  AirPassengers nottem UKgas USAccDeaths ldeaths mdeaths fdeaths co2 JohnsonJohnson austres \
  sunspot.year lynx Nile \
  UKDriverDeaths presidents sunspots LakeHuron WWWusage BJsales discoveries nhtemp \
  Seatbelts:front Seatbelts:rear Seatbelts:VanKilled BJsales.lead lh freeny.y treering
# The fresh set's series from the forecast package's data (Hyndman's).
"$python" "$here/data/r_datasets.py" unpacked/usr/lib/R/site-library/forecast/data "$out" gas wineind woolyrnq
# Several series in one file (for --target a,b,c): UK lung-disease deaths, all, male, female.
paste -d, "$out/ldeaths.csv" <(cut -d, -f2 "$out/mdeaths.csv") <(cut -d, -f2 "$out/fdeaths.csv") |
  sed '1s/.*/time,ldeaths,mdeaths,fdeaths/' > "$out/deaths.csv.tmp"
mv "$out/deaths.csv.tmp" "$out/deaths.csv"
# statsmodels' co2: weekly (Saturdays) 1958-03-29 .. 2001-12-29, 2284 rows, some empty.
co2="$(find unpacked -path '*statsmodels/datasets/co2/co2.csv' | head -1)"
[ -n "$co2" ] || { echo "fetch_series.sh: python3-statsmodels has no datasets/co2/co2.csv" >&2; exit 1; }
{ echo "time,value"; tail -n +2 "$co2" | tr -d '"\r'; } > "$out/co2_weekly.csv.tmp"
mv "$out/co2_weekly.csv.tmp" "$out/co2_weekly.csv"
echo "$out/co2_weekly.csv: $(($(wc -l < "$out/co2_weekly.csv") - 1)) steps, weekly"
