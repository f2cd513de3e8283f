package engine_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// aggregateGPU stores slices of two replicas with the given gpu.json
// (nil: none) and aggregates them.
func aggregateGPU(t *testing.T, gpu ...*engine.GPUPower) *engine.Outcome {
	t.Helper()
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for slice, g := range gpu {
		for replica := range 2 {
			body, err := results.EncodePart([]metrics.Record{{Index: slice, Replica: replica, Status: metrics.StatusCompleted,
				Success: true, TTFT: 0.01, Latency: 0.02, OutputTokens: 2, ITL: []float64{0.01}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Put(t.Context(), results.PartKey("run", slice, replica, 1, 0), body); err != nil {
				t.Fatal(err)
			}
		}
		if g != nil {
			b, _ := json.Marshal(g)
			if err := store.Put(t.Context(), results.SliceGPUKey("run", slice), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return aggregateStored(t, store)
}

// aggregateStored aggregates the stored run "run" as a 1 req/s run in 10 s
// slices.
func aggregateStored(t *testing.T, store results.Store) *engine.Outcome {
	t.Helper()
	rate := config.Rate(1)
	burst := 1.0
	out, err := engine.Aggregate(t.Context(), store, "run", engine.AggregateOptions{
		Request: config.Request{RequestRate: &rate, Burstiness: &burst, SliceSeconds: 10}, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func measuredSlice(watts float64) *engine.GPUPower {
	fig := func(gpus int, w float64) engine.GPUFigures {
		return engine.GPUFigures{GPUs: gpus, AvgWattsGPU: w, MaxWattsGPU: w + 50, AvgWatts: w * float64(gpus),
			MaxWatts: (w + 20) * float64(gpus), AvgUtilPct: w / 10, MaxUtilPct: 100}
	}
	return &engine.GPUPower{Measured: true, WindowSeconds: 10, Model: h100, TDPWatts: 700,
		Hosts:    []engine.GPUHost{{Host: "gpu-node-a", Model: h100, GPUFigures: fig(8, watts)}, {Host: "gpu-node-b", Model: h100, GPUFigures: fig(8, watts+100)}},
		Replicas: []engine.GPUReplica{{Replica: 0, Pod: "vllm-run-0", Host: "gpu-node-a", GPUFigures: fig(8, watts)}}}
}

// The run's GPU power is the slices' per host and replica, in one line
// too; a slice that was not measured is counted and its reason kept.
func TestAggregateGPUPowerPerHostAndReplica(t *testing.T) {
	out := aggregateGPU(t, measuredSlice(500), measuredSlice(600), &engine.GPUPower{Note: engine.GPUNotConfigured})
	g := out.GPU
	if !g.Measured || g.Slices != 2 || g.NotMeasured != 1 || g.Model != h100 || g.TDPWatts != 700 || g.GPUs != 16 {
		t.Fatalf("%+v", g)
	}
	if g.Note != "1 of 3 slices not measured, the first: set PROMETHEUS_URL and DCGM_SELECTOR on the worker" {
		t.Errorf("note %q", g.Note)
	}
	// Per GPU: host a 550 W and host b 650 W on average; peaks 700 W.
	if g.AvgWattsGPU != 600 || g.MaxWattsGPU != 750 || g.AvgUtilPct != 60 || g.MaxUtilPct != 100 {
		t.Errorf("run figures %+v", g)
	}
	if len(g.Hosts) != 2 || g.Hosts[1].Host != "gpu-node-b" || g.Hosts[1].AvgWattsGPU != 650 || g.Hosts[1].AvgWatts != 5200 ||
		g.Hosts[1].MaxWatts != 8*720 || g.Hosts[1].GPUs != 8 {
		t.Errorf("hosts %+v", g.Hosts)
	}
	if len(g.Replicas) != 1 || g.Replicas[0].Pod != "vllm-run-0" || g.Replicas[0].AvgWattsGPU != 550 {
		t.Errorf("replicas %+v", g.Replicas)
	}
	want := "16 × NVIDIA H100 80GB HBM3 (TDP 700 W) on 2 hosts: per GPU 600 W average, 750 W peak; " +
		"per host up to 5200 W average, 5760 W peak; utilisation 60% average, 100% peak"
	if g.Summary != want {
		t.Errorf("summary\n%s\nwant\n%s", g.Summary, want)
	}
	// Each slice's figures are on its first row only.
	for _, r := range out.Timeseries {
		first, measured := r.Replica == 0, r.Slice < 2
		if (r.GPU != nil) != first || first && r.GPU.Measured != measured {
			t.Errorf("slice %d replica %d: %+v", r.Slice, r.Replica, r.GPU)
		}
	}
}

// Without Prometheus, or without any stored figures, result.json's
// gpu_power says why instead of leaving the key out.
func TestAggregateGPUPowerNotMeasured(t *testing.T) {
	for _, c := range []struct {
		gpu  []*engine.GPUPower
		note string
	}{
		{[]*engine.GPUPower{{Note: engine.GPUNotConfigured}, {Note: engine.GPUNotConfigured}}, engine.GPUNotConfigured},
		{[]*engine.GPUPower{nil}, "not measured: the slice stored no GPU figures"},
	} {
		out := aggregateGPU(t, c.gpu...)
		var gpu string
		extras, err := engine.Extras(engine.Accounting{}, nil, out.GPU, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range extras {
			if e.Key == "gpu_power" {
				gpu = e.Value
			}
		}
		want := `{"measured":false,"note":"` + c.note + `","slices":0,"slices_not_measured":` + strconv.Itoa(len(c.gpu)) + `}`
		if gpu != want {
			t.Errorf("gpu_power %s, want %s", gpu, want)
		}
	}
	if g := aggregateGPU(t).GPU; g.Measured || !strings.HasPrefix(g.Note, "not measured: no slice") {
		t.Errorf("no slices: %+v", g)
	}
}
