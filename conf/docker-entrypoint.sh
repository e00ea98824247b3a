#!/bin/bash
# Container entry point: apply migrations, run one worker beside the pool,
# and pass SIGTERM on to both (tini forwards it to this shell).
set -eu
fastbackctl migrate run
fastback-worker &
worker=$!
fastback-fcgi &
pool=$!
trap 'kill -TERM "$pool" "$worker" 2>/dev/null' TERM INT
# Whichever stops first, stop the other and exit with its status.
wait -n "$pool" "$worker" 2>/dev/null || wait "$pool"
status=$?
kill -TERM "$pool" "$worker" 2>/dev/null || true
wait
exit "$status"
