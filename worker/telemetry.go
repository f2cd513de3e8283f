package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// telemetry exposes the load engine's live numbers, labelled by run and
// replica.
type telemetry struct {
	requests *prometheus.CounterVec
	failures *prometheus.CounterVec
	ttft     *prometheus.HistogramVec
	itl      *prometheus.HistogramVec
	e2el     *prometheus.HistogramVec
	lateness *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
}

func newTelemetry(reg prometheus.Registerer) *telemetry {
	labels := []string{"run_id", "replica"}
	buckets := prometheus.ExponentialBuckets(0.001, 1.5, 30)
	t := &telemetry{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vib_requests_total", Help: "Finished requests by status (completed, failed, interrupted)."}, append(labels, "status")),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vib_failures_total", Help: "Failed requests by reason (connection refused, HTTP 500, EOF, timed out...)."}, append(labels, "reason")),
		ttft:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vib_ttft_seconds", Help: "Client-measured time to first token.", Buckets: buckets}, labels),
		itl:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vib_itl_seconds", Help: "Client-measured inter-token latency.", Buckets: buckets}, labels),
		e2el:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vib_e2el_seconds", Help: "Client-measured end-to-end latency.", Buckets: buckets}, labels),
		lateness: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vib_send_lateness_seconds", Help: "Actual send minus scheduled send.", Buckets: prometheus.ExponentialBuckets(0.00001, 2, 20)}, labels),
		tokens:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vib_output_tokens_total", Help: "Output tokens of completed requests."}, labels),
	}
	reg.MustRegister(t.requests, t.failures, t.ttft, t.itl, t.e2el, t.lateness, t.tokens)
	return t
}

func (t *telemetry) Observe(runID string, replica int, r metrics.Record) {
	rep := strconv.Itoa(replica)
	status := string(r.Status)
	t.requests.WithLabelValues(runID, rep, status).Inc()
	if r.Status == metrics.StatusFailed {
		t.failures.WithLabelValues(runID, rep, metrics.FailureReason(r.Error)).Inc()
	}
	if r.Status != metrics.StatusCompleted {
		return
	}
	t.ttft.WithLabelValues(runID, rep).Observe(r.TTFT)
	t.e2el.WithLabelValues(runID, rep).Observe(r.Latency)
	t.lateness.WithLabelValues(runID, rep).Observe(max(r.Lateness, 0))
	t.tokens.WithLabelValues(runID, rep).Add(float64(r.OutputTokens))
	h := t.itl.WithLabelValues(runID, rep)
	for _, gap := range r.ITL {
		h.Observe(gap)
	}
}
