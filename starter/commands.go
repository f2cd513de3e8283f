package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

// commands is the command table: dispatch, help and completion read it.
func commands() []command {
	return []command{
		{name: "bench", group: "Run a benchmark", summary: "run one benchmark now, in this process (vllm bench serve's flags)",
			synopsis: "[flags]", raw: true, request: vllmRequest,
			groups: []flagGroup{{"Output", []string{"save-result", "append-result", "result-dir", "result-filename", "records-dir", "disable-tqdm"}}},
			notes:  "bench runs against servers that are up; a run that deploys vLLM on Kubernetes goes through starter start.",
			examples: []string{
				"starter bench --base-url http://10.0.0.5:8000 --dataset-name sonnet --request-rate 12 --num-prompts 600",
				"starter bench --config request.yaml --save-result --result-dir out/",
			},
			setup: benchCommand},
		{name: "recompute", group: "Run a benchmark", summary: "recompute vLLM's table and JSON from stored records or a golden case",
			synopsis: "--golden CASE.input.json | --run RUN_ID [flags]", raw: true,
			groups: []flagGroup{{"Source", []string{"golden", "run"}}, {"Metric options (instead of the run's)", metricFlags},
				{"Output", []string{"result-dir", "result-filename", "date"}}},
			examples: []string{
				"starter recompute --run bench-20260102-030405 --metric-percentiles 50,90,99 --goodput ttft:500 tpot:50",
				"starter recompute --golden cases/chat.input.json --result-dir out/",
			},
			setup: recomputeCommand},
		{name: "tokenize", group: "Run a benchmark", summary: "print the token ids of stdin's text",
			synopsis: "[flags] < TEXT", examples: []string{`echo "Hello world" | starter tokenize --chat`}, setup: tokenizeCommand},

		{name: "start", group: "Durable runs on Temporal", summary: "start a durable stress-test workflow on Temporal",
			synopsis: "[flags]", raw: true, request: fullRequest,
			groups: []flagGroup{{"Start", []string{"wait", "id", "sequential", "no-preflight"}}},
			examples: []string{
				"starter start --base-url http://10.0.0.5:8000 --request-rate 12 --duration-seconds 3600 --wait",
				"starter start --deploy kubernetes --gpu-type H100 --replica-count 2 --k8s-namespace bench",
				"starter start --config specs.yaml --sequential",
			},
			setup: startCommand},
		{name: "watch", group: "Durable runs on Temporal", summary: "follow a run live: one line per replica, its warnings on top",
			synopsis: "[flags] RUN_ID", minArgs: 1, maxArgs: 1,
			examples: []string{"starter watch stress-20260102-030405-ab12cd34", "starter watch stress-20260102-030405-ab12cd34 --json | jq .phase"},
			setup:    watchCommand},
		{name: "stop", group: "Durable runs on Temporal", summary: "stop a run early; what ran is aggregated",
			synopsis: "[flags] RUN_ID [REASON...]", minArgs: 1, maxArgs: -1,
			examples: []string{"starter stop stress-20260102-030405-ab12cd34 enough data"}, setup: stopCommand},
		{name: "cancel", group: "Durable runs on Temporal", summary: "cancel a run; it tears down and writes the partial result",
			synopsis: "[flags] RUN_ID", minArgs: 1, maxArgs: 1,
			examples: []string{"starter cancel stress-20260102-030405-ab12cd34"}, setup: cancelCommand},
		{name: "list", group: "Durable runs on Temporal", summary: "list recent runs, newest first",
			synopsis: "[flags]", examples: []string{"starter list --limit 5", "starter list --json --namespace bench"}, setup: listCommand},
		{name: "serve", group: "Durable runs on Temporal", summary: "the old HTTP API: POST /start-load, GET /runs/ID",
			synopsis: "[flags]", examples: []string{"starter serve --addr 127.0.0.1:8080 --allow-fields image"}, setup: serveCommand},

		{name: "result", group: "Results", summary: "print a run's vLLM table (--json: its result JSON)",
			synopsis: "[flags] RUN_ID", minArgs: 1, maxArgs: 1,
			examples: []string{"starter result stress-20260102-030405-ab12cd34", "starter result stress-20260102-030405-ab12cd34 --json > result.json"},
			setup:    resultCommand},
		{name: "compare", group: "Results", summary: "two runs' metrics side by side, with B's difference from A in %",
			synopsis: "[flags] RUN_A RUN_B", minArgs: 2, maxArgs: 2,
			notes:    "A run is a run id in the configured store (BENCHMARK_RESULTS_BUCKET / BENCHMARK_RESULTS_DIRECTORY), a run's directory, or a result JSON file.",
			examples: []string{"starter compare stress-20260101-120000-aaaa1111 stress-20260102-120000-bbbb2222", "starter compare --json old.json new.json"},
			setup:    compareCommand},
		{name: "report", group: "Results", summary: "write report.html for a finished run",
			synopsis: "RUN_ID | RUN_DIRECTORY", minArgs: 1, maxArgs: 1,
			examples: []string{"starter report stress-20260102-030405-ab12cd34", "starter report ./results/bench-20260102-030405"},
			setup:    noFlags(runReport)},

		{name: "deploy", group: "Kubernetes", summary: "print the Kubernetes objects a run would create (--dry-run -o yaml)",
			synopsis: "--dry-run -o yaml [flags]", raw: true, request: fullRequest,
			groups:   []flagGroup{{"Output", []string{"dry-run", "o", "run-id"}}},
			examples: []string{"starter deploy --dry-run -o yaml --gpu-type H100 --replica-count 2 --k8s-namespace bench"},
			setup:    deployCommand},

		{name: "version", group: "This tool", summary: "print starter's version", synopsis: "", setup: noFlags(func(context.Context, []string) error {
			fmt.Println("starter", version())
			return nil
		})},
		{name: "completion", group: "This tool", summary: "print a shell completion script (bash, zsh or fish)",
			synopsis: "bash|zsh|fish", minArgs: 1, maxArgs: 1,
			examples: []string{"source <(starter completion bash)", "starter completion zsh > \"${fpath[1]}/_starter\"", "starter completion fish | source"},
			setup:    completionCommand},
		{name: "help", group: "This tool", summary: "print the commands, or a command's help",
			synopsis: "[COMMAND]", maxArgs: 1, setup: noFlags(runHelp)},
	}
}

func noFlags(run runFunc) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc { return run }
}

func runHelp(_ context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Print(topUsage())
		return nil
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return usageError{"", fmt.Sprintf("unknown command %q", args[0])}
	}
	printHelp(os.Stdout, c)
	return nil
}
