package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/k8s"
	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Interruption reasons recorded by LoadSlice.
const (
	ReasonNoWorker       = "interrupted: no worker was running this slice at the request's send time (worker restart)"
	ReasonStopped        = "interrupted: the run was stopped or cancelled"
	ReasonLeaseLost      = "interrupted: this worker lost contact with Temporal, so another attempt may run the slice"
	ReasonWorkerStopping = "interrupted: the worker was shutting down; another attempt runs the rest of the slice"
	ReasonOverdue        = "interrupted: overdue when the slice could start"
)

// StopFlushTimeout bounds the final flush of a slice whose worker is
// shutting down; the worker's stop timeout must be longer.
const StopFlushTimeout = 20 * time.Second

// OverdueTolerance is how late an arrival may still be sent when its slice
// starts or resumes; an arrival later than that is recorded as
// interrupted, never fired in a burst with the others.
const OverdueTolerance = 2 * time.Second

// LoadSlice sends one replica's share of one slice, anchored to the run's
// T0, and follows the slice protocol: records go to numbered parts in the
// store under this attempt's number, then the heartbeat says how many are
// stored. A retry reads what every attempt stored, never resends it, sends
// what is still due, and records as interrupted what fell due while no
// worker ran, so every request of the slice is counted exactly once.
//
// The attempt holds a lease: it heartbeats every second, and when no
// heartbeat has reached Temporal for leaseFor (or Temporal says the
// activity is cancelled or gone) it stops sending, so a retry that Temporal
// starts after the heartbeat timeout never sends what this attempt sent.
func (a *Activities) LoadSlice(ctx context.Context, in SliceInput) (SliceResult, error) {
	info := activity.GetInfo(ctx)
	log := a.Log.With(zap.String("run_id", in.RunID), zap.Int("slice", in.Slice), zap.Int("replica", in.Replica),
		zap.Int32("attempt", info.Attempt))
	// Stop sending when the workflow cancels (stop early, cancel), the lease
	// is lost, or the worker shuts down; the last two leave unsent requests
	// to the retry. The lease is held from the start: building a plan or
	// reading what earlier attempts stored must not outlast the heartbeat
	// timeout unheard.
	runCtx, cancelRun := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRun(nil)
	var workerStopping atomic.Bool
	go func() {
		select {
		case <-ctx.Done():
			cancelRun(errStopped)
		case <-activity.GetWorkerStopChannel(ctx):
			workerStopping.Store(true)
			cancelRun(errWorkerStopping)
		case <-runCtx.Done():
		}
	}()
	var progress atomic.Pointer[SliceProgress]
	progress.Store(&SliceProgress{Attempt: int(info.Attempt)})
	lease, confirmed := a.holdLease(ctx, runCtx, cancelRun, log, func() any { return *progress.Load() })
	defer lease()

	req := in.Request
	if in.Model != "" {
		req.Model = in.Model
	}
	if in.ServedModelName != "" {
		req.ServedModelName = in.ServedModelName
	}
	plan, err := a.plan(ctx, req, in.Endpoint)
	if err != nil {
		return SliceResult{}, err
	}
	// A first attempt (no earlier attempt, no heartbeat of one) has nothing
	// stored to resume: it needs no store to start, so a slice starts on
	// time during a storage outage.
	stored := &engine.UnitRecords{}
	if info.Attempt > 1 || activity.HasHeartbeatDetails(ctx) {
		if stored, err = a.resumeFrom(ctx, in, log); err != nil {
			return SliceResult{}, err
		}
	}
	var last SliceProgress
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &last) == nil && last.PartsFlushed > 0 {
		if n := countParts(ctx, a.Store, in, last.Attempt); n < last.PartsFlushed {
			return SliceResult{}, fmt.Errorf("attempt %d heartbeated %d stored parts but the store holds %d", last.Attempt, last.PartsFlushed, n)
		}
	}
	// An attempt sends nothing and stores nothing until Temporal has heard
	// it: a task delivered late (its poll's answer held by a cut-off
	// network) may belong to an attempt Temporal has already timed out and
	// retried elsewhere.
	select {
	case <-confirmed:
	case <-runCtx.Done():
		return SliceResult{}, context.Cause(runCtx)
	}
	resumed := len(stored.Records) > 0 || info.Attempt > 1
	t0 := time.Now().Add(time.Until(in.T0)) // T0 on this process's monotonic clock
	elapsed := time.Since(t0).Seconds()

	done := map[int]bool{}
	summary := metrics.NewSummary()
	for _, r := range stored.Records {
		done[r.Index] = true
		summary.Add(r)
	}
	prefix := engine.RequestIDPrefix(req, in.RunID, in.Replica)
	var send []loadgen.Arrival
	var unsent []metrics.Record
	for _, arr := range plan.SliceArrivals(in.Slice) {
		late := elapsed - arr.Offset
		switch {
		case done[arr.Index]:
		case resumed && late > 0:
			unsent = append(unsent, interrupted(arr, in.Replica, prefix, ReasonNoWorker))
		case in.Gap != "" && late > 0:
			unsent = append(unsent, interrupted(arr, in.Replica, prefix, "interrupted: "+in.Gap))
		case late > OverdueTolerance.Seconds():
			unsent = append(unsent, interrupted(arr, in.Replica, prefix,
				fmt.Sprintf("%s by %.1f s (the slice's activity started late)", ReasonOverdue, late)))
		default:
			send = append(send, arr)
		}
	}

	res, flushErr := engine.RunRange(runCtx, engine.Range{
		Plan: plan, Store: a.Store, RunID: in.RunID, Slice: in.Slice, Replica: in.Replica, Attempt: int(info.Attempt),
		BaseURL: in.Endpoint, T0: t0, Send: send, Unsent: unsent, SpillDir: a.SpillDir,
		SampleServerEvery: sampleEvery(req.SliceSeconds),
		FlushTimeout: func() time.Duration {
			if workerStopping.Load() {
				return StopFlushTimeout // the process exits soon: what is not stored by then is spilled to disk
			}
			return 2 * time.Minute
		},
		Keep: func(r *metrics.Record) bool {
			if r.Error == loadgen.ReasonNotSent && leavesUnsent(context.Cause(runCtx)) {
				return false // never sent: the retry sends it or records it
			}
			if r.Status == metrics.StatusInterrupted {
				r.Error = interruptReason(context.Cause(runCtx)) + ": " + r.Error
			}
			return true
		},
		OnRecord: func(r metrics.Record) {
			if a.Telemetry != nil {
				a.Telemetry.Observe(in.RunID, in.Replica, r)
			}
		},
		OnFlush: func(p, n int) {
			progress.Store(&SliceProgress{Attempt: int(info.Attempt), PartsFlushed: p, RecordsFlushed: n})
		},
		OnRetry: func(err error, waiting int) {
			log.Warn("store did not take a part; kept and retried", zap.Error(err), zap.Int("parts_waiting", waiting))
		},
	})
	lease()
	summary.Merge(res.Summary)
	log.Info("slice done", zap.Int("sent", res.Stats.Sent), zap.Int("completed", res.Stats.Completed),
		zap.Int("failed", res.Stats.Failed), zap.Int("interrupted", res.Stats.Interrupted),
		zap.Float64("lateness_p99_ms", res.Stats.LatenessP99*1000), zap.Bool("resumed", resumed),
		zap.Int("parts", res.Parts), zap.NamedError("compaction", res.CompactErr))
	if in.Replica == 0 {
		a.storeGPUPower(context.WithoutCancel(ctx), in, req)
	}
	if flushErr != nil {
		return SliceResult{}, flushErr
	}
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, errStopped) {
		return SliceResult{}, cause // the retry resumes what this attempt stored
	}
	out := SliceResult{Slice: in.Slice, Replica: in.Replica, Summary: summary, Parts: res.Parts, Resumed: resumed, FirstSendDelay: -1}
	if !math.IsInf(res.FirstSend, 1) {
		out.FirstSendDelay = res.FirstSend - float64(in.Slice)*req.SliceSeconds
	}
	return out, nil
}

var (
	errStopped        = errors.New("the run was stopped or cancelled")
	errWorkerStopping = errors.New("worker shutting down; the slice resumes on another attempt")
	errLeaseLost      = errors.New("lost contact with Temporal for longer than the lease; another attempt resumes the slice")
)

func interruptReason(cause error) string {
	switch {
	case errors.Is(cause, errLeaseLost):
		return ReasonLeaseLost
	case errors.Is(cause, errWorkerStopping):
		return ReasonWorkerStopping
	}
	return ReasonStopped
}

// leavesUnsent: the slice goes on in another attempt, which sends (or
// records) what this one did not send.
func leavesUnsent(cause error) bool {
	return errors.Is(cause, errLeaseLost) || errors.Is(cause, errWorkerStopping)
}

// Lease timing: a heartbeat every second; sending stops when none has
// succeeded for leaseFor, well inside the slice's heartbeat timeout, after
// which Temporal may start a retry.
const (
	heartbeatEvery   = time.Second
	heartbeatTimeout = 2 * time.Second
)

// LeaseFor is how long an attempt keeps sending without a heartbeat that
// reached Temporal, for a given heartbeat timeout: half of it, so a retry
// (started after the timeout plus the retry interval) and OverdueTolerance
// never overlap the last sends of the attempt it replaces.
func LeaseFor(heartbeatTimeout time.Duration) time.Duration { return heartbeatTimeout / 2 }

// holdLease heartbeats details at once and then every second until the
// returned stop is called; confirmed is closed by the first heartbeat that
// reaches Temporal. With a synchronous Heartbeat (the worker's client), a
// failing Temporal, a cancelled or vanished activity ends the lease: run is
// cancelled (errLeaseLost, or errStopped when cancelled).
func (a *Activities) holdLease(ctx, runCtx context.Context, cancelRun context.CancelCauseFunc, log *zap.Logger, details func() any) (stop func(), confirmed <-chan struct{}) {
	stopped := make(chan struct{})
	finished := make(chan struct{})
	ok := make(chan struct{})
	var confirm sync.Once
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	go func() {
		defer close(finished)
		lastOK := time.Now()
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			if a.Heartbeat == nil {
				activity.RecordHeartbeat(ctx, details())
				confirm.Do(func() { close(ok) })
			} else {
				sent := time.Now()
				hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), heartbeatTimeout)
				err := a.Heartbeat(hctx, details())
				cancel()
				switch {
				case err == nil:
					lastOK = sent
					confirm.Do(func() { close(ok) })
				case isCanceled(err):
					cancelRun(errStopped)
				case isGone(err):
					log.Warn("Temporal no longer knows this attempt; stopping it", zap.Error(err))
					cancelRun(errLeaseLost)
				case timeout > 0 && time.Since(lastOK) > LeaseFor(timeout):
					if runCtx.Err() == nil {
						log.Warn("no heartbeat reached Temporal within the lease; stopping sends", zap.Error(err),
							zap.Duration("since_last", time.Since(lastOK)))
					}
					cancelRun(errLeaseLost)
				}
			}
			select {
			case <-stopped:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stopped)
			<-finished
		})
	}, ok
}

// resumeFrom uploads what earlier attempts on this machine kept on disk,
// then reads everything every attempt stored for the slice's replica.
func (a *Activities) resumeFrom(ctx context.Context, in SliceInput, log *zap.Logger) (*engine.UnitRecords, error) {
	n, err := engine.RecoverSpilled(ctx, a.Store, a.SpillDir, results.ReplicaPrefix(in.RunID, in.Slice, in.Replica))
	if err != nil {
		return nil, fmt.Errorf("uploading parts an earlier attempt kept on disk: %w", err)
	}
	if n > 0 {
		log.Info("uploaded parts an earlier attempt kept on disk", zap.Int("parts", n))
	}
	return engine.ReadUnitOf(ctx, a.Store, in.RunID, in.Slice, in.Replica)
}

// storeGPUPower records the GPUs' power over the slice's window, or why
// it is not measured; one replica's activity does it for the slice. A
// Kubernetes run's figures are also per replica, by its pods' names.
func (a *Activities) storeGPUPower(ctx context.Context, in SliceInput, req config.Request) {
	window := time.Duration(req.SliceSeconds * float64(time.Second))
	q := engine.GPUQuery{PrometheusURL: a.PrometheusURL, Selector: a.DCGMSelector, Window: window,
		End: in.T0.Add(time.Duration(in.Slice+1) * window)}
	if now := time.Now(); now.Before(q.End) {
		q.End = now
	}
	if req.Deploy == "kubernetes" {
		q.Namespace, q.StatefulSet = cmp.Or(req.Namespace, "default"), k8s.ResourceName(in.RunID) // k8s.Options' default namespace
	}
	p := engine.QueryGPUPower(ctx, &http.Client{Timeout: 30 * time.Second}, q)
	if !p.Measured && p.Note != engine.GPUNotConfigured {
		a.Log.Warn("no GPU power from Prometheus", zap.String("note", p.Note), zap.Int("slice", in.Slice))
	}
	b, err := json.Marshal(p)
	if err == nil {
		err = a.Store.Put(ctx, results.SliceGPUKey(in.RunID, in.Slice), b)
	}
	if err != nil {
		a.Log.Warn("GPU power not stored", zap.Error(err))
	}
}

// sampleEvery spaces the server /metrics samples: about 10 per slice,
// between 1 s and 30 s apart.
func sampleEvery(sliceSeconds float64) time.Duration {
	return min(max(time.Duration(sliceSeconds*float64(time.Second))/10, time.Second), 30*time.Second)
}

// countParts is how many parts attempt stored for the slice's replica.
func countParts(ctx context.Context, store results.Store, in SliceInput, attempt int) int {
	keys, err := store.List(ctx, results.ReplicaPrefix(in.RunID, in.Slice, in.Replica))
	if err != nil {
		return 0
	}
	n := 0
	for _, k := range keys {
		if ref, err := results.ParseObjectKey(k); err == nil && ref.Kind == results.KindPart && ref.Attempt == attempt {
			n++
		}
	}
	return n
}

func interrupted(arr loadgen.Arrival, replica int, prefix, reason string) metrics.Record {
	return metrics.Record{RequestID: fmt.Sprintf("%s%d", prefix, arr.Index), Index: arr.Index, Replica: replica,
		Status: metrics.StatusInterrupted, Error: reason, ScheduledAt: arr.Offset, ITL: []float64{}}
}
