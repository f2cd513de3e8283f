package main

import (
	"fmt"
	"strings"
)

// report is everything one bench run measured; it is written as JSON.
type report struct {
	Machine     string             `json:"machine"`
	Pinning     string             `json:"pinning"`
	Command     string             `json:"command"`
	Started     string             `json:"started"`
	Finished    string             `json:"finished"`
	Capacity    []capacityResult   `json:"capacity,omitempty"`
	Accuracy    []accuracyResult   `json:"accuracy,omitempty"`
	Concurrency *accuracyResult    `json:"concurrency,omitempty"`
	Stress      []stressResult     `json:"stress,omitempty"`
	Aggregation *aggregationResult `json:"aggregation,omitempty"`
	Storage     []storageResult    `json:"storage,omitempty"`
}

// Targets of the issue "The load generator is never the bottleneck".
const (
	targetCPUBackToBackUs  = 1.0 // client CPU per streamed token, many tokens per read
	targetCPUPerReadUs     = 3.2 // one token per read, Poisson 200 req/s
	targetCPUPerReadRate   = 200
	targetTTFTMeanOverMs   = 0.3 // engine's mean TTFT error above the floor's
	targetTTFTP99Ms        = 2.0
	targetTTFTUpToRate     = 1000
	targetLatenessP99Ms    = 0.2
	targetLatenessRate     = 500
	targetPeakRSSMB        = 150
	targetRSSFlatFraction  = 0.10 // the longer run's peak may exceed the shorter's by this much
	targetAggregateSeconds = 30
	// The real shape on S3 at 30 ms a request (issue 10).
	targetStorageAggregateSeconds = 60
	targetStorageRSSMB            = 300
)

type capacityResult struct {
	MaxConcurrency int       `json:"max_concurrency"`
	FlushEvery     int       `json:"server_token_events_per_flush"`
	Requests       int       `json:"requests"`
	AchievedRPS    float64   `json:"achieved_rps"`
	TokensPerS     float64   `json:"streamed_tokens_per_s"`
	CPUUsPerToken  float64   `json:"client_cpu_us_per_token"`
	CPUUtil        float64   `json:"client_cpu_utilisation"` // of one core, over the run
	Gen            genResult `json:"generator"`
}

func capacityOf(c, n, flush int, g genResult) capacityResult {
	d := g.Stats.Duration
	return capacityResult{MaxConcurrency: c, FlushEvery: flush, Requests: n, AchievedRPS: float64(g.Completed) / d,
		TokensPerS: float64(g.Tokens) / d, CPUUsPerToken: perTokenUs(g), CPUUtil: g.EngineCPUSeconds / d, Gen: g}
}

// floorReadsPerToken: the engine reads with recvmsg(2), which the read
// counter (/proc/self/io syscr) does not count, so its read(2) calls are
// the floor client's.
func floorReadsPerToken(g genResult) float64 {
	if g.FloorTokens == 0 {
		return 0
	}
	return float64(g.ReadCalls) / float64(g.FloorTokens)
}

func perTokenUs(g genResult) float64 {
	if g.Tokens == 0 {
		return 0
	}
	return g.EngineCPUSeconds / float64(g.Tokens) * 1e6
}

type accuracyResult struct {
	TargetRate    float64 `json:"target_rate,omitempty"` // 0: all at once
	Requests      int     `json:"requests"`
	Tokens        int     `json:"tokens_per_request"`
	AchievedRate  float64 `json:"achieved_send_rate"`
	LatenessP50Ms float64 `json:"send_lateness_p50_ms"`
	LatenessP99Ms float64 `json:"send_lateness_p99_ms"`
	LatenessMaxMs float64 `json:"send_lateness_max_ms"`
	CPUUsPerToken float64 `json:"client_cpu_us_per_token"`
	CPUUtil       float64 `json:"client_cpu_utilisation"`
	// FloorCPUUsPerToken is what the floor client's threads spent per token.
	FloorCPUUsPerToken float64      `json:"floor_cpu_us_per_token"`
	Engine             timingErrors `json:"engine"`
	Floor              timingErrors `json:"floor"`
	// TTFTMeanOverFloorMs is the engine's mean |TTFT error| minus the floor's.
	TTFTMeanOverFloorMs float64   `json:"ttft_mean_error_over_floor_ms"`
	Gen                 genResult `json:"generator"`
}

func accuracyOf(rate float64, n, tokens int, g genResult, eng, fl timingErrors) accuracyResult {
	a := accuracyResult{TargetRate: rate, Requests: n, Tokens: tokens, AchievedRate: g.Stats.SendRate,
		LatenessP50Ms: g.Stats.LatenessP50 * 1000, LatenessP99Ms: g.Stats.LatenessP99 * 1000,
		LatenessMaxMs: g.Stats.LatenessMax * 1000, CPUUsPerToken: perTokenUs(g),
		CPUUtil: g.EngineCPUSeconds / g.Stats.Duration, Engine: eng, Floor: fl,
		TTFTMeanOverFloorMs: eng.TTFT.Mean - fl.TTFT.Mean, Gen: g}
	if g.FloorTokens > 0 {
		a.FloorCPUUsPerToken = g.FloorCPUSeconds / float64(g.FloorTokens) * 1e6
	}
	return a
}

type stressResult struct {
	Requests     int     `json:"requests"`
	Rate         float64 `json:"rate"`
	AchievedRate float64 `json:"achieved_send_rate"`
	SetupSeconds float64 `json:"setup_s"`
	SetupRSSMB   float64 `json:"setup_rss_mb"`
	// PeakRSSMB is the process's peak over its whole life (plan building
	// included); RunPeakRSSMB that of the sending phase alone.
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	RunPeakRSSMB float64 `json:"run_peak_rss_mb"`
	// Mean VmRSS over the first and the last quarter of the sending phase.
	RSSFirstQuarterMB float64   `json:"rss_first_quarter_mb"`
	RSSLastQuarterMB  float64   `json:"rss_last_quarter_mb"`
	LatenessP99Ms     float64   `json:"send_lateness_p99_ms"`
	CPUUtil           float64   `json:"client_cpu_utilisation"`
	Gen               genResult `json:"generator"`
}

func stressOf(n int, rate float64, g genResult) stressResult {
	r := stressResult{Requests: n, Rate: rate, AchievedRate: g.Stats.SendRate, SetupSeconds: g.SetupSeconds,
		SetupRSSMB: g.SetupRSSMB, PeakRSSMB: max(g.SetupPeakMB, g.RunPeakRSSMB, g.ProcessMaxRSSMB),
		RunPeakRSSMB: g.RunPeakRSSMB, LatenessP99Ms: g.Stats.LatenessP99 * 1000,
		CPUUtil: g.EngineCPUSeconds / g.Stats.Duration, Gen: g}
	if q := len(g.RSS) / 4; q > 0 {
		r.RSSFirstQuarterMB = meanRSS(g.RSS[:q])
		r.RSSLastQuarterMB = meanRSS(g.RSS[len(g.RSS)-q:])
	}
	return r
}

func meanRSS(s []rssSample) float64 {
	sum := 0.0
	for _, x := range s {
		sum += x.MB
	}
	return sum / float64(len(s))
}

type aggregationResult struct {
	Records    int       `json:"records"`
	Seconds    float64   `json:"seconds"`
	CPUSeconds float64   `json:"cpu_s"`
	PeakRSSMB  float64   `json:"peak_rss_mb"`
	Gen        genResult `json:"generator"`
}

// table renders the figures as a markdown table, each next to its target.
func (r report) table() string {
	var t tableWriter
	for _, c := range r.Capacity {
		s := fmt.Sprintf("capacity, rate inf, max_concurrency %d (%d req x 128 tok, no server delays, %d token events per server flush)",
			c.MaxConcurrency, c.Requests, max(c.FlushEvery, 1))
		t.row(s, "achieved req/s", f1(c.AchievedRPS), "", "")
		t.row(s, "streamed tokens/s", fmt.Sprintf("%.0f", c.TokensPerS), "", "")
		t.row(s, "client CPU µs/token (CPU util of one core)", fmt.Sprintf("%.2f (%.0f%%)", c.CPUUsPerToken, c.CPUUtil*100),
			fmt.Sprintf("≤ %.1f back-to-back", targetCPUBackToBackUs), verdict(c.CPUUsPerToken <= targetCPUBackToBackUs))
	}
	for _, a := range r.Accuracy {
		s := fmt.Sprintf("accuracy, Poisson %g req/s (%d req x 128 tok, TTFT 100 ms, ITL 20 ms)", a.TargetRate, a.Requests)
		t.row(s, "achieved send rate / target", fmt.Sprintf("%.1f / %g", a.AchievedRate, a.TargetRate), "", "")
		target, v := "", ""
		if a.TargetRate == targetLatenessRate {
			target, v = fmt.Sprintf("p99 ≤ %.1f ms", targetLatenessP99Ms), verdict(a.LatenessP99Ms <= targetLatenessP99Ms)
		}
		t.row(s, "send lateness p50 / p99 / max ms", fmt.Sprintf("%.3f / %.3f / %.3f", a.LatenessP50Ms, a.LatenessP99Ms, a.LatenessMaxMs), target, v)
		timingRows(&t, s, a, a.TargetRate <= targetTTFTUpToRate)
		target, v = "", ""
		if a.TargetRate == targetCPUPerReadRate {
			target, v = fmt.Sprintf("≤ %.1f one token per read", targetCPUPerReadUs), verdict(a.CPUUsPerToken <= targetCPUPerReadUs)
		}
		t.row(s, "client CPU µs/token (CPU util); floor's µs/token; floor's read(2) per token", fmt.Sprintf("%.2f (%.0f%%); %.2f; %.2f", a.CPUUsPerToken, a.CPUUtil*100, a.FloorCPUUsPerToken, floorReadsPerToken(a.Gen)), target, v)
	}
	if c := r.Concurrency; c != nil {
		s := fmt.Sprintf("concurrency, %d streams x %d tok at once (TTFT 100 ms, ITL 20 ms)", c.Requests, c.Tokens)
		t.row(s, "completed / failed", fmt.Sprintf("%d / %d", c.Gen.Completed, c.Gen.Failed), "", "")
		timingRows(&t, s, *c, false)
		t.row(s, "client CPU µs/token (CPU util); floor's µs/token; floor's read(2) per token", fmt.Sprintf("%.2f (%.0f%%); %.2f; %.2f", c.CPUUsPerToken, c.CPUUtil*100, c.FloorCPUUsPerToken, floorReadsPerToken(c.Gen)),
			fmt.Sprintf("(≤ %.1f one token per read)", targetCPUPerReadUs), "")
	}
	for i, st := range r.Stress {
		s := fmt.Sprintf("stress, sonnet 512/128/2 chat at %g req/s, %d requests, records to part files", st.Rate, st.Requests)
		t.row(s, "achieved send rate; lateness p99 ms; CPU util", fmt.Sprintf("%.1f; %.3f; %.0f%%", st.AchievedRate, st.LatenessP99Ms, st.CPUUtil*100), "", "")
		t.row(s, "completed / failed", fmt.Sprintf("%d / %d", st.Gen.Completed, st.Gen.Failed), "", "")
		t.row(s, "plan build s; RSS after it MB", fmt.Sprintf("%.1f; %.1f", st.SetupSeconds, st.SetupRSSMB), "", "")
		t.row(s, "peak RSS MB, whole process (VmHWM)", f1(st.PeakRSSMB), fmt.Sprintf("< %d", targetPeakRSSMB), verdict(st.PeakRSSMB < targetPeakRSSMB))
		t.row(s, "peak RSS MB, sending phase", f1(st.RunPeakRSSMB), "", "")
		t.row(s, "mean RSS MB, first / last quarter of sending", fmt.Sprintf("%.1f / %.1f", st.RSSFirstQuarterMB, st.RSSLastQuarterMB), "", "")
		if i > 0 {
			prev := r.Stress[0]
			limit := prev.PeakRSSMB * (1 + targetRSSFlatFraction)
			t.row(s, fmt.Sprintf("peak RSS vs the %d-request run", prev.Requests), fmt.Sprintf("%+.1f MB", st.PeakRSSMB-prev.PeakRSSMB),
				fmt.Sprintf("flat (≤ +%.0f%%)", targetRSSFlatFraction*100), verdict(st.PeakRSSMB <= limit))
		}
	}
	if a := r.Aggregation; a != nil {
		s := fmt.Sprintf("aggregation, engine.Aggregate over %d stored records (10 ITL values each)", a.Records)
		t.row(s, "wall s (CPU s)", fmt.Sprintf("%.1f (%.1f)", a.Seconds, a.CPUSeconds), fmt.Sprintf("< %d s", targetAggregateSeconds), verdict(a.Seconds < targetAggregateSeconds))
		t.row(s, "peak RSS MB", f1(a.PeakRSSMB), "", "")
	}
	for _, st := range r.Storage {
		s := fmt.Sprintf("storage, the real shape x %.2f on S3 at %v a request: %d slices x %d replicas, %d parts, %d records of %d output tokens",
			st.Fraction, storeLatency, st.Slices, realReplicas, st.Objects, st.Records, st.OutputTokens)
		t.row(s, "aggregation wall s (CPU s), passes, S3 requests", fmt.Sprintf("%.1f (%.1f), %d, %d", st.AggregateS, st.AggregateCPU, st.Passes, st.S3Requests),
			fmt.Sprintf("< %d s", targetStorageAggregateSeconds), verdict(st.AggregateS < targetStorageAggregateSeconds))
		t.row(s, "aggregation peak RSS MB", f1(st.PeakRSSMB), fmt.Sprintf("< %d MB", targetStorageRSSMB), verdict(st.PeakRSSMB < targetStorageRSSMB))
		t.row(s, "compacting every unit, 16 at a time, s", f1(st.CompactSeconds), "", "")
		if st.PartsOnlyS > 0 {
			t.row(s, "aggregation before compaction, from the parts: wall s, S3 requests", fmt.Sprintf("%.1f, %d", st.PartsOnlyS, st.PartsOnlyS3Reqs), "", "")
		}
		if st.Checkpoints > 0 {
			t.row(s, fmt.Sprintf("aggregation with a checkpoint every %v: wall s, checkpoints, last MB, put s", checkpointEvery),
				fmt.Sprintf("%.1f, %d, %.1f, %.1f", st.CheckpointedS, st.Checkpoints, st.CheckpointMB, st.CheckpointPutS), "", "")
			t.row(s, "a retry resumed from the last checkpoint: from pass, slice, wall s", fmt.Sprintf("%d, %d, %.1f", st.ResumeFromPass, st.ResumeFromSlice+1, st.ResumeS), "", "")
		}
	}
	return t.String()
}

func timingRows(t *tableWriter, s string, a accuracyResult, targeted bool) {
	e, f := a.Engine, a.Floor
	t.row(s, "requests compared with the chunk log: engine / floor", fmt.Sprintf("%d / %d (unmatched %d / %d, failed %d / %d)",
		e.Requests, f.Requests, e.Unmatched, f.Unmatched, e.Failed, f.Failed), "", "")
	target, v := "", ""
	switch {
	case targeted && f.Requests == 0:
		target = "no floor probes in this run (--no-floor)"
	case targeted:
		target = fmt.Sprintf("mean ≤ floor + %.1f ms", targetTTFTMeanOverMs)
		v = verdict(a.TTFTMeanOverFloorMs <= targetTTFTMeanOverMs)
	}
	t.row(s, "TTFT abs error mean ms: engine / floor", fmt.Sprintf("%.3f / %.3f", e.TTFT.Mean, f.TTFT.Mean), target, v)
	if targeted {
		target = fmt.Sprintf("engine p99 ≤ %.0f ms", targetTTFTP99Ms)
		v = verdict(e.TTFT.P99 <= targetTTFTP99Ms)
	}
	t.row(s, "TTFT abs error p50 / p99 ms: engine; floor", fmt.Sprintf("%.3f / %.3f; %.3f / %.3f", e.TTFT.P50, e.TTFT.P99, f.TTFT.P50, f.TTFT.P99), target, v)
	t.row(s, "ITL abs error p50 / p99 ms: engine; floor", fmt.Sprintf("%.3f / %.3f; %.3f / %.3f", e.ITL.P50, e.ITL.P99, f.ITL.P50, f.ITL.P99), "", "")
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

type tableWriter struct {
	b    strings.Builder
	last string
}

func (t *tableWriter) row(scenario, figure, value, target, verdict string) {
	if t.b.Len() == 0 {
		t.b.WriteString("| Scenario | Figure | Measured | Target | |\n|---|---|---|---|---|\n")
	}
	if scenario == t.last {
		scenario = ""
	} else {
		t.last = scenario
	}
	fmt.Fprintf(&t.b, "| %s | %s | %s | %s | %s |\n", scenario, figure, value, target, verdict)
}

func (t *tableWriter) String() string { return t.b.String() }
