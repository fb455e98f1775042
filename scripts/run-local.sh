#!/usr/bin/env bash
# `make run`: a local Prefect server (UI at :4200) plus `nurture serve` on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
export PREFECT_HOME="${PREFECT_HOME:-$PWD/var/prefect}"
PREFECT_PORT="${PREFECT_PORT:-4200}"
export PREFECT_API_URL="${PREFECT_API_URL:-http://127.0.0.1:${PREFECT_PORT}/api}"
HOST="${NURTURE_HOST:-127.0.0.1}"
PORT="${NURTURE_PORT:-8000}"
mkdir -p var "$PREFECT_HOME"

healthy() { curl -fsS "${PREFECT_API_URL}/health" >/dev/null 2>&1; }

started=""
if healthy; then
  echo "Prefect server already running at ${PREFECT_API_URL%/api}"
else
  echo "starting a local Prefect server (log: var/prefect-server.log) ..."
  "$BIN/prefect" server start --host 127.0.0.1 --port "$PREFECT_PORT" >var/prefect-server.log 2>&1 &
  started=$!
  trap '[ -n "$started" ] && kill "$started" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
  for _ in $(seq 1 120); do
    healthy && break
    kill -0 "$started" 2>/dev/null || { echo "Prefect server exited; see var/prefect-server.log"; exit 1; }
    sleep 1
  done
  healthy || { echo "Prefect server not healthy after 120 s; see var/prefect-server.log"; exit 1; }
fi

"$BIN/nurture" db upgrade
"$BIN/nurture" config check
cat <<INFO

  Landing page   http://${HOST}:${PORT}/f/leitfaden
  All forms      http://${HOST}:${PORT}/
  Outbox         $PWD/var/outbox   (one .eml per email; NURTURE_MAIL_URL changes it)
  Prefect UI     ${PREFECT_API_URL%/api}   (flow runs "dispatch-due-touches")
  Stop           Ctrl-C

INFO
"$BIN/nurture" serve --host "$HOST" --port "$PORT"
