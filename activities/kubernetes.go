package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"
	"k8s.io/client-go/kubernetes"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/k8s"
)

// Kubernetes deploys vLLM for the run (package k8s) and removes it after.
type Kubernetes struct {
	Client kubernetes.Interface
}

func (d Kubernetes) opts(ctx context.Context, runID string, req config.Request) (k8s.Options, error) {
	return k8s.ResolveGPUType(ctx, d.Client, k8s.OptionsFromRequest(req, runID))
}

// Model is the model the deployment serves: the request's, or the GPU
// type's (read from the nodes with gpu_type auto).
func (d Kubernetes) Model(ctx context.Context, req config.Request) (string, error) {
	o, err := d.opts(ctx, "", req)
	if err != nil {
		return "", invalid(err)
	}
	m, err := k8s.ModelFor(o)
	if err != nil {
		return "", invalid(err)
	}
	return m, nil
}

func (d Kubernetes) Deploy(ctx context.Context, runID string, req config.Request) (Deployment, error) {
	o, err := d.opts(ctx, runID, req)
	if err != nil {
		return Deployment{}, invalid(err)
	}
	// What cannot be rendered (sizes, an image too old for the flags) fails
	// before anything is applied.
	if _, err := k8s.Objects(o); err != nil {
		return Deployment{}, invalid(err)
	}
	dep, err := k8s.Deploy(ctx, d.Client, o)
	if err != nil {
		return Deployment{}, err
	}
	return Deployment{Kind: "kubernetes", Namespace: dep.Namespace, Image: dep.Image, Args: dep.Args, Warnings: dep.Warnings}, nil
}

// WaitReady fails fast, without retries, with the pod's own reason
// (Unschedulable, ImagePullBackOff, CrashLoopBackOff, OOMKilled, a missing
// PVC or Secret, or the ready timeout).
func (d Kubernetes) WaitReady(ctx context.Context, runID string, req config.Request, dep Deployment, report func(string)) (Deployment, error) {
	o, err := d.opts(ctx, runID, req)
	if err != nil {
		return dep, invalid(err)
	}
	endpoints, err := k8s.WaitReady(ctx, d.Client, o, func(s k8s.Status) { report(s.Phase) })
	var de *k8s.DeployError
	if errors.As(err, &de) {
		return dep, temporal.NewNonRetryableApplicationError(de.Error(), ErrNotReady, err)
	}
	if err != nil {
		return dep, err
	}
	dep.Endpoints = endpoints
	return dep, nil
}

func (d Kubernetes) Teardown(ctx context.Context, runID string, req config.Request, dep Deployment) error {
	ns := dep.Namespace
	if ns == "" {
		ns = k8s.OptionsFromRequest(req, runID).Namespace
		if ns == "" {
			ns = "default"
		}
	}
	return k8s.Teardown(ctx, d.Client, ns, runID)
}

// Endpoints re-resolves the pods' addresses during the run; a replica
// whose pod is not Ready (crashing, restarting, replaced) gets "" and
// replica_gone_limit_seconds decides; only a StatefulSet gone fails for
// good.
func (d Kubernetes) Endpoints(ctx context.Context, runID string, req config.Request, dep Deployment) ([]string, error) {
	o := k8s.OptionsFromRequest(req, runID)
	if dep.Namespace != "" {
		o.Namespace = dep.Namespace
	}
	eps, err := k8s.Endpoints(ctx, d.Client, o)
	var nr *k8s.NotReadyError
	var de *k8s.DeployError
	switch {
	case errors.As(err, &nr):
		return eps, nil
	case errors.As(err, &de):
		return nil, temporal.NewNonRetryableApplicationError(de.Error(), ErrNotReady, err)
	}
	return eps, err
}
