package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Deployer provides the servers a run loads: existing endpoints, or
// servers it deploys and later removes.
type Deployer interface {
	// Model is the model a deployment would serve for the request ("" when
	// the servers say).
	Model(ctx context.Context, req config.Request) (string, error)
	Deploy(ctx context.Context, runID string, req config.Request) (Deployment, error)
	// WaitReady returns once every replica serves the model; report says
	// how far it is ("1/2 replicas ready, ...").
	WaitReady(ctx context.Context, runID string, req config.Request, dep Deployment, report func(string)) (Deployment, error)
	Teardown(ctx context.Context, runID string, req config.Request, dep Deployment) error
	// Endpoints re-resolves each replica's base URL ("" while a replica is
	// not ready, e.g. restarting).
	Endpoints(ctx context.Context, runID string, req config.Request, dep Deployment) ([]string, error)
}

// Activities holds what the activities share on one worker.
type Activities struct {
	Store     results.Store
	Log       *zap.Logger
	Deployers map[string]Deployer // by config.Request.Deploy
	// SearchAttributes says the namespace has the workflow's custom search
	// attributes (the worker checks at start).
	SearchAttributes bool
	// Telemetry receives every record of every slice (live metrics); may be nil.
	Telemetry Telemetry
	// PrometheusURL, when set, is where DCGM exporter's GPU metrics are read
	// from after each slice; DCGMSelector narrows them to the run's GPUs.
	PrometheusURL string
	DCGMSelector  string
	// Heartbeat, when set, records an activity heartbeat synchronously (the
	// worker's client.RecordActivityHeartbeat with the activity's task
	// token), so LoadSlice knows when Temporal stops hearing it; nil uses
	// the SDK's asynchronous activity.RecordHeartbeat and never loses the
	// lease (test environments).
	Heartbeat func(ctx context.Context, details any) error
	// SpillDir keeps parts the store would not take (default in os.TempDir).
	SpillDir string

	plans sync.Map // request hash -> *planEntry
}

// Telemetry is told about every finished request.
type Telemetry interface {
	Observe(runID string, replica int, rec metrics.Record)
}

type planEntry struct {
	once sync.Once
	plan *engine.Plan
	err  error
}

// plan builds (once per worker and request) the run's plan: building the
// dataset of a 500,000-prompt run takes seconds, slices come every minutes.
func (a *Activities) plan(ctx context.Context, req config.Request, baseURL string) (*engine.Plan, error) {
	key := sha256.Sum256(req.JSON())
	v, _ := a.plans.LoadOrStore(hex.EncodeToString(key[:]), &planEntry{})
	e := v.(*planEntry)
	e.once.Do(func() { e.plan, e.err = engine.NewPlan(ctx, req, baseURL) })
	if e.err != nil {
		a.plans.Delete(hex.EncodeToString(key[:]))
	}
	return e.plan, e.err
}

func (a *Activities) deployer(req config.Request) (Deployer, error) {
	d, ok := a.Deployers[req.Deploy]
	if !ok {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("deploy: target %q is not available on this worker", req.Deploy), ErrInvalidRequest, nil)
	}
	return d, nil
}

// Prepare validates what needs files and a tokenizer, builds the plan,
// and stores the validated request.
func (a *Activities) Prepare(ctx context.Context, in PrepareInput) (Plan, error) {
	req := in.Request.Defaults()
	if err := req.Validate(); err != nil {
		return Plan{}, invalid(err)
	}
	if err := results.ValidateRunID(in.RunID); err != nil {
		return Plan{}, invalid(err)
	}
	claim := engine.Manifest{RunID: in.RunID, Execution: in.Execution, StartedAt: in.StartedAt, Replicas: req.Replicas()}
	if err := engine.ClaimRun(ctx, a.Store, claim); err != nil {
		var ie *engine.InputError
		if errors.As(err, &ie) {
			return Plan{}, invalid(err)
		}
		return Plan{}, err
	}
	d, err := a.deployer(req)
	if err != nil {
		return Plan{}, err
	}
	if req.Model == "" {
		if req.Model, err = d.Model(ctx, req); err != nil {
			return Plan{}, err
		}
	}
	p, err := a.plan(ctx, req, req.ReplicaBaseURL(0))
	if err != nil {
		var ie *engine.InputError
		if errors.As(err, &ie) {
			return Plan{}, invalid(err)
		}
		return Plan{}, err
	}
	stored := p.Request
	if err := a.Store.Put(ctx, results.RequestKey(in.RunID), stored.JSON()); err != nil {
		return Plan{}, err
	}
	return Plan{NumPrompts: len(p.Offsets), NumSlices: p.NumSlices(), LastOffset: p.LastOffset(),
		Model: p.Model, ServedModelName: p.Request.ServedModelName, TokenizerName: p.Tokenizer.Name(), GPUType: req.GPUType, SearchAttributes: a.SearchAttributes}, nil
}

func isCanceled(err error) bool { return temporal.IsCanceledError(err) }

// isGone: Temporal no longer runs this attempt (timed out, completed
// elsewhere, workflow closed, paused or reset).
func isGone(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf) || errors.Is(err, activity.ErrActivityPaused) || errors.Is(err, activity.ErrActivityReset)
}

func invalid(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidRequest, err)
}

// Deploy creates (or finds) the run's servers.
func (a *Activities) Deploy(ctx context.Context, in DeployInput) (Deployment, error) {
	d, err := a.deployer(in.Request)
	if err != nil {
		return Deployment{}, err
	}
	return d.Deploy(ctx, in.RunID, in.Request)
}

// WaitReady waits until every replica serves, heartbeating its progress.
func (a *Activities) WaitReady(ctx context.Context, in TeardownInput) (Deployment, error) {
	d, err := a.deployer(in.Request)
	if err != nil {
		return Deployment{}, err
	}
	return d.WaitReady(ctx, in.RunID, in.Request, in.Deployment, func(status string) {
		activity.RecordHeartbeat(ctx, status)
	})
}

// Teardown removes what Deploy created; it succeeds when nothing is left.
func (a *Activities) Teardown(ctx context.Context, in TeardownInput) error {
	if in.Request.KeepDeployment {
		a.Log.Info("keep_deployment: leaving the servers up", zap.String("run_id", in.RunID))
		return nil
	}
	d, err := a.deployer(in.Request)
	if err != nil {
		return err
	}
	return d.Teardown(ctx, in.RunID, in.Request, in.Deployment)
}

// ResolveEndpoints re-resolves the replicas' endpoints before a slice.
func (a *Activities) ResolveEndpoints(ctx context.Context, in TeardownInput) ([]string, error) {
	d, err := a.deployer(in.Request)
	if err != nil {
		return nil, err
	}
	return d.Endpoints(ctx, in.RunID, in.Request, in.Deployment)
}

// WaitReplica waits until one replica serves again, up to
// replica_gone_limit_seconds; past that the replica is gone and the run
// fails (after aggregating what ran).
func (a *Activities) WaitReplica(ctx context.Context, in WaitReplicaInput) (string, error) {
	d, err := a.deployer(in.Request)
	if err != nil {
		return "", err
	}
	limit := time.Duration(in.Request.ReplicaGoneLimitSeconds * float64(time.Second))
	deadline := time.Now().Add(limit)
	for {
		eps, err := d.Endpoints(ctx, in.RunID, in.Request, in.Deployment)
		if err == nil && in.Replica < len(eps) && eps[in.Replica] != "" {
			if err = serves(ctx, http.DefaultClient, eps[in.Replica], in.Request.ServedModel()); err == nil {
				return eps[in.Replica], nil
			}
		}
		activity.RecordHeartbeat(ctx, fmt.Sprintf("replica %d not ready: %v", in.Replica, err))
		if time.Now().After(deadline) {
			return "", temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("replica %d gone for longer than replica_gone_limit_seconds=%g: %v", in.Replica, in.Request.ReplicaGoneLimitSeconds, err),
				ErrNotReady, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
