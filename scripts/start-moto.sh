#!/usr/bin/env bash
# Starts moto's S3-protocol server on loopback for the tests (installing `moto[server]` from PyPI
# when it is missing), creates the bucket `archnet-ci`, and prints the endpoint URL on stdout.
#
#   export ARCHNET_TEST_S3="$(scripts/start-moto.sh)"
#
# Port ${ARCHNET_S3_PORT:-54330}; stop it with `scripts/start-moto.sh stop`. The tests point the
# server at it with `--store s3://archnet-ci/PREFIX` and AWS_ENDPOINT, AWS_ALLOW_HTTP=true and
# throwaway credentials (moto checks none).
set -euo pipefail
PORT="${ARCHNET_S3_PORT:-54330}"
PIDFILE="${TMPDIR:-/tmp}/archnet-moto-$PORT.pid"
LOG="${TMPDIR:-/tmp}/archnet-moto-$PORT.log"

stop() {
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
    fi
}
if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

if ! python3 -c 'import moto.server' 2>/dev/null; then
    echo "installing moto[server] from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' >&2
fi
if ! python3 -c 'import moto.server' 2>/dev/null; then
    echo "error: moto's S3 server is not installed and could not be installed (pip install 'moto[server]')" >&2
    exit 1
fi

# One left running by an earlier run on this port is stopped first.
stop
nohup python3 -m moto.server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
echo $! >"$PIDFILE"
URL="http://127.0.0.1:$PORT"
python3 - "$URL" <<'PY'
import sys, time, urllib.request
url = sys.argv[1]
for _ in range(150):
    try:
        # CreateBucket: a bare PUT (us-east-1, and moto checks no signature).
        urllib.request.urlopen(urllib.request.Request(url + "/archnet-ci", method="PUT"), timeout=2)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit("error: moto's S3 server did not start on " + url)
PY
echo "$URL"
