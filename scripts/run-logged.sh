# Sourced by the measurement scripts. run NAME COMMAND...: runs COMMAND once, keeping its output
# with wall time and peak memory in $OUT/NAME.txt (a finished step is skipped when rerun).
run() {
  local name=$1; shift
  [ -f "$OUT/$name.txt" ] && return 0
  echo "== $name: $*"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$@" > "$OUT/$name.tmp" 2>&1
  mv "$OUT/$name.tmp" "$OUT/$name.txt"
  tail -n "${RUN_TAIL:-12}" "$OUT/$name.txt"
}
