package workflows

import (
	"math"

	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Health values of HealthAttr, for the Web UI's run list.
const (
	HealthOK          = "ok"
	HealthFailing     = "failing"             // more than metrics.FailedWarnPct of requests failed
	HealthUnreachable = "replica-unreachable" // a replica unreachable for more than one slice
)

// healthAttrsVersion gates the health search attributes: histories from
// before them have no such upserts.
const healthAttrsVersion = "health-search-attributes"

// health classes the run so far, the worst first.
func (r *run) health() (string, float64) {
	p := r.progress()
	pct := 0.0
	if n := p.Completed + p.Failed; n > 0 {
		pct = 100 * float64(p.Failed) / float64(n)
	}
	switch {
	case len(p.Warnings) > 0:
		return HealthUnreachable, pct
	case pct > metrics.FailedWarnPct:
		return HealthFailing, pct
	}
	return HealthOK, pct
}

// markHealth sets HealthAttr and FailedPctAttr when the class or the whole
// percentage changes, and exactly when final, so the Web UI's list tells a
// failing run from a clean one while it runs and after.
func (r *run) markHealth(ctx workflow.Context, final bool) {
	if !r.c.Plan.SearchAttributes || r.c.Totals == nil {
		return
	}
	health, pct := r.health()
	if !final && health == r.c.Health && math.Floor(pct) == math.Floor(r.c.FailedPct) {
		return
	}
	if workflow.GetVersion(ctx, healthAttrsVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	r.c.Health, r.c.FailedPct = health, pct
	if err := workflow.UpsertTypedSearchAttributes(ctx, HealthAttr.ValueSet(health), FailedPctAttr.ValueSet(pct)); err != nil {
		workflow.GetLogger(ctx).Warn("search attributes not set", "error", err)
	}
}
