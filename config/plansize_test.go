package config_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
)

// PlanBytesPerPrompt, which the size limit multiplies, is at least what a
// real plan (engine.NewPlan plus its dispatch list) holds per prompt for
// each dataset, and not far above it.
func TestPlanBytesPerPromptIsAnUpperBound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plans of 100,000 prompts")
	}
	const n = 100_000
	rate := config.Rate(100)
	for _, req := range []config.Request{
		{DatasetName: "random", RandomInputLen: 16, RandomOutputLen: 4},
		{DatasetName: "sonnet", SonnetInputLen: 300, SonnetPrefixLen: 50, SonnetOutputLen: 4},
	} {
		if req.NumPrompts == 0 {
			req.NumPrompts = n
		}
		req.Model, req.RequestRate = "meta-llama/Llama-3.1-8B-Instruct", &rate
		req = req.Defaults()
		if _, err := engine.NewPlan(context.Background(), req, ""); err != nil { // warm the tokenizer
			t.Fatal(err)
		}
		before := heap()
		plan, err := engine.NewPlan(context.Background(), req, "")
		if err != nil {
			t.Fatal(err)
		}
		arrivals := plan.AllArrivals()
		perPrompt := float64(heap()-before) / float64(req.NumPrompts)
		runtime.KeepAlive(plan)
		runtime.KeepAlive(arrivals)
		t.Logf("%s: %.1f bytes per prompt", req.DatasetName, perPrompt)
		if perPrompt > config.PlanBytesPerPrompt || perPrompt < config.PlanBytesPerPrompt/3 {
			t.Errorf("%s: a plan holds %.1f bytes per prompt; PlanBytesPerPrompt is %d", req.DatasetName, perPrompt, config.PlanBytesPerPrompt)
		}
	}
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
