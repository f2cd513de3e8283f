package engine_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// A generator starved of CPU (one OS thread shared with busy loops) falls
// behind its schedule; the self-check says so in the result and under the
// table, so nobody mistakes a client limit for a server limit.
func TestStarvedGeneratorRaisesTheWarning(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 5 * time.Millisecond, ITL: 1 * time.Millisecond})
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	defer stop.Store(true)
	for range 4 {
		go func() {
			x := 0
			for !stop.Load() {
				x++
			}
		}()
	}
	res := bench(t, config.Request{BaseURL: url, Backend: "openai", DatasetName: "sonnet", Model: model,
		NumPrompts: 300, RequestRate: rate(300), SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 4})
	h := res.Health
	if h.Warning == "" || h.LatenessP99Ms <= 5 && h.ClientCPUUtil <= 0.9 {
		t.Fatalf("no warning from a starved generator: %+v", h)
	}
	if !strings.Contains(res.Extras[len(res.Extras)-1].Value, `"warning"`) {
		t.Errorf("client_health lacks the warning: %s", res.Extras[len(res.Extras)-1].Value)
	}
	t.Logf("starved: lateness p99 %.1f ms, CPU %.0f%%", h.LatenessP99Ms, h.ClientCPUUtil*100)
}

// A run at an unlimited rate (vLLM's default) writes its requested rate as
// vLLM writes request_rate, "inf", and result.json stays valid JSON.
func TestUnlimitedRateKeepsResultJSONValid(t *testing.T) {
	local := variedRun(t)
	req := config.Request{SliceSeconds: 3}.Defaults()
	if !req.RequestRate.IsInf() {
		t.Fatalf("the default rate is %v, not unlimited", req.RequestRate)
	}
	f, err := engine.Finalize(t.Context(), local, "run", engine.FinalizeOptions{Request: &req, NoTokenizer: true})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Health struct {
			RequestedRate any `json:"requested_rate"`
		} `json:"client_health"`
	}
	if err := json.Unmarshal([]byte(f.ResultJSON), &got); err != nil {
		t.Fatalf("result.json is not JSON (%v):\n%s", err, f.ResultJSON)
	}
	if got.Health.RequestedRate != "inf" {
		t.Errorf("client_health.requested_rate = %v, want \"inf\"", got.Health.RequestedRate)
	}
}
