# Sourced by the app CLI tests: a temporary folder, pass/fail counters and `expect`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0; passed=0

# expect CODE PATTERN -- command...: the command exits CODE and writes exactly one line to stderr,
# containing PATTERN.
expect() {
  local code=$1 pattern=$2; shift 3
  local err rc lines
  err=$("$@" 2>&1 >/dev/null); rc=$?
  lines=$(printf '%s' "$err" | grep -c '')
  if [ "$rc" != "$code" ] || [ "$lines" != 1 ] || ! printf '%s' "$err" | grep -qF -- "$pattern"; then
    echo "FAIL: $* -> exit $rc, $lines line(s): $err (wanted exit $code and '$pattern')"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}
