package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/config"
)

// Names of a slice's child workflow and of the report it sends its run.
const (
	SliceWorkflowName = "StressTestSlice"
	SliceReportSignal = "slice-report"
)

// sliceChildrenVersion gates running each slice as a child workflow. Runs
// from before it ran the slice activities themselves and waited for them
// before continuing as new, so a slice after the boundary started late.
const sliceChildrenVersion = "slice-child-workflows"

// SliceRun is a slice child's input: one slice on every replica.
type SliceRun struct {
	// Parent is the run's workflow id: the report goes to whichever of its
	// executions is current (continue-as-new never waits for a slice).
	Parent     string                `json:"parent"`
	RunID      string                `json:"run_id"`
	Request    config.Request        `json:"request"`
	Plan       activities.Plan       `json:"plan"`
	Deployment activities.Deployment `json:"deployment"`
	T0         time.Time             `json:"t0"`
	Slice      int                   `json:"slice"`
}

// SliceReport is what a slice child signals its run when every replica's
// share has ended (or been cancelled).
type SliceReport struct {
	Slice     int                      `json:"slice"`
	Results   []activities.SliceResult `json:"results"`
	Endpoints []string                 `json:"endpoints,omitempty"` // each replica's, as resolved for the slice
	Err       string                   `json:"error,omitempty"`
}

// InFlightSlice is a slice child the run has not had the report of.
type InFlightSlice struct {
	Slice    int       `json:"slice"`
	Child    string    `json:"child"`    // its workflow id
	Deadline time.Time `json:"deadline"` // its execution timeout: no report comes after it
}

// SliceWorkflow runs one slice on every replica (waiting first for a
// replica that is restarting) and reports to the run. A cancelled slice
// flushes what it measured, then reports; a report to a run that has
// closed (terminated) is dropped, since nothing would read it.
func SliceWorkflow(ctx workflow.Context, in SliceRun) error {
	r := &run{ctx: ctx, req: in.Request, c: &Carry{RunID: in.RunID, Plan: in.Plan, Deployment: in.Deployment, T0: in.T0}}
	rep := SliceReport{Slice: in.Slice}
	endpoints, err := r.resolveEndpoints(in.Slice)
	if err != nil {
		rep.Err = err.Error()
	}
	rep.Endpoints = endpoints
	for replica, f := range r.launchSlice(ctx, in.Slice, endpoints) {
		var res activities.SliceResult
		err := f.Get(ctx, &res)
		switch {
		case err == nil:
			rep.Results = append(rep.Results, res)
		case rep.Err == "" && !temporal.IsCanceledError(err):
			rep.Err = fmt.Sprintf("slice %d replica %d: %v", in.Slice+1, replica, err)
		}
	}
	sctx := ctx
	if ctx.Err() != nil {
		sctx, _ = workflow.NewDisconnectedContext(ctx)
	}
	if err := workflow.SignalExternalWorkflow(sctx, in.Parent, "", SliceReportSignal, rep).Get(sctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("the run did not take the slice's report", "error", err)
	}
	if ctx.Err() != nil {
		return temporal.NewCanceledError()
	}
	return nil
}

// launchSlice starts each replica's share of slice k.
func (r *run) launchSlice(ctx workflow.Context, k int, endpoints []string) []workflow.Future {
	var fs []workflow.Future
	for rep, endpoint := range endpoints {
		in := activities.SliceInput{RunID: r.c.RunID, Request: r.req, Model: r.c.Plan.Model,
			ServedModelName: r.c.Plan.ServedModelName, Slice: k,
			NumSlices: r.c.Plan.NumSlices, Replica: rep, Endpoint: endpoint, T0: r.c.T0}
		if endpoint != "" {
			fs = append(fs, workflow.ExecuteActivity(r.sliceCtx(ctx, k, rep), activities.LoadSliceName, in))
		} else {
			fs = append(fs, r.sliceAfterRestart(ctx, in))
		}
	}
	return fs
}

// startSliceChild starts slice k's child workflow, abandoned by the run's
// close so that continue-as-new leaves it running.
func (r *run) startSliceChild(ctx workflow.Context, k int) (workflow.ChildWorkflowFuture, InFlightSlice) {
	info := workflow.GetInfo(r.ctx)
	// Long enough for a replica's wait and then its whole slice.
	timeout := r.sliceTimeout() + r.replicaGoneLimit() + 10*time.Minute
	exec := info.FirstRunID
	if len(exec) > 8 {
		exec = exec[:8]
	}
	// The first run id keeps a reused workflow id's slices apart from an
	// earlier execution's, which may still be running.
	id := fmt.Sprintf("%s/%s/slice-%d", info.WorkflowExecution.ID, exec, k+1)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:               id,
		TaskQueue:                OrchestrationTaskQueue,
		WorkflowExecutionTimeout: timeout,
		ParentClosePolicy:        enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WaitForCancellation:      true,
		StaticSummary:            fmt.Sprintf("slice %d of %d", k+1, r.c.Plan.NumSlices),
	})
	f := workflow.ExecuteChildWorkflow(cctx, SliceWorkflowName, SliceRun{Parent: info.WorkflowExecution.ID, RunID: r.c.RunID,
		Request: r.req, Plan: r.c.Plan, Deployment: r.c.Deployment, T0: r.c.T0, Slice: k})
	return f, InFlightSlice{Slice: k, Child: id, Deadline: workflow.Now(r.ctx).Add(timeout)}
}

// takeReport absorbs a slice child's report once; a second one for the
// same slice (its close seen after its signal) is ignored.
func (r *run) takeReport(rep SliceReport) error {
	if !r.dropInFlight(rep.Slice) {
		return nil
	}
	for i, ep := range rep.Endpoints {
		if ep != "" && i < len(r.c.Deployment.Endpoints) {
			r.c.Deployment.Endpoints[i] = ep
		}
	}
	for _, res := range rep.Results {
		r.absorb(res)
	}
	if rep.Err != "" {
		return errors.New(rep.Err)
	}
	return nil
}

// dropInFlight takes slice k off the slices in flight; false if it was not.
func (r *run) dropInFlight(k int) bool {
	i := slices.IndexFunc(r.c.InFlight, func(f InFlightSlice) bool { return f.Slice == k })
	if i >= 0 {
		r.c.InFlight = slices.Delete(r.c.InFlight, i, i+1)
	}
	return i >= 0
}
