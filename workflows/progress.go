package workflows

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Search attributes that let runs be filtered in the Web UI. The worker
// registers them on the namespace when it can.
var (
	ModelAttr   = temporal.NewSearchAttributeKeyKeyword("VibModel")
	GPUTypeAttr = temporal.NewSearchAttributeKeyKeyword("VibGPUType")
	PhaseAttr   = temporal.NewSearchAttributeKeyKeyword("VibPhase")
	// HealthAttr is HealthOK, HealthFailing or HealthUnreachable;
	// FailedPctAttr the share of measured requests that failed (0-100).
	HealthAttr    = temporal.NewSearchAttributeKeyKeyword("VibHealth")
	FailedPctAttr = temporal.NewSearchAttributeKeyFloat64("VibFailedPct")
)

// SearchAttributes lists the custom attributes with their types, for the
// worker to register and for the dev server's --search-attribute flags.
var SearchAttributes = []temporal.SearchAttributeKey{ModelAttr, GPUTypeAttr, PhaseAttr, HealthAttr, FailedPctAttr}

// Progress answers the progress query.
type Progress struct {
	RunID         string    `json:"run_id"`
	Phase         string    `json:"phase"`
	SlicesDone    int       `json:"slices_done"`
	SlicesStarted int       `json:"slices_started"`
	SlicesTotal   int       `json:"slices_total"`
	Replicas      int       `json:"replicas"`
	Scheduled     int       `json:"scheduled"` // requests in all slices, all replicas
	Completed     int       `json:"completed"`
	Failed        int       `json:"failed"`
	Interrupted   int       `json:"interrupted"`
	Run           Stats     `json:"run"`
	Latest        Stats     `json:"latest"`
	LatestSlice   int       `json:"latest_slice"`
	StartedAt     time.Time `json:"started_at"`
	T0            time.Time `json:"t0"`
	ETA           time.Time `json:"eta"`
	Stopped       bool      `json:"stopped"`
	StopReason    string    `json:"stop_reason,omitempty"`
	// Replicas are each replica's figures over the slices that finished.
	ByReplica []ReplicaProgress `json:"by_replica,omitempty"`
	// Warnings name what an operator must look at (a replica unreachable
	// for more than one slice).
	Warnings []string `json:"warnings,omitempty"`
}

// ReplicaProgress is one replica's line of the progress.
type ReplicaProgress struct {
	Replica     int            `json:"replica"`
	URL         string         `json:"url,omitempty"`
	Completed   int            `json:"completed"`
	Failed      int            `json:"failed"`
	Interrupted int            `json:"interrupted"`
	TTFTp99     float64        `json:"ttft_p99_ms"`
	Failures    map[string]int `json:"failures,omitempty"` // failed requests by reason
	LastError   string         `json:"last_error,omitempty"`
	// UnreachableSlices is how many slices in a row no request reached it.
	UnreachableSlices int `json:"unreachable_slices,omitempty"`
}

// unreachableWarnAfter is how many slices in a row a replica may be
// unreachable before the progress warns.
const unreachableWarnAfter = 1

// Stats are the headline numbers of a summary (milliseconds, tokens/s).
type Stats struct {
	TTFTp50 float64 `json:"ttft_p50_ms"`
	TTFTp99 float64 `json:"ttft_p99_ms"`
	ITLp50  float64 `json:"itl_p50_ms"`
	ITLp99  float64 `json:"itl_p99_ms"`
	OutTokS float64 `json:"output_tokens_per_s"`
	ReqS    float64 `json:"requests_per_s"`
}

// statsOf reads a summary covering the given seconds of load.
func statsOf(s *metrics.Summary, seconds float64) Stats {
	if s == nil {
		return Stats{}
	}
	ms := func(metric string, q float64) float64 {
		v := s.Quantile(metric, q)
		if math.IsNaN(v) {
			return 0
		}
		return v * 1000
	}
	st := Stats{TTFTp50: ms(metrics.MetricTTFT, 0.5), TTFTp99: ms(metrics.MetricTTFT, 0.99),
		ITLp50: ms(metrics.MetricITL, 0.5), ITLp99: ms(metrics.MetricITL, 0.99)}
	if seconds > 0 {
		st.OutTokS = float64(s.OutputTokens) / seconds
		st.ReqS = float64(s.Statuses.Completed) / seconds
	}
	return st
}

func (r *run) progress() Progress {
	c := r.c
	p := Progress{RunID: c.RunID, Phase: r.phase, SlicesDone: c.SlicesDone, SlicesStarted: c.NextSlice,
		SlicesTotal: c.Plan.NumSlices, Replicas: len(c.Deployment.Endpoints), LatestSlice: c.LatestIdx + 1,
		Run: statsOf(c.Totals, float64(c.SlicesDone)*r.req.SliceSeconds), Latest: statsOf(c.Latest, r.req.SliceSeconds),
		StartedAt: c.StartedAt, T0: c.T0,
		Stopped: c.Stopped, StopReason: c.StopReason}
	if c.Totals != nil {
		p.Completed, p.Failed, p.Interrupted = c.Totals.Statuses.Completed, c.Totals.Statuses.Failed, c.Totals.Statuses.Interrupted
	}
	for i, s := range c.ByReplica {
		rp := ReplicaProgress{Replica: i, Completed: s.Statuses.Completed, Failed: s.Statuses.Failed,
			Interrupted: s.Statuses.Interrupted, TTFTp99: statsOf(s, 0).TTFTp99, Failures: s.Failures,
			LastError: s.LastError, UnreachableSlices: c.Unreachable[i]}
		if i < len(c.Deployment.Endpoints) {
			rp.URL = c.Deployment.Endpoints[i]
		}
		if rp.UnreachableSlices > unreachableWarnAfter {
			p.Warnings = append(p.Warnings, fmt.Sprintf("replica %d (%s) unreachable for the last %d slices: %s",
				i, rp.URL, rp.UnreachableSlices, rp.LastError))
		}
		p.ByReplica = append(p.ByReplica, rp)
	}
	p.Scheduled = c.Plan.NumPrompts * max(p.Replicas, 1)
	if !c.T0.IsZero() {
		p.ETA = c.T0.Add(time.Duration(c.Plan.LastOffset * float64(time.Second)))
	}
	return p
}

// Markdown renders the progress for the Web UI's current details: a few
// short lines (no table, which not every Web UI renders, and a pane that
// shows about ten lines), slices counted from 1, "—" where there is no data
// yet. Replicas that fail come first; past maxReplicaLines the healthy
// rest share one line.
func (p Progress) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** · slice %s of %d · %d done · %d replica(s)", p.Phase, orDash(p.SlicesStarted), p.SlicesTotal,
		p.SlicesDone, p.Replicas)
	if !p.ETA.IsZero() {
		fmt.Fprintf(&b, " · last request due %s", p.ETA.UTC().Format(time.RFC3339))
	}
	if p.Stopped {
		fmt.Fprintf(&b, " · stopping: %s", p.StopReason)
	}
	b.WriteString("\n\n")
	for _, warning := range p.Warnings {
		fmt.Fprintf(&b, "**WARNING**: %s\n\n", warning)
	}
	run := requestsLine(p.Completed, p.Failed, p.Interrupted, topFailures(p.ByReplica))
	if p.Completed > 0 {
		run += fmt.Sprintf(" · TTFT p99 %.1f ms · ITL p99 %.1f ms · %.1f out tok/s", p.Run.TTFTp99, p.Run.ITLp99, p.Run.OutTokS)
	}
	fmt.Fprintf(&b, "- run: %s\n", run)
	replicas := slices.Clone(p.ByReplica)
	slices.SortStableFunc(replicas, func(a, b ReplicaProgress) int { return cmp.Compare(b.Failed, a.Failed) })
	for i, rp := range replicas {
		if i >= maxReplicaLines && rp.Failed == 0 {
			fmt.Fprintf(&b, "- %d more replica(s), none failing\n", len(replicas)-i)
			break
		}
		reason, n := topReason(rp.Failures)
		line := requestsLine(rp.Completed, rp.Failed, rp.Interrupted, map[string]int{reason: n})
		if rp.Completed > 0 {
			line += fmt.Sprintf(" · TTFT p99 %.1f ms", rp.TTFTp99)
		}
		if rp.URL != "" {
			line += " · " + rp.URL // last: a URL followed by punctuation is linked with it
		}
		fmt.Fprintf(&b, "- replica %d: %s\n", rp.Replica, line)
	}
	// The Web UI sizes the details' frame about one line short of the
	// content: a blank last paragraph is what it cuts.
	b.WriteString("\n\u00a0\n")
	return b.String()
}

// maxReplicaLines is how many replicas the current details list one by one
// when the others have no failures.
const maxReplicaLines = 4

// requestsLine is "5400 ok · 822 failed (13.2%, 800 connection refused)",
// with "· 3 interrupted" when some were, or "—" before any request ended.
func requestsLine(completed, failed, interrupted int, failures map[string]int) string {
	if completed+failed+interrupted == 0 {
		return "—"
	}
	line := fmt.Sprintf("%d ok · %d failed", completed, failed)
	if failed > 0 {
		line += fmt.Sprintf(" (%.1f%%", 100*float64(failed)/float64(completed+failed))
		if reason, n := topReason(failures); n > 0 {
			line += fmt.Sprintf(", %d %s", n, reason)
		}
		line += ")"
	}
	if interrupted > 0 {
		line += fmt.Sprintf(" · %d interrupted", interrupted)
	}
	return line
}

// topFailures adds up the replicas' failures by reason.
func topFailures(replicas []ReplicaProgress) map[string]int {
	all := map[string]int{}
	for _, rp := range replicas {
		for reason, n := range rp.Failures {
			all[reason] += n
		}
	}
	return all
}

func orDash(n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

func (r *run) registerHandlers() error {
	// The stop signal is taken at any time, like the update, not only while
	// the slice loop waits.
	stopCh := workflow.GetSignalChannel(r.ctx, StopSignal)
	workflow.Go(r.ctx, func(ctx workflow.Context) {
		for {
			var reason string
			stopCh.Receive(ctx, &reason)
			r.stop(reason)
		}
	})
	if err := workflow.SetQueryHandler(r.ctx, ProgressQuery, func() (Progress, error) { return r.progress(), nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(r.ctx, StopUpdate, func(ctx workflow.Context, reason string) (Progress, error) {
		r.stop(reason)
		return r.progress(), nil
	}, workflow.UpdateHandlerOptions{})
}

func (r *run) setPhase(phase string) { r.setPhaseCtx(r.ctx, phase) }

func (r *run) setPhaseCtx(ctx workflow.Context, phase string) {
	r.phase = phase
	if r.c.Plan.SearchAttributes {
		if err := workflow.UpsertTypedSearchAttributes(ctx, PhaseAttr.ValueSet(phase)); err != nil {
			workflow.GetLogger(ctx).Warn("search attribute not set", "error", err)
		}
	}
	workflow.SetCurrentDetails(ctx, r.progress().Markdown())
}

// topReason is the most frequent failure reason (ties: the first by name).
func topReason(failures map[string]int) (string, int) {
	best, most := "", 0
	for reason, n := range failures {
		if n > most || n == most && reason < best {
			best, most = reason, n
		}
	}
	return best, most
}
