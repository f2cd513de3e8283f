package engine

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Range is one attempt at one replica's share of a range of the schedule:
// what `starter bench` runs for each replica and what a LoadSlice activity
// runs for its (slice, replica).
type Range struct {
	Plan                    *Plan
	Store                   results.Store
	RunID                   string
	Slice, Replica, Attempt int
	BaseURL                 string
	T0                      time.Time
	Send                    []loadgen.Arrival // arrivals to send, in offset order
	Unsent                  []metrics.Record  // stored without sending (due while nobody could send them)
	// Keep sees each finished request's record before it is stored; false
	// leaves the request to the next attempt (a worker shutting down leaves
	// its unsent arrivals).
	Keep     func(*metrics.Record) bool
	OnRecord func(metrics.Record) // after the record is queued for the store
	OnFlush  func(partsStored, recordsStored int)
	OnRetry  func(err error, partsWaiting int)
	// FlushTimeout says, when the last request has ended, how long the
	// final flush may wait for the store (nil: 2 minutes); cancelling ctx
	// does not shorten it.
	FlushTimeout      func() time.Duration
	FlushEvery        time.Duration // recorder cadence (default 2 s)
	SampleServerEvery time.Duration // the server's /metrics (0: not sampled)
	SpillDir          string
}

// RangeResult is what a Range stored.
type RangeResult struct {
	Stats          loadgen.Stats
	Summary        *metrics.Summary // of every record this attempt stored
	Parts, Records int
	// FirstSend is the earliest actual send, seconds after T0 (+Inf when
	// nothing was sent).
	FirstSend float64
	// CompactErr says the unit was left uncompacted: every record is in its
	// parts, so readers read those instead.
	CompactErr error
}

// CutOffGrace is how long requests in flight when a range is stopped may
// still finish: the server is often just completing them, and a response it
// completed should be measured, not recorded as cut off. It must stay well
// inside the lease margin (activities.LeaseFor): a retry may start soon
// after an attempt lost its lease.
const CutOffGrace = time.Second

// RunRange sends rg.Send on their schedule, records every request, and when
// the last one ends (or ctx is cancelled: sending stops, and requests still
// in flight after CutOffGrace are cut off and recorded as interrupted) flushes every record to the store with its
// own deadline and compacts the unit. The error is about storing: nothing
// measured is dropped without one.
func RunRange(ctx context.Context, rg Range) (RangeResult, error) {
	res := RangeResult{Summary: metrics.NewSummary(), FirstSend: math.Inf(1)}
	client, err := rg.Plan.Client(rg.BaseURL)
	if err != nil {
		return res, &InputError{err}
	}
	defer client.Close()
	rec := &Recorder{Store: rg.Store, RunID: rg.RunID, Slice: rg.Slice, Replica: rg.Replica, Attempt: rg.Attempt,
		FlushEvery: rg.FlushEvery, SpillDir: rg.SpillDir, OnFlush: rg.OnFlush, OnRetry: rg.OnRetry}
	rec.Start()
	keep := func(r metrics.Record) {
		res.Summary.Add(r)
		rec.Add(r)
		if rg.OnRecord != nil {
			rg.OnRecord(r)
		}
	}
	for _, r := range rg.Unsent {
		keep(r)
	}
	var sampler *ServerSampler
	if rg.SampleServerEvery > 0 {
		sampler = SampleServer(ctx, rg.BaseURL, rg.SampleServerEvery)
	}
	t0Mono := loadgen.MonotonicSeconds(rg.T0)
	req := rg.Plan.Request
	stats, runErr := loadgen.Run(ctx, loadgen.RunOptions{
		Client: client, Samples: rg.Plan.Dataset.Sample, Arrivals: rg.Send, T0: rg.T0,
		MaxConcurrency: req.MaxConcurrency, RequestIDPrefix: RequestIDPrefix(req, rg.RunID, rg.Replica), Replica: rg.Replica,
		CutOffGrace: CutOffGrace,
		Sink: func(r metrics.Record) {
			if r.StartTime != 0 {
				r.StartTime -= t0Mono
				res.FirstSend = min(res.FirstSend, r.ScheduledAt+r.Lateness)
			}
			if rg.Keep == nil || rg.Keep(&r) {
				keep(r)
			}
		},
	})
	res.Stats = stats
	if runErr != nil && ctx.Err() != nil {
		runErr = nil // stopped: what ran is recorded
	}
	flushFor := 2 * time.Minute
	if rg.FlushTimeout != nil {
		flushFor = rg.FlushTimeout()
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushFor)
	defer cancel()
	flushErr := rec.Close(flushCtx)
	res.Parts, res.Records = rec.Stored()
	var server *ServerMetrics
	if sampler != nil {
		if m := sampler.Stop(); m.Samples > 0 {
			server = &m
		}
	}
	if flushErr == nil {
		cs := &ClientStats{Sent: stats.Sent, CPUSeconds: stats.CPUSeconds, Duration: stats.Duration}
		res.CompactErr = retryUntil(flushCtx, func() error {
			return Compact(flushCtx, rg.Store, rg.RunID, rg.Slice, rg.Replica, rg.Attempt, cs, server)
		})
	}
	return res, errors.Join(runErr, flushErr)
}

// retryUntil runs fn until it succeeds or ctx ends, backing off.
func retryUntil(ctx context.Context, fn func() error) error {
	wait := 250 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
