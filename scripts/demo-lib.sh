# Shared by scripts/demo.sh and scripts/demo-confidential.sh, which source it after setting
# $poco (the poco binary): step titles, the background services stopped with the devnet on exit,
# and waiting for a service's start line.

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# The background processes to stop on exit (append with `pids+=($!)`).
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$poco" devnet stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Waits until a background service (pid $2) has written its JSON start line into $1; prints
# its log $3 and fails if it exits first.
wait_start() {
  until node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$1" 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || { cat "$3"; exit 1; }
    sleep 0.2
  done
}
