package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/activities"
)

var nonRetryable = []string{activities.ErrInvalidRequest, activities.ErrNotReady}

func (r *run) prepareCtx() workflow.Context {
	return workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		TaskQueue:           LoadTaskQueue,
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		Summary:             "build dataset and schedule",
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: nonRetryable},
	})
}

func (r *run) orchestrationCtx(timeout time.Duration) workflow.Context {
	return r.orchestrationCtxFrom(r.ctx, timeout)
}

func (r *run) orchestrationCtxFrom(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           OrchestrationTaskQueue,
		StartToCloseTimeout: timeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 10, MaximumInterval: 30 * time.Second,
			NonRetryableErrorTypes: nonRetryable},
	})
}

func (r *run) waitReadyCtx() workflow.Context {
	return workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		TaskQueue:           OrchestrationTaskQueue,
		StartToCloseTimeout: time.Duration(r.req.ReadyTimeoutSeconds*float64(time.Second)) + 5*time.Minute,
		HeartbeatTimeout:    time.Minute,
		Summary:             fmt.Sprintf("wait for %d replica(s)", len(r.c.Deployment.Endpoints)),
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: nonRetryable},
	})
}

// sliceCtx runs LoadSlice on the load queue. A dead worker is noticed by the
// heartbeat timeout and the slice is retried (it resumes from what is
// stored); WaitForCancellation lets a stopped slice flush before the
// workflow aggregates.
func (r *run) sliceCtx(ctx workflow.Context, k, replica int) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              LoadTaskQueue,
		ScheduleToCloseTimeout: r.sliceTimeout(),
		StartToCloseTimeout:    r.sliceTimeout(),
		HeartbeatTimeout:       sliceHeartbeatTimeout,
		WaitForCancellation:    true,
		Summary:                fmt.Sprintf("slice %d/%d replica %d", k+1, r.c.Plan.NumSlices, replica),
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 10 * time.Second, NonRetryableErrorTypes: nonRetryable},
	})
}

// sliceHeartbeatTimeout is how fast a killed or cut-off load worker is
// noticed, whatever the slice length: LoadSlice heartbeats every second and
// stops sending after activities.LeaseFor(this) without a heartbeat that
// reached Temporal, so the retry (a second later) never overlaps it.
const sliceHeartbeatTimeout = 6 * time.Second

func (r *run) aggregateCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           LoadTaskQueue,
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    2 * time.Minute,
		Summary:             "aggregate the whole run",
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10, MaximumInterval: time.Minute},
	})
}

// sliceTimeout bounds one replica's share of a slice: the lead, the slice,
// and the tail of its last requests.
func (r *run) sliceTimeout() time.Duration {
	slice := time.Duration(r.req.SliceSeconds * float64(time.Second))
	tail := time.Duration(r.req.RequestTimeoutSeconds*float64(time.Second)) + 5*time.Minute
	return sliceLead + slice + tail
}

func (r *run) replicaGoneLimit() time.Duration {
	return time.Duration(r.req.ReplicaGoneLimitSeconds * float64(time.Second))
}
