package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Interruption reasons recorded by LoadSlice.
const (
	ReasonNoWorker = "interrupted: no worker was running this slice at the request's send time (worker restart)"
	ReasonStopped  = "interrupted: the run was stopped or cancelled"
)

// LoadSlice sends one replica's share of one slice, anchored to the run's
// T0, and follows the slice protocol: records go to numbered parts in the
// store, then the heartbeat says how many are stored. A retry reads what is
// stored, never resends it, sends what is still due, and records as
// interrupted what fell due while no worker ran, so every request of the
// slice is counted exactly once.
func (a *Activities) LoadSlice(ctx context.Context, in SliceInput) (SliceResult, error) {
	log := a.Log.With(zap.String("run_id", in.RunID), zap.Int("slice", in.Slice), zap.Int("replica", in.Replica))
	req := in.Request
	if in.Model != "" {
		req.Model = in.Model
	}
	plan, err := a.plan(ctx, req, in.Endpoint)
	if err != nil {
		return SliceResult{}, err
	}
	client, err := plan.Client(in.Endpoint)
	if err != nil {
		return SliceResult{}, invalid(err)
	}
	defer client.Close()
	summary := metrics.NewSummary()
	done, parts, err := a.stored(ctx, in, summary)
	if err != nil {
		return SliceResult{}, err
	}
	var last SliceProgress
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &last) == nil && last.PartsFlushed > parts {
		return SliceResult{}, fmt.Errorf("heartbeat says %d parts are stored but the store holds %d", last.PartsFlushed, parts)
	}
	resumed := parts > 0 || activity.GetInfo(ctx).Attempt > 1
	// Anchor T0 on this process's monotonic clock.
	t0 := time.Now().Add(time.Until(in.T0))
	t0Mono := loadgen.MonotonicSeconds(t0)
	elapsed := time.Since(t0).Seconds()

	rec := &engine.Recorder{Store: a.Store, RunID: in.RunID, Slice: in.Slice, Replica: in.Replica, FirstPart: parts,
		OnFlush: func(p, n int) { activity.RecordHeartbeat(ctx, SliceProgress{PartsFlushed: p, RecordsFlushed: n}) }}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	rec.Start(runCtx)

	prefix := engine.RequestIDPrefix(req, in.RunID, in.Replica)
	var toSend []loadgen.Arrival
	for _, arr := range plan.SliceArrivals(in.Slice) {
		switch {
		case done[arr.Index]:
		case (resumed || in.Gap != "") && arr.Offset < elapsed:
			reason := ReasonNoWorker
			if in.Gap != "" && !resumed {
				reason = "interrupted: " + in.Gap
			}
			r := interrupted(arr, in.Replica, prefix, reason)
			summary.Add(r)
			rec.Add(r)
		default:
			toSend = append(toSend, arr)
		}
	}

	// Stop sending when the workflow cancels (stop early, cancel) or the
	// worker shuts down; the latter leaves unsent requests to the retry.
	var workerStopping atomic.Bool
	go func() {
		select {
		case <-ctx.Done():
		case <-activity.GetWorkerStopChannel(ctx):
			workerStopping.Store(true)
		case <-runCtx.Done():
			return
		}
		cancelRun()
	}()
	go heartbeat(runCtx, ctx, rec)

	server := engine.SampleServer(runCtx, in.Endpoint, sampleEvery(req.SliceSeconds))
	firstSend := math.Inf(1)
	sliceStart := float64(in.Slice) * req.SliceSeconds
	stats, runErr := loadgen.Run(runCtx, loadgen.RunOptions{
		Client: client, Samples: plan.Dataset.Sample, Arrivals: toSend, T0: t0,
		MaxConcurrency: req.MaxConcurrency, RequestIDPrefix: prefix, Replica: in.Replica,
		Sink: func(r metrics.Record) {
			if r.Error == loadgen.ReasonNotSent && workerStopping.Load() {
				return // never sent: the retry sends it or records it
			}
			if r.StartTime != 0 {
				r.StartTime -= t0Mono
				firstSend = min(firstSend, r.ScheduledAt+r.Lateness)
			}
			if r.Status == metrics.StatusInterrupted {
				r.Error = ReasonStopped + ": " + r.Error
			}
			summary.Add(r)
			rec.Add(r)
			if a.Telemetry != nil {
				a.Telemetry.Observe(in.RunID, in.Replica, r)
			}
		},
	})
	flushErr := rec.Close()
	cs, _ := json.Marshal(engine.ClientStats{Sent: stats.Sent, CPUSeconds: stats.CPUSeconds, Duration: stats.Duration})
	if err := a.Store.Put(ctx, results.ClientStatsKey(in.RunID, in.Slice, in.Replica), cs); err != nil {
		log.Warn("client stats not stored", zap.Error(err))
	}
	if m := server.Stop(); m.Samples > 0 {
		b, _ := json.Marshal(m)
		if err := a.Store.Put(ctx, results.ServerMetricsKey(in.RunID, in.Slice, in.Replica), b); err != nil {
			log.Warn("server metrics not stored", zap.Error(err))
		}
	}
	p, n := rec.Stored()
	activity.RecordHeartbeat(ctx, SliceProgress{PartsFlushed: p, RecordsFlushed: n})
	log.Info("slice done", zap.Int("sent", stats.Sent), zap.Int("completed", stats.Completed),
		zap.Int("failed", stats.Failed), zap.Int("interrupted", stats.Interrupted),
		zap.Float64("lateness_p99_ms", stats.LatenessP99*1000), zap.Bool("resumed", resumed))
	if in.Replica == 0 && a.PrometheusURL != "" {
		a.storeGPUPower(ctx, in, req.SliceSeconds)
	}
	if flushErr != nil {
		return SliceResult{}, flushErr
	}
	if workerStopping.Load() {
		return SliceResult{}, errors.New("worker shutting down; the slice resumes on another attempt")
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return SliceResult{}, runErr
	}
	res := SliceResult{Slice: in.Slice, Replica: in.Replica, Summary: summary, Parts: p, Resumed: resumed, FirstSendDelay: -1}
	if !math.IsInf(firstSend, 1) {
		res.FirstSendDelay = firstSend - sliceStart
	}
	return res, nil
}

// storeGPUPower records the GPUs' power over the slice's window; one
// replica's activity does it for the slice.
func (a *Activities) storeGPUPower(ctx context.Context, in SliceInput, sliceSeconds float64) {
	window := time.Duration(sliceSeconds * float64(time.Second))
	end := in.T0.Add(time.Duration(in.Slice+1) * window)
	if now := time.Now(); now.Before(end) {
		end = now
	}
	p, err := engine.QueryGPUPower(ctx, &http.Client{Timeout: 30 * time.Second}, a.PrometheusURL, a.DCGMSelector, end, window)
	if err != nil || p == nil {
		a.Log.Warn("no GPU power from Prometheus", zap.Error(err), zap.Int("slice", in.Slice))
		return
	}
	b, _ := json.Marshal(p)
	if err := a.Store.Put(ctx, results.SliceGPUKey(in.RunID, in.Slice), b); err != nil {
		a.Log.Warn("GPU power not stored", zap.Error(err))
	}
}

// sampleEvery spaces the server /metrics samples: about 10 per slice,
// between 1 s and 30 s apart.
func sampleEvery(sliceSeconds float64) time.Duration {
	return min(max(time.Duration(sliceSeconds*float64(time.Second))/10, time.Second), 30*time.Second)
}

func heartbeat(runCtx, ctx context.Context, rec *engine.Recorder) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-runCtx.Done():
			return
		case <-t.C:
			p, n := rec.Stored()
			activity.RecordHeartbeat(ctx, SliceProgress{PartsFlushed: p, RecordsFlushed: n})
		}
	}
}

// stored reads the parts an earlier attempt stored for this (slice,
// replica): the requests they hold are done.
func (a *Activities) stored(ctx context.Context, in SliceInput, summary *metrics.Summary) (map[int]bool, int, error) {
	keys, err := a.Store.List(ctx, results.ReplicaPrefix(in.RunID, in.Slice, in.Replica))
	if err != nil {
		return nil, 0, err
	}
	done := map[int]bool{}
	parts := 0
	for _, key := range keys {
		ref, err := results.ParsePartKey(key)
		if err != nil {
			continue
		}
		parts = max(parts, ref.Part+1)
		rc, err := a.Store.Open(ctx, key)
		if err != nil {
			return nil, 0, err
		}
		err = results.DecodePart(rc, func(r metrics.Record) error {
			if !done[r.Index] {
				done[r.Index] = true
				summary.Add(r)
			}
			return nil
		})
		rc.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", key, err)
		}
	}
	return done, parts, nil
}

func interrupted(arr loadgen.Arrival, replica int, prefix, reason string) metrics.Record {
	return metrics.Record{RequestID: fmt.Sprintf("%s%d", prefix, arr.Index), Index: arr.Index, Replica: replica,
		Status: metrics.StatusInterrupted, Error: reason, ScheduledAt: arr.Offset, ITL: []float64{}}
}
