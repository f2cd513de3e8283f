package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// The sampler reads the simulator's vLLM metrics during a run: queueing
// shows up as waiting requests, token counters as deltas.
func TestServerSamplerSeesQueueAndTokens(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 30 * time.Millisecond, ITL: 5 * time.Millisecond, MaxNumSeqs: 2})
	sampler := engine.SampleServer(context.Background(), url, 10*time.Millisecond)
	bench(t, config.Request{BaseURL: url, Backend: "openai", DatasetName: "sonnet", Model: model, NumPrompts: 12,
		SonnetInputLen: 200, SonnetPrefixLen: 50, SonnetOutputLen: 4})
	m := sampler.Stop()
	if m.Samples < 3 {
		t.Fatalf("only %d samples", m.Samples)
	}
	if m.WaitingMax < 1 {
		t.Errorf("max waiting %v: 12 requests on 2 slots must queue", m.WaitingMax)
	}
	if m.GenerationTokens != 12*4 {
		t.Errorf("generation tokens delta %v, want 48", m.GenerationTokens)
	}
	if m.PromptTokens <= 0 || m.KVCacheUsageMax <= 0 {
		t.Errorf("prompt tokens %v, kv cache max %v", m.PromptTokens, m.KVCacheUsageMax)
	}
}
