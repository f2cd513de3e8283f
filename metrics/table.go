package metrics

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// PlotTip is the line vLLM prints (when at least one request succeeded)
// because termplotlib/gnuplot are not installed; it comes right before the
// table.
const PlotTip = "tip: install termplotlib and gnuplot to plot the metrics"

// AllFailedWarning is the warning vLLM raises (Python's warnings.warn, on
// stderr) when no request succeeded.
const AllFailedWarning = "All requests failed. This is likely due to a misconfiguration on the benchmark arguments."

// FormatAllFailed tells the user that every request failed: vLLM's
// warning as Python prints it ("UserWarning: ..."), then the most frequent
// error texts (at most top) with their counts, one line each. It is empty
// when some request succeeded or none failed.
func FormatAllFailed(res Result, top int) string {
	if res.Completed > 0 || res.Failed == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "UserWarning: %s\n", AllFailedWarning)
	fmt.Fprintf(&b, "Most frequent errors of the %d failed requests:\n", res.Failed)
	for _, e := range res.ErrorCounts[:min(top, len(res.ErrorCounts))] {
		text := strings.ReplaceAll(strings.TrimSpace(e.Error), "\n", "\n        ")
		if text == "" {
			text = "(no error text)"
		}
		fmt.Fprintf(&b, "  %4d x %s\n", e.Count, text)
	}
	if rest := len(res.ErrorCounts) - top; rest > 0 {
		fmt.Fprintf(&b, "  ... and %d other error texts\n", rest)
	}
	return b.String()
}

// FormatReport renders everything vLLM prints from calculate_metrics to the
// end of the table: the failure messages, the plot tip, then the table.
func FormatReport(res Result, run RunInfo) string {
	out := FormatFailures(res)
	if res.Completed > 0 {
		out += PlotTip + "\n"
	}
	return out + FormatTable(res, run)
}

// FormatFailures renders vLLM's failure lines: a heading and "Error i: ..."
// for the first 10 unsuccessful requests; empty when none failed.
func FormatFailures(res Result) string {
	if res.Failed == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Failed requests during benchmark run detected (capping to 10):\n")
	for i, e := range res.Errors {
		fmt.Fprintf(&b, "Error %d: %s\n", i, e)
	}
	return b.String()
}

// FormatTable renders vLLM's "Serving Benchmark Result" table, each line
// ending in "\n".
func FormatTable(res Result, run RunInfo) string {
	t := &table{}
	t.center(" Serving Benchmark Result ", '=')
	t.intRow("Successful requests:", res.Completed)
	t.intRow("Failed requests:", res.Failed)
	if run.MaxConcurrency != nil {
		t.intRow("Maximum request concurrency:", *run.MaxConcurrency)
	}
	if !math.IsInf(run.RequestRate, 1) {
		t.floatRow("Request rate configured (RPS):", run.RequestRate)
	}
	t.floatRow("Benchmark duration (s):", res.Duration)
	t.intRow("Total input tokens:", res.TotalInput)
	if res.HasTokenizer {
		t.intRow("Total generated tokens:", res.TotalOutput)
	}
	t.floatRow("Request throughput (req/s):", res.RequestThroughput)
	if res.HasGoodput {
		t.floatRow("Request goodput (req/s):", res.RequestGoodput)
	}
	if res.HasTokenizer {
		t.floatRow("Output token throughput (tok/s):", res.OutputThroughput)
		t.floatRow("Peak output token throughput (tok/s):", res.MaxOutputTokensPerS)
	}
	t.floatRow("Peak concurrent requests:", float64(res.MaxConcurrentRequests))
	if res.RTFx > 0 {
		t.floatRow("RTFx (Inverse Real-Time Factor):", res.RTFx)
	}
	if res.HasTokenizer {
		t.floatRow("Total token throughput (tok/s):", res.TotalTokenThroughput)
	}
	for _, m := range res.reportedMetrics() {
		t.center(m.header, '-')
		t.floatRow("Mean "+m.title+" (ms):", m.stats.Mean)
		t.floatRow("Median "+m.title+" (ms):", m.stats.Median)
		for _, p := range m.stats.Percentiles {
			t.floatRow("P"+percentileWord(p.P)+" "+m.title+" (ms):", p.Value)
		}
	}
	if s := run.SpecDecode; s != nil {
		t.center("Speculative Decoding", '-')
		t.floatRow("Acceptance rate (%):", s.AcceptanceRate)
		t.floatRow("Acceptance length:", s.AcceptanceLength)
		t.intRow("Drafts:", s.NumDrafts)
		t.intRow("Draft tokens:", s.DraftTokens)
		t.intRow("Accepted tokens:", s.AcceptedTokens)
		if len(s.PerPositionAcceptanceRates) > 0 {
			t.line("Per-position acceptance (%):")
			for i, rate := range s.PerPositionAcceptanceRates {
				t.floatRow(fmt.Sprintf("  Position %d:", i), rate*100)
			}
		}
	}
	t.line(strings.Repeat("=", 50))
	return t.b.String()
}

type table struct{ b strings.Builder }

func (t *table) line(s string) {
	t.b.WriteString(s)
	t.b.WriteByte('\n')
}

// row is Python's "{:<40} {:<10}".format(label, value).
func (t *table) row(label, value string) {
	t.line(padRight(label, 40) + " " + padRight(value, 10))
}

func (t *table) intRow(label string, n int) { t.row(label, strconv.Itoa(n)) }

func (t *table) floatRow(label string, x float64) { t.row(label, pyFixed2(x)) }

// center is Python's "{s:{c}^50}": the odd fill character goes right.
func (t *table) center(s string, fill byte) {
	n := max(50-len([]rune(s)), 0)
	f := string(fill)
	t.line(strings.Repeat(f, n/2) + s + strings.Repeat(f, n-n/2))
}

func padRight(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// pyFixed2 is Python's format(x, ".2f").
func pyFixed2(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case math.IsNaN(x):
		return "nan"
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}
