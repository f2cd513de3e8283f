package vllmsim

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Bucket bounds as vLLM's engine metrics use them (seconds).
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
		1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	itlBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
		1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}
	e2eBuckets = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
		40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
)

// engineMetrics holds the vLLM metrics the simulator exports, in a registry
// of its own so several servers can live in one process.
type engineMetrics struct {
	registry         *prometheus.Registry
	preemptions      prometheus.Counter
	promptTokens     prometheus.Counter
	generationTokens prometheus.Counter
	ttft             prometheus.Histogram
	itl              prometheus.Histogram
	tpot             prometheus.Histogram // older name of the per-token ITL histogram
	e2e              prometheus.Histogram
	success          *prometheus.CounterVec // by finished_reason
}

func newEngineMetrics(model string, running, waiting, kvUsage func() float64) *engineMetrics {
	labels := prometheus.Labels{"model_name": model}
	gauge := func(name, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels})
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: labels, Buckets: buckets})
	}
	m := &engineMetrics{
		registry:         prometheus.NewRegistry(),
		preemptions:      counter("vllm:num_preemptions_total", "Cumulative number of preemptions (simulated stalls)."),
		promptTokens:     counter("vllm:prompt_tokens_total", "Number of prefill tokens processed."),
		generationTokens: counter("vllm:generation_tokens_total", "Number of generation tokens processed."),
		ttft:             histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", ttftBuckets),
		itl:              histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", itlBuckets),
		tpot:             histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds (deprecated name of vllm:inter_token_latency_seconds).", itlBuckets),
		e2e:              histogram("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", e2eBuckets),
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vllm:request_success_total", Help: "Count of finished requests by finish reason.", ConstLabels: labels,
		}, []string{"finished_reason"}),
	}
	m.registry.MustRegister(
		gauge("vllm:num_requests_running", "Number of requests in model execution batches.", running),
		gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting),
		gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", kvUsage),
		gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kvUsage),
		m.preemptions, m.promptTokens, m.generationTokens, m.ttft, m.itl, m.tpot, m.e2e, m.success,
	)
	return m
}

func (m *engineMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
