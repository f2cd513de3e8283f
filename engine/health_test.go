package engine_test

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
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
