package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// Existing is the default deployer: servers that already run at base_url,
// host:port or replicas_base_urls. Nothing is created or removed.
type Existing struct {
	HTTP *http.Client
	Poll time.Duration
}

func (Existing) Model(context.Context, config.Request) (string, error) { return "", nil }

func (Existing) Deploy(_ context.Context, _ string, req config.Request) (Deployment, error) {
	dep := Deployment{Kind: "existing"}
	for i := range req.Replicas() {
		dep.Endpoints = append(dep.Endpoints, req.ReplicaBaseURL(i))
	}
	return dep, nil
}

// WaitReady polls every endpoint until GET /health answers 200 and GET
// /v1/models lists the served model, or ready_timeout passes.
func (e Existing) WaitReady(ctx context.Context, _ string, req config.Request, dep Deployment, report func(string)) (Deployment, error) {
	hc := e.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	poll := e.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	deadline := time.Now().Add(time.Duration(req.ReadyTimeoutSeconds * float64(time.Second)))
	for {
		var notReady []string
		for i, ep := range dep.Endpoints {
			if err := serves(ctx, hc, ep, req.ServedModel()); err != nil {
				notReady = append(notReady, fmt.Sprintf("replica %d (%s): %v", i, ep, err))
			}
		}
		status := fmt.Sprintf("%d/%d replicas ready", len(dep.Endpoints)-len(notReady), len(dep.Endpoints))
		if len(notReady) > 0 {
			status += ", " + notReady[0]
		}
		report(status)
		if len(notReady) == 0 {
			return dep, nil
		}
		if time.Now().After(deadline) {
			return dep, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("servers not ready after ready_timeout_seconds=%g: %s", req.ReadyTimeoutSeconds, strings.Join(notReady, "; ")),
				ErrNotReady, nil)
		}
		select {
		case <-ctx.Done():
			return dep, ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (Existing) Teardown(context.Context, string, config.Request, Deployment) error { return nil }

// Endpoints of existing servers do not move.
func (Existing) Endpoints(_ context.Context, _ string, _ config.Request, dep Deployment) ([]string, error) {
	return dep.Endpoints, nil
}

// serves checks one server: /health 200 and the model listed (any model
// when model is "").
func serves(ctx context.Context, hc *http.Client, base, model string) error {
	get := func(path string) (*http.Response, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
		if err != nil {
			return nil, err
		}
		return hc.Do(r)
	}
	resp, err := get("/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/health answered %s", resp.Status)
	}
	resp, err = get("/v1/models")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("/v1/models: %w", err)
	}
	for _, m := range body.Data {
		if model == "" || m.ID == model {
			return nil
		}
	}
	return fmt.Errorf("/v1/models does not list %q", model)
}
