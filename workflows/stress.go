// Package workflows holds StressTestWorkflow: validate, prepare, deploy,
// wait ready, run load in time slices, aggregate, tear down. Workflow code
// only: deterministic, small, replay-tested.
package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Names a client uses.
const (
	WorkflowName           = "StressTestWorkflow"
	OrchestrationTaskQueue = "vib-orchestration"
	LoadTaskQueue          = "vib-load"
	ProgressQuery          = "progress"
	StopSignal             = "stop"
	StopUpdate             = "stop"
)

// Phases; also the value of the VibPhase search attribute.
const (
	PhasePreparing   = "preparing"
	PhaseDeploying   = "deploying"
	PhaseWaiting     = "waiting-ready"
	PhaseLoading     = "loading"
	PhaseAggregating = "aggregating"
	PhaseTearingDown = "tearing-down"
	PhaseDone        = "done"
	PhaseFailed      = "failed"
	PhaseCancelled   = "cancelled"
)

// sliceLead is how long before a slice's first scheduled send its
// activities are started, so a load worker is ready when the slice begins.
const sliceLead = 10 * time.Second

// Carry is the small state handed across continue-as-new: summaries and
// counters, never records (those live in the results store).
type Carry struct {
	RunID      string                `json:"run_id"`
	Plan       activities.Plan       `json:"plan"`
	Deployment activities.Deployment `json:"deployment"`
	StartedAt  time.Time             `json:"started_at"`
	T0         time.Time             `json:"t0"`
	NextSlice  int                   `json:"next_slice"`
	Segment    int                   `json:"segment"`
	Deployed   bool                  `json:"deployed"` // Deploy was attempted: teardown is due
	SlicesDone int                   `json:"slices_done"`
	Totals     *metrics.Summary      `json:"totals"`
	Latest     *metrics.Summary      `json:"latest,omitempty"`
	LatestIdx  int                   `json:"latest_slice"`
	// ByReplica are each replica's slices so far; Unreachable counts the
	// consecutive slices in which no request reached a replica.
	ByReplica   []*metrics.Summary `json:"by_replica,omitempty"`
	Unreachable []int              `json:"unreachable,omitempty"`
	Stopped     bool               `json:"stopped,omitempty"`
	StopReason  string             `json:"stop_reason,omitempty"`
	// Health and FailedPct are the values last set on the search attributes.
	Health    string  `json:"health,omitempty"`
	FailedPct float64 `json:"failed_pct,omitempty"`
	// InFlight are the slice children not yet reported.
	InFlight []InFlightSlice `json:"in_flight,omitempty"`
}

// Outcome is what a finished run returns.
type Outcome struct {
	RunID   string                     `json:"run_id"`
	Partial bool                       `json:"partial"`
	Reason  string                     `json:"reason,omitempty"`
	Result  activities.AggregateResult `json:"result"`
}

var errContinueAsNew = errors.New("continue as new")

// decodeRequest decodes the workflow's input (pure: no I/O): a client's
// request is validated, every problem named; continue-as-new hands on one
// that was.
func decodeRequest(input json.RawMessage, first bool) (config.Request, error) {
	if first {
		return config.DecodeWorkflowInput(input)
	}
	return config.DecodeRequest(input)
}

type run struct {
	ctx   workflow.Context
	req   config.Request
	c     *Carry
	phase string
	// latestSlices collects one slice's replica summaries until all arrive.
	pending map[int]*metrics.Summary
	arrived map[int]int
	// wake tells the slice loop that a stop came in (signal or update).
	wake workflow.Channel
}

// StressTestWorkflow runs one durable benchmark. Its input is the request
// as JSON, decoded here so that a wrong type fails the run in its first
// workflow task, naming the field (a typed parameter would fail to decode
// inside the SDK and retry the task forever). carry is nil when a client
// starts it; continue-as-new passes the state on.
func StressTestWorkflow(ctx workflow.Context, input json.RawMessage, carry *Carry) (*Outcome, error) {
	first := carry == nil
	req, err := decodeRequest(input, first)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrInvalidRequest, nil)
	}
	if first {
		carry = &Carry{RunID: workflow.GetInfo(ctx).WorkflowExecution.ID, StartedAt: workflow.Now(ctx), Totals: metrics.NewSummary()}
	}
	r := &run{ctx: ctx, req: req, c: carry, phase: PhaseLoading, pending: map[int]*metrics.Summary{}, arrived: map[int]int{},
		wake: workflow.NewBufferedChannel(ctx, 1)}
	if err := r.registerHandlers(); err != nil {
		return nil, err
	}
	if first {
		err = r.start()
	}
	if err == nil {
		err = r.runSlices()
		if errors.Is(err, errContinueAsNew) {
			r.c.Segment++
			return nil, workflow.NewContinueAsNewError(ctx, WorkflowName, r.req, r.c)
		}
	}
	return r.finish(err)
}

// start prepares the dataset, deploys and waits until every replica serves.
func (r *run) start() error {
	r.setPhase(PhasePreparing)
	var plan activities.Plan
	if err := workflow.ExecuteActivity(r.prepareCtx(), activities.PrepareName,
		activities.PrepareInput{RunID: r.c.RunID, Request: r.req, Execution: workflow.GetInfo(r.ctx).FirstRunID,
			StartedAt: r.c.StartedAt}).Get(r.ctx, &plan); err != nil {
		return err
	}
	r.c.Plan = plan
	if plan.SearchAttributes {
		attrs := []temporal.SearchAttributeUpdate{ModelAttr.ValueSet(plan.Model)}
		if plan.GPUType != "" {
			attrs = append(attrs, GPUTypeAttr.ValueSet(plan.GPUType))
		}
		if err := workflow.UpsertTypedSearchAttributes(r.ctx, attrs...); err != nil {
			workflow.GetLogger(r.ctx).Warn("search attributes not set", "error", err)
		}
	}
	r.setPhase(PhaseDeploying)
	r.c.Deployed = true
	in := activities.DeployInput{RunID: r.c.RunID, Request: r.req}
	if err := workflow.ExecuteActivity(r.orchestrationCtx(10*time.Minute), activities.DeployName, in).Get(r.ctx, &r.c.Deployment); err != nil {
		return err
	}
	r.setPhase(PhaseWaiting)
	if err := workflow.ExecuteActivity(r.waitReadyCtx(), activities.WaitReadyName, activities.TeardownInput{
		RunID: r.c.RunID, Request: r.req, Deployment: r.c.Deployment}).Get(r.ctx, &r.c.Deployment); err != nil {
		return err
	}
	r.c.T0 = workflow.Now(r.ctx).Add(sliceLead)
	r.setPhase(PhaseLoading)
	return nil
}

// runSlices starts slice k on a timer at T0 + k*S (minus a short lead),
// whatever the state of slice k-1, and collects the slices' results. Each
// slice is a child workflow that reports by signal, so continue-as-new
// hands the slices in flight on and never delays the next one; runs from
// before that ran the activities themselves and waited for them first.
func (r *run) runSlices() error {
	ctx := r.ctx
	children := workflow.GetVersion(ctx, sliceChildrenVersion, workflow.DefaultVersion, 1) == 1
	// Reports and cancellations still flow after the run is cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(r.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sliceCtx, cancelSlices := workflow.WithCancel(ctx)
	inflight := 0 // slice activities of the run itself (before slice children)
	var sliceErr error
	fail := func(err error) {
		if err != nil && sliceErr == nil {
			sliceErr = err
		}
	}
	reports := workflow.GetSignalChannel(ctx, SliceReportSignal)
	takeReports := func() {
		var rep SliceReport
		for reports.ReceiveAsync(&rep) {
			fail(r.takeReport(rep))
			rep = SliceReport{}
		}
	}
	if children {
		sel.AddReceive(reports, func(c workflow.ReceiveChannel, _ bool) {
			var rep SliceReport
			c.Receive(dctx, &rep)
			fail(r.takeReport(rep))
		})
	}
	// Slice children started by an earlier run of the chain: cancelled by
	// id on a stop, waited for until their deadline.
	inherited := slices.Clone(r.c.InFlight)
	var started []workflow.ChildWorkflowFuture
	stopped := func() bool { return r.c.Stopped || sliceErr != nil || ctx.Err() != nil }
	cancelled := false
	cancelOnStop := func() {
		if stopped() && !cancelled {
			cancelled = true
			cancelSlices()
			for _, f := range inherited {
				if slices.ContainsFunc(r.c.InFlight, func(g InFlightSlice) bool { return g.Slice == f.Slice }) {
					workflow.RequestCancelExternalWorkflow(dctx, f.Child, "")
				}
			}
		}
	}
	busy := func() bool { return inflight > 0 || len(r.c.InFlight) > 0 }

	segmentStart := r.c.NextSlice
	for k := r.c.NextSlice; k < r.c.Plan.NumSlices && !stopped(); k++ {
		if k > segmentStart && (k-segmentStart >= r.req.ContinueAsNewEach || workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			if children {
				// An abandoned child runs on once it has started; one
				// that could not start fails the run here.
				for _, f := range started {
					if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
						fail(fmt.Errorf("starting a slice: %w", err))
					}
				}
				takeReports()
			}
			for inflight > 0 {
				sel.Select(ctx)
				cancelOnStop()
			}
			if !stopped() {
				return errContinueAsNew
			}
			break
		}
		startAt := r.c.T0.Add(time.Duration(float64(k)*r.req.SliceSeconds*float64(time.Second)) - sliceLead)
		if d := startAt.Sub(workflow.Now(ctx)); d > 0 {
			fired := false
			timerCtx, cancelTimer := workflow.WithCancel(ctx)
			sel.AddFuture(workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: fmt.Sprintf("slice %d start", k+1)}),
				func(workflow.Future) { fired = true })
			for !fired && !stopped() {
				sel.Select(ctx)
				cancelOnStop()
			}
			cancelTimer()
			if stopped() {
				break
			}
		}
		if children {
			f, fl := r.startSliceChild(sliceCtx, k)
			started = append(started, f)
			r.c.InFlight = append(r.c.InFlight, fl)
			sel.AddFuture(f, func(f workflow.Future) {
				// A child reports before it closes; one that closed
				// without a report (terminated, timed out) ends the slice.
				takeReports()
				err := f.Get(ctx, nil)
				if r.dropInFlight(k) && err != nil && !temporal.IsCanceledError(err) {
					fail(fmt.Errorf("slice %d: %w", k+1, err))
				}
			})
		} else {
			endpoints, err := r.resolveEndpoints(k)
			if err != nil {
				fail(err)
				break
			}
			for rep, f := range r.launchSlice(sliceCtx, k, endpoints) {
				inflight++
				sel.AddFuture(f, func(f workflow.Future) {
					inflight--
					var res activities.SliceResult
					if err := f.Get(ctx, &res); err != nil {
						if !temporal.IsCanceledError(err) {
							fail(fmt.Errorf("slice %d replica %d: %w", k+1, rep, err))
						}
						return
					}
					r.absorb(res)
				})
			}
		}
		r.c.NextSlice = k + 1
	}
	if len(inherited) > 0 && busy() {
		// An inherited child that was terminated never reports: past the
		// last deadline none will.
		giveUp := func() {
			r.c.InFlight = slices.DeleteFunc(r.c.InFlight, func(f InFlightSlice) bool {
				return slices.ContainsFunc(inherited, func(g InFlightSlice) bool { return g.Slice == f.Slice })
			})
		}
		last := slices.MaxFunc(inherited, func(a, b InFlightSlice) int { return a.Deadline.Compare(b.Deadline) }).Deadline
		if d := last.Sub(workflow.Now(ctx)); d > 0 {
			sel.AddFuture(workflow.NewTimer(dctx, d), func(workflow.Future) { giveUp() })
		} else {
			giveUp()
		}
	}
	for busy() {
		sel.Select(dctx)
		cancelOnStop()
	}
	if ctx.Err() != nil {
		return temporal.NewCanceledError()
	}
	return sliceErr
}

// reresolveVersion gates re-resolving a deployment's endpoints before each
// slice (histories from before it replay without the extra activity).
const reresolveVersion = "reresolve-endpoints-per-slice"

// resolveEndpoints returns each replica's endpoint for slice k: deployed
// replicas can restart and move, so they are looked up again ("" while a
// replica is not ready); existing servers keep theirs.
func (r *run) resolveEndpoints(k int) ([]string, error) {
	if r.c.Deployment.Kind != "kubernetes" ||
		workflow.GetVersion(r.ctx, reresolveVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return r.c.Deployment.Endpoints, nil
	}
	var eps []string
	in := activities.TeardownInput{RunID: r.c.RunID, Request: r.req, Deployment: r.c.Deployment}
	if err := workflow.ExecuteActivity(r.orchestrationCtx(time.Minute), activities.ResolveEndpointsName, in).Get(r.ctx, &eps); err != nil {
		return nil, fmt.Errorf("re-resolving the replicas before slice %d: %w", k+1, err)
	}
	for i, ep := range eps {
		if ep != "" && i < len(r.c.Deployment.Endpoints) {
			r.c.Deployment.Endpoints[i] = ep
		}
	}
	return eps, nil
}

// sliceAfterRestart waits for a restarting replica, then runs its share of
// the slice late: requests that fell due meanwhile are recorded as
// interrupted with the gap. A replica gone for longer than
// replica_gone_limit_seconds fails the run.
func (r *run) sliceAfterRestart(ctx workflow.Context, in activities.SliceInput) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		limit := r.replicaGoneLimit()
		wctx := workflow.WithActivityOptions(gctx, workflow.ActivityOptions{
			TaskQueue: OrchestrationTaskQueue, StartToCloseTimeout: limit + 5*time.Minute, HeartbeatTimeout: time.Minute,
			Summary:     fmt.Sprintf("slice %d: wait for replica %d", in.Slice+1, in.Replica),
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable},
		})
		var ep string
		wait := activities.WaitReplicaInput{RunID: r.c.RunID, Request: r.req, Deployment: r.c.Deployment, Replica: in.Replica}
		if err := workflow.ExecuteActivity(wctx, activities.WaitReplicaName, wait).Get(gctx, &ep); err != nil {
			set.Set(nil, err)
			return
		}
		in.Endpoint, in.Gap = ep, fmt.Sprintf("replica %d was restarting when the slice began", in.Replica)
		var res activities.SliceResult
		err := workflow.ExecuteActivity(r.sliceCtx(gctx, in.Slice, in.Replica), activities.LoadSliceName, in).Get(gctx, &res)
		set.Set(res, err)
	})
	return f
}

// absorb merges one replica's slice result into the run's totals.
func (r *run) absorb(res activities.SliceResult) {
	if res.Summary == nil {
		return
	}
	r.c.Totals.Merge(res.Summary)
	r.absorbReplica(res.Replica, res.Summary)
	if r.pending[res.Slice] == nil {
		r.pending[res.Slice] = metrics.NewSummary()
	}
	r.pending[res.Slice].Merge(res.Summary)
	r.arrived[res.Slice]++
	if r.arrived[res.Slice] == len(r.c.Deployment.Endpoints) {
		r.c.Latest, r.c.LatestIdx = r.pending[res.Slice], res.Slice
		delete(r.pending, res.Slice)
		delete(r.arrived, res.Slice)
		r.c.SlicesDone++
		r.markHealth(r.ctx, false)
	}
	workflow.SetCurrentDetails(r.ctx, r.progress().Markdown())
}

// absorbReplica adds one replica's slice to its own figures.
func (r *run) absorbReplica(replica int, s *metrics.Summary) {
	for len(r.c.ByReplica) <= replica {
		r.c.ByReplica = append(r.c.ByReplica, metrics.NewSummary())
		r.c.Unreachable = append(r.c.Unreachable, 0)
	}
	r.c.ByReplica[replica].Merge(s)
	connect := 0
	for reason, n := range s.Failures {
		if metrics.IsConnectFailure(reason) {
			connect += n
		}
	}
	switch {
	case s.Statuses.Failed > 0 && connect == s.Statuses.Failed && s.Statuses.Completed == 0:
		r.c.Unreachable[replica]++
	case s.Statuses.Completed > 0:
		r.c.Unreachable[replica] = 0
	}
}

func (r *run) stop(reason string) {
	if r.c.Stopped {
		return
	}
	if reason == "" {
		reason = "stopped early on request"
	}
	r.c.Stopped, r.c.StopReason = true, reason
	r.wake.SendAsync(struct{}{})
	workflow.GetLogger(r.ctx).Info("stop requested", "reason", reason)
}

// finish aggregates whatever ran and tears down, also after a failure or a
// cancellation (in a disconnected context), and returns the outcome.
func (r *run) finish(runErr error) (*Outcome, error) {
	ctx := r.ctx
	cancelled := temporal.IsCanceledError(runErr) || ctx.Err() != nil
	if cancelled {
		ctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	out := &Outcome{RunID: r.c.RunID, Partial: runErr != nil || r.c.Stopped}
	switch {
	case cancelled:
		out.Reason = "cancelled"
	case runErr != nil:
		out.Reason = runErr.Error()
	case r.c.Stopped:
		out.Reason = r.c.StopReason
	}
	r.markHealth(ctx, true)
	var aggErr error
	if r.c.NextSlice > 0 {
		r.setPhaseCtx(ctx, PhaseAggregating)
		in := activities.AggregateInput{RunID: r.c.RunID, Request: r.req, Model: r.c.Plan.Model,
			ServedModelName: r.c.Plan.ServedModelName, Execution: workflow.GetInfo(ctx).FirstRunID, NumSlices: r.c.NextSlice, StartedAt: r.c.StartedAt, Replicas: len(r.c.Deployment.Endpoints),
			Partial: out.Partial, Reason: out.Reason, Deployment: r.c.Deployment}
		aggErr = workflow.ExecuteActivity(r.aggregateCtx(ctx), activities.AggregateName, in).Get(ctx, &out.Result)
	}
	if r.c.Deployed {
		r.setPhaseCtx(ctx, PhaseTearingDown)
		td := activities.TeardownInput{RunID: r.c.RunID, Request: r.req, Deployment: r.c.Deployment}
		if err := workflow.ExecuteActivity(r.orchestrationCtxFrom(ctx, 30*time.Minute), activities.TeardownName, td).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("teardown failed", "error", err)
			if runErr == nil {
				runErr = err
			}
		}
	}
	switch {
	case cancelled:
		r.setPhaseCtx(ctx, PhaseCancelled)
		return out, temporal.NewCanceledError(out.Reason)
	case runErr != nil:
		r.setPhaseCtx(ctx, PhaseFailed)
		return out, runErr
	case aggErr != nil:
		r.setPhaseCtx(ctx, PhaseFailed)
		return out, aggErr
	}
	r.setPhaseCtx(ctx, PhaseDone)
	return out, nil
}
