package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits that protect the worker and the run. The first two are defaults a
// request may raise (max_run_hours, max_plan_gib); the others are fixed by
// how the plan and the workflow are built.
const (
	DefaultMaxRunHours = 48
	DefaultMaxPlanGiB  = 4

	// PlanBytesPerPrompt is what one scheduled prompt costs a worker's plan
	// (engine.Plan): its arrival offset (8 bytes), its dispatch entry
	// (loadgen.Arrival, 16), and the dataset's per-prompt state (sonnet: a
	// length, 4; random: five 32-bit arrays, 20, plus the padding tokens it
	// draws to fit each prompt, which grow with random_input_len).
	// TestPlanBytesPerPromptIsAnUpperBound measures 29 (sonnet) and 45-50
	// (random, 16-token prompts); 1,024-token random prompts measured ~55.
	PlanBytesPerPrompt = 64

	// MaxPrompts is the most one run schedules: the datasets index prompts
	// with 32-bit integers.
	MaxPrompts = math.MaxInt32

	// MaxTokensPerPrompt bounds the lengths of one prompt and its output:
	// no served model takes a longer context, and a prompt is built in
	// memory before it is sent.
	MaxTokensPerPrompt = 10_000_000

	// MaxSlices bounds how many slices a run is cut into: each is one
	// activity per replica in the workflow's history.
	MaxSlices = 100_000
)

// RunSeconds is how long the schedule takes to send every prompt: the
// duration asked for, num_prompts over the rate, or the ramp's integral.
// It is 0 with an unlimited rate (everything is sent at once).
func (r Request) RunSeconds() float64 {
	if r.DurationSeconds > 0 {
		return r.DurationSeconds
	}
	n := float64(r.NumPrompts)
	if r.RampUpStrategy != "" {
		a, b := r.RampUpStartRPS, r.RampUpEndRPS
		if !(a > 0 && b > 0) {
			return 0
		}
		switch {
		case a == b:
			return n / a
		case r.RampUpStrategy == "linear":
			// rate(p) = a + (b-a)p over the fraction p of prompts sent.
			return n * math.Log(b/a) / (b - a)
		default:
			// rate(p) = a (b/a)^p.
			return n * (1 - a/b) / (a * math.Log(b/a))
		}
	}
	if r.RequestRate == nil || r.RequestRate.IsInf() || !(*r.RequestRate > 0) {
		return 0
	}
	return n / float64(*r.RequestRate)
}

func (r Request) checkLimits(p *problems) {
	if !(r.MaxRunHours > 0) || math.IsInf(r.MaxRunHours, 0) {
		p.add("max_run_hours", "must be a positive number of hours, got %v; leave it out for %d", r.MaxRunHours, DefaultMaxRunHours)
	}
	if !(r.MaxPlanGiB > 0) || math.IsInf(r.MaxPlanGiB, 0) {
		p.add("max_plan_gib", "must be a positive number of GiB, got %v; leave it out for %d", r.MaxPlanGiB, DefaultMaxPlanGiB)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"random_input_len", r.RandomInputLen}, {"random_output_len", r.RandomOutputLen}, {"random_prefix_len", r.RandomPrefixLen},
		{"sonnet_input_len", r.SonnetInputLen}, {"sonnet_output_len", r.SonnetOutputLen}, {"sharegpt_output_len", r.SharegptOutputLen},
	} {
		if f.v > MaxTokensPerPrompt {
			p.add(f.name, "%s tokens is longer than any served model's context (the most is %s); give the length the model serves",
				grouped(float64(f.v)), grouped(MaxTokensPerPrompt))
		}
	}
	if r.given0("num_prompts") && r.DurationSeconds == 0 {
		return // refused as given; what follows would be about the default
	}
	// With a duration, the count is request_rate x duration_seconds (which
	// Defaults leaves at 0 past MaxPrompts).
	countField, prompts := "num_prompts", float64(r.NumPrompts)
	if r.DurationSeconds > 0 && r.RequestRate != nil && !r.RequestRate.IsInf() {
		countField, prompts = "duration_seconds", float64(*r.RequestRate)*r.DurationSeconds
	}
	budget := r.MaxPlanGiB * (1 << 30)
	if plan := prompts * PlanBytesPerPrompt; prompts > MaxPrompts || (budget > 0 && plan > budget) {
		most := fmt.Sprintf("the most a plan may take is max_plan_gib %g (%s prompts); lower the count, or raise max_plan_gib where the workers have the memory",
			r.MaxPlanGiB, grouped(math.Floor(budget/PlanBytesPerPrompt)))
		if prompts > MaxPrompts {
			most = fmt.Sprintf("the most one run schedules is %s (prompts are indexed with 32-bit integers); split the run or lower the count", grouped(MaxPrompts))
		}
		p.add(countField, "%s prompts need ~%s of plan (%d bytes each) on every load worker; %s",
			grouped(prompts), bytesText(plan), PlanBytesPerPrompt, most)
	}
	secs := r.RunSeconds()
	if limit := r.MaxRunHours * 3600; r.MaxRunHours > 0 && secs > limit {
		field, what := "request_rate", fmt.Sprintf("%s prompts at %s req/s take ~%s", grouped(prompts), r.RequestRate, humanSeconds(secs))
		switch {
		case r.DurationSeconds > 0:
			field, what = "duration_seconds", fmt.Sprintf("%g seconds is ~%s", r.DurationSeconds, humanSeconds(secs))
		case r.RampUpStrategy != "":
			field, what = "ramp_up_start_rps", fmt.Sprintf("%s prompts ramped from %g to %g req/s take ~%s", grouped(prompts), r.RampUpStartRPS, r.RampUpEndRPS, humanSeconds(secs))
		case r.NumPrompts > 0 && secs/prompts > 3600:
			what += fmt.Sprintf(" (one request every ~%s)", humanSeconds(secs/prompts))
		}
		p.add(field, "%s; the most a run may take is max_run_hours %g (%s); raise the rate, send fewer prompts, or raise max_run_hours",
			what, r.MaxRunHours, humanSeconds(limit))
	}
	if r.SliceSeconds > 0 && secs <= r.MaxRunHours*3600 && secs/r.SliceSeconds > MaxSlices {
		p.add("slice_seconds", "%g cuts the ~%s run into %s slices; the most is %s (each is an activity per replica in the workflow history); give at least %g",
			r.SliceSeconds, humanSeconds(secs), grouped(math.Ceil(secs/r.SliceSeconds)), grouped(MaxSlices), math.Ceil(secs/MaxSlices))
	}
}

// grouped writes a count with thousands separators: 500,000,000,000.
func grouped(f float64) string {
	if f >= 1e18 {
		return strconv.FormatFloat(f, 'g', 3, 64)
	}
	s := strconv.FormatInt(int64(f), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func bytesText(b float64) string {
	switch {
	case b >= 1e12:
		return grouped(math.Round(b/1e9)) + " GB"
	case b >= 1e9:
		return strconv.FormatFloat(b/1e9, 'f', 1, 64) + " GB"
	default:
		return strconv.FormatFloat(b/1e6, 'f', 0, 64) + " MB"
	}
}

// humanSeconds reads like "231 days", "11h34m", "45s".
func humanSeconds(s float64) string {
	switch {
	case s >= 2*86400*365:
		return grouped(math.Round(s/(86400*365))) + " years"
	case s >= 3*86400:
		return grouped(math.Round(s/86400)) + " days"
	case s >= 3600:
		m := int64(math.Round(s / 60))
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", int64(s)/60, int64(s)%60)
	}
	return strconv.FormatFloat(s, 'g', 3, 64) + "s"
}
