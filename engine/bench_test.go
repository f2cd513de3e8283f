package engine_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

const model = "meta-llama/Llama-3.1-8B-Instruct"

func startSim(t *testing.T, cfg vllmsim.Config) string {
	t.Helper()
	cfg.Model = model
	s, err := vllmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func bench(t *testing.T, req config.Request) *engine.BenchResult {
	t.Helper()
	req = req.Defaults()
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := engine.RunBench(ctx, req, engine.BenchOptions{Store: store, RunID: "bench-test"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func rate(r float64) *config.Rate { v := config.Rate(r); return &v }

// Every backend and dataset against the simulator: every request completes,
// the output token counts are the server's, the timings reflect the
// simulator's configured TTFT and ITL.
func TestBenchEveryBackendAndDataset(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 20 * time.Millisecond, ITL: 5 * time.Millisecond})
	for _, tc := range []struct{ backend, dataset string }{
		{"openai-chat", "sonnet"}, {"openai", "sonnet"}, {"vllm", "sonnet"},
		{"openai-chat", "random"}, {"openai", "random"},
	} {
		t.Run(tc.backend+"/"+tc.dataset, func(t *testing.T) {
			res := bench(t, config.Request{BaseURL: url, Backend: tc.backend, DatasetName: tc.dataset, Model: model,
				NumPrompts: 20, RequestRate: rate(100), SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 8,
				RandomInputLen: 64, RandomOutputLen: 8})
			r := res.Outcome.Result
			if r.Completed != 20 || r.Failed != 0 {
				t.Fatalf("completed %d failed %d, errors %v", r.Completed, r.Failed, r.Errors)
			}
			if r.TotalOutput != 20*8 {
				t.Errorf("total output %d, want 160", r.TotalOutput)
			}
			if ttft := r.TTFT.Mean; ttft < 19 || ttft > 80 {
				t.Errorf("mean TTFT %.2f ms, want about 20", ttft)
			}
			if itl := r.ITL.Median; itl < 3 || itl > 30 {
				t.Errorf("median ITL %.2f ms, want about 5", itl)
			}
			table := metrics.FormatTable(r, res.Outcome.Info)
			if !strings.Contains(table, "Successful requests:                     20") {
				t.Errorf("table:\n%s", table)
			}
		})
	}
}

func TestBenchShareGPT(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 5 * time.Millisecond})
	path := filepath.Join(t.TempDir(), "sharegpt.json")
	var convs []string
	for i := range 12 {
		convs = append(convs, fmt.Sprintf(`{"conversations":[{"from":"human","value":"Question %d: tell me about the sea and the sky in a few words."},{"from":"gpt","value":"Answer %d: the sea is wide and the sky is high above it all."}]}`, i, i))
	}
	if err := os.WriteFile(path, []byte("["+strings.Join(convs, ",")+"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := bench(t, config.Request{BaseURL: url, Backend: "openai-chat", DatasetName: "sharegpt", DatasetPath: path, Model: model,
		NumPrompts: 8, RequestRate: rate(100)})
	if r := res.Outcome.Result; r.Completed != 8 || r.TotalInput == 0 {
		t.Fatalf("completed %d, input tokens %d, errors %v", r.Completed, r.TotalInput, r.Errors)
	}
}

// Server faults become failed records with the error text, never a crash,
// and every scheduled request is accounted for once.
func TestBenchFaultsAreFailedRecords(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, Fail500Rate: 0.2, DisconnectRate: 0.2, Seed: 7})
	res := bench(t, config.Request{BaseURL: url, Backend: "openai-chat", DatasetName: "sonnet", Model: model,
		NumPrompts: 60, RequestRate: rate(200), SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 16})
	r := res.Outcome.Result
	if r.Completed+r.Failed != 60 || r.Failed == 0 || r.Completed == 0 {
		t.Fatalf("completed %d failed %d", r.Completed, r.Failed)
	}
	joined := strings.Join(r.Errors, "\n")
	if !strings.Contains(joined, "Internal Server Error") {
		t.Errorf("errors do not carry the HTTP reason: %q", joined)
	}
	f := res.Outcome.Failures.Replicas
	counted := 0
	for _, rc := range f[0].Reasons {
		counted += rc.Count
	}
	if len(f) != 1 || f[0].Failed != r.Failed || counted != r.Failed || !slices.ContainsFunc(f[0].Reasons, func(rc engine.ReasonCount) bool { return rc.Reason == "HTTP 500 Internal Server Error" }) {
		t.Errorf("failures by reason %+v do not add up to the %d failed, or miss the HTTP 500s", f, r.Failed)
	}
	acc := engine.AccountingOf(res.Outcome, nil)
	if acc.Scheduled != 60 || acc.Completed+acc.Failed+acc.Interrupted != 60 || acc.Duplicates != 0 {
		t.Errorf("accounting %+v", acc)
	}
}

// Two replicas each get the full schedule; request ids never repeat.
func TestBenchTwoReplicas(t *testing.T) {
	a := startSim(t, vllmsim.Config{TTFT: 5 * time.Millisecond})
	b := startSim(t, vllmsim.Config{TTFT: 5 * time.Millisecond})
	res := bench(t, config.Request{ReplicasBaseURLs: config.List{a, b}, Backend: "openai", DatasetName: "sonnet", Model: model,
		NumPrompts: 10, RequestRate: rate(100), SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 4, SaveDetailed: true})
	if got := res.Outcome.Result.Completed; got != 20 {
		t.Fatalf("completed %d, want 2 x 10", got)
	}
	if res.Outcome.Info.NumPrompts != 20 {
		t.Errorf("num_prompts %d", res.Outcome.Info.NumPrompts)
	}
}

// With max_concurrency the rate stays strict: requests wait for a slot,
// their queueing is recorded apart and never folded into TTFT.
func TestMaxConcurrencyQueueTimeIsSeparate(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 40 * time.Millisecond, ITL: 5 * time.Millisecond})
	res := bench(t, config.Request{BaseURL: url, Backend: "openai", DatasetName: "sonnet", Model: model,
		NumPrompts: 40, MaxConcurrency: 2, SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 2})
	h, r := res.Health, res.Outcome.Result
	if h.QueueTimeP99Ms < 100 {
		t.Errorf("queue time p99 %.1f ms: 40 requests at once through 2 slots must queue", h.QueueTimeP99Ms)
	}
	if r.TTFT.Percentiles[0].Value > 150 {
		t.Errorf("TTFT p99 %.1f ms includes queueing (server TTFT is 40 ms)", r.TTFT.Percentiles[0].Value)
	}
}
