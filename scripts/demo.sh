#!/usr/bin/env bash
# The embedded default: a Temporal dev server with its Web UI, two simulated
# vLLM replicas, a worker, and a time-compressed stress run (4 slices of 15 s,
# 2 replicas, sonnet 512/128/2 at 20 req/s per replica), followed live; then
# vLLM's table and where the results, the report and the Web UI are. In a
# terminal the stack then stays up (the printed links work) until Ctrl-C,
# which stops everything it started. Results go to BENCHMARK_RESULTS_DIRECTORY,
# default ~/.local/share/vllm-inference-benchmark/results (outside the source
# tree). DEMO_SCREENSHOTS=DIR also saves headless Chromium screenshots there:
# the run's Web UI page mid-run and at the end, and its report.
# DEMO_CONFIG=FILE runs another request than examples/demo.json.
# DEMO_KILL_REPLICA_AFTER=SECONDS kills replica 1's server that long after the
# start, to show how a dead replica is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.cache/bin:$PWD/bin:$PATH"
state="${DEMO_STATE_DIR:-$PWD/.cache/demo}"
mkdir -p "$state"
export TEMPORAL_ADDRESS=127.0.0.1:7233 TEMPORAL_UI=http://127.0.0.1:8233
export BENCHMARK_RESULTS_DIRECTORY="${BENCHMARK_RESULTS_DIRECTORY:-${XDG_DATA_HOME:-$HOME/.local/share}/vllm-inference-benchmark/results}"
unset BENCHMARK_RESULTS_BUCKET

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_port() { # host:port, what
  for _ in $(seq 1 120); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "demo: $2 did not come up on $1 (see $state/*.log)" >&2
  exit 1
}

attrs=(--search-attribute VibModel=Keyword --search-attribute VibGPUType=Keyword --search-attribute VibPhase=Keyword
  --search-attribute VibHealth=Keyword --search-attribute VibFailedPct=Double)
temporal server start-dev --ip 127.0.0.1 --port 7233 --ui-port 8233 --db-filename "$state/temporal.db" \
  --log-level warn "${attrs[@]}" >"$state/temporal.log" 2>&1 &
pids+=($!)
sims=()
for r in 0 1; do
  simulator --host 127.0.0.1 --port $((18000 + r)) --model meta-llama/Llama-3.1-405B-Instruct-FP8 \
    --ttft-ms 80 --ttft-per-token-ms 0.05 --itl-ms 25 --jitter 0.1 >"$state/simulator-$r.log" 2>&1 &
  sims+=($!)
  pids+=($!)
done
wait_port 127.0.0.1:7233 "Temporal"
wait_port 127.0.0.1:18000 "simulated replica 0"
wait_port 127.0.0.1:18001 "simulated replica 1"
worker --dev --metrics-addr 127.0.0.1:9464 >"$state/worker.log" 2>&1 &
pids+=($!)

id="demo-$(date -u +%Y%m%d-%H%M%S)"
echo "Temporal Web UI: $TEMPORAL_UI/namespaces/default/workflows"
echo "Worker metrics:  http://127.0.0.1:9464/metrics"
starter start --id "$id" --config "${DEMO_CONFIG:-examples/demo.json}"
if [[ -n "${DEMO_KILL_REPLICA_AFTER:-}" ]]; then
  # What an operator sees when a server dies mid-run.
  (sleep "$DEMO_KILL_REPLICA_AFTER" && kill "${sims[1]}" && echo "demo: replica 1 (:18001) killed" >&2) &
fi
shot_pid=
if [[ -n "${DEMO_SCREENSHOTS:-}" ]]; then
  # The Web UI's live view of the run (summary, current details), taken
  # with two slices to go.
  mkdir -p "$DEMO_SCREENSHOTS"
  (
    for _ in $(seq 1 180); do
      progress=$(temporal workflow query --address "$TEMPORAL_ADDRESS" --workflow-id "$id" --name progress -o json 2>/dev/null || true)
      done_=$(grep -o '"slices_done": *[0-9]*' <<<"$progress" | grep -o '[0-9]*$' || echo 0)
      total=$(grep -o '"slices_total": *[0-9]*' <<<"$progress" | grep -o '[0-9]*$' || echo 0)
      ((total > 0 && done_ >= (total > 2 ? total - 2 : 1))) && break
      sleep 1
    done
    run_id=$(temporal workflow describe --address "$TEMPORAL_ADDRESS" --workflow-id "$id" -o json | grep -o '"runId": *"[^"]*"' | head -1 | cut -d'"' -f4)
    scripts/screenshot.sh "$TEMPORAL_UI/namespaces/default/workflows/$id/$run_id/user-metadata" "$DEMO_SCREENSHOTS/webui-live.png" 1400x1000 >/dev/null
  ) &
  shot_pid=$!
fi
starter watch "$id"
echo "Results:         $BENCHMARK_RESULTS_DIRECTORY/$id/"
echo "Report:          $BENCHMARK_RESULTS_DIRECTORY/$id/report.html"
echo "This run:        $TEMPORAL_UI/namespaces/default/workflows/$id"
if [[ -n "${DEMO_SCREENSHOTS:-}" ]]; then
  wait "$shot_pid" || echo "demo: the mid-run screenshot failed" >&2
  scripts/screenshot.sh "$TEMPORAL_UI/namespaces/default/workflows/$id" "$DEMO_SCREENSHOTS/webui.png" 1400x1000
  run_id=$(temporal workflow describe --address "$TEMPORAL_ADDRESS" --workflow-id "$id" -o json | grep -o '"runId": *"[^"]*"' | head -1 | cut -d'"' -f4)
  scripts/screenshot.sh "$TEMPORAL_UI/namespaces/default/workflows/$id/$run_id/user-metadata" "$DEMO_SCREENSHOTS/webui-details.png" 1400x1000
  scripts/screenshot.sh "$BENCHMARK_RESULTS_DIRECTORY/$id/report.html" "$DEMO_SCREENSHOTS/report.png" 1400x2600
  echo "Screenshots:     $DEMO_SCREENSHOTS"
fi
if [[ -t 0 && -t 1 ]]; then
  echo "The stack stays up so these links work; Ctrl-C stops it."
  wait
fi
