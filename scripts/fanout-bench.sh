#!/usr/bin/env bash
# Fan-out throughput against the local mock providers (FCM and Twilio SMS
# wire formats over HTTP), embedded or cluster with N workers.
#
#   cargo build --release -p tocsin -p tocsin-testkit
#   scripts/fanout-bench.sh embedded 100000
#   scripts/fanout-bench.sh cluster 100000 1     # serve + 1 worker
#   scripts/fanout-bench.sh cluster 100000 2     # serve + 2 workers
#
# Cluster mode uses the machine's PostgreSQL and RabbitMQ, with a fresh
# database and queue prefix that are removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-embedded}; residents=${2:-100000}; workers=${3:-1}
bin=target/release
work=$(mktemp -d); id=$$
export TOCSIN_ADMIN_TOKEN=bench-token-$id RUST_LOG=warn
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$mode" = cluster ]; then
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS tocsin_bench_$id WITH (FORCE)" || true
    for q in $(rabbitmqctl -q list_queues name | grep "^tocsin-bench-$id\."); do rabbitmqctl -q delete_queue "$q" >/dev/null; done
    for x in $(rabbitmqctl -q list_exchanges name | grep "^tocsin-bench-$id\."); do
      rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"bench\">>)." >/dev/null
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

$bin/tocsin-mock-providers "$work/mocks.toml" > "$work/mocks.log" &
pids+=($!)
while ! grep -q running "$work/mocks.log" 2>/dev/null; do sleep 0.2; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TOCSIN_PUBLIC_URL=http://127.0.0.1:$port
if [ "$mode" = cluster ]; then
  createdb -h 127.0.0.1 -U postgres "tocsin_bench_$id"
  export TOCSIN_DATABASE=postgres://postgres@127.0.0.1:5432/tocsin_bench_$id
  export TOCSIN_QUEUE=amqp://guest:guest@127.0.0.1:5672/%2f TOCSIN_AMQP__PREFIX=tocsin-bench-$id
fi
$bin/tocsin --config "$work/mocks.toml" --data-dir "$work/data" serve --listen 127.0.0.1:$port > "$work/serve.out" 2> "$work/serve.log" &
pids+=($!)
until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.2; done
if [ "$mode" = cluster ]; then
  for i in $(seq 1 "$workers"); do
    $bin/tocsin --config "$work/mocks.toml" worker --listen 127.0.0.1:0 > "$work/worker$i.out" 2> "$work/worker$i.log" &
    pids+=($!)
  done
  for i in $(seq 1 "$workers"); do until grep -q listening "$work/worker$i.out" 2>/dev/null; do sleep 0.2; done; done
fi
echo "== $mode, $residents residents (SMS + FCM each), workers: $([ "$mode" = cluster ] && echo "$workers" || echo in-process)"
python3 scripts/load-check.py --url "http://127.0.0.1:$port" --residents "$residents"
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; echo "mock providers received: $(tail -1 "$work/mocks.log")"
