package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/vibench/vllm-inference-benchmark/results"
)

// compareMetrics are the result JSON keys starter compare shows, in order.
var compareMetrics = []struct{ label, key string }{
	{"Request throughput (req/s)", "request_throughput"},
	{"Output token throughput (tok/s)", "output_throughput"},
	{"Mean TTFT (ms)", "mean_ttft_ms"}, {"Median TTFT (ms)", "median_ttft_ms"}, {"P99 TTFT (ms)", "p99_ttft_ms"},
	{"Mean TPOT (ms)", "mean_tpot_ms"}, {"Median TPOT (ms)", "median_tpot_ms"}, {"P99 TPOT (ms)", "p99_tpot_ms"},
	{"Mean ITL (ms)", "mean_itl_ms"}, {"Median ITL (ms)", "median_itl_ms"}, {"P99 ITL (ms)", "p99_itl_ms"},
	{"Mean E2EL (ms)", "mean_e2el_ms"}, {"Median E2EL (ms)", "median_e2el_ms"}, {"P99 E2EL (ms)", "p99_e2el_ms"},
	{"Successful requests", "completed"}, {"Failed requests", "failed"},
}

// compareRow is one metric of both runs; nil where a run has no value
// (a metric it did not compute, a difference from 0).
type compareRow struct {
	Metric    string   `json:"metric"`
	A         *float64 `json:"a"`
	B         *float64 `json:"b"`
	DiffPct   *float64 `json:"diff_pct"`
	isInteger bool
}

func compareCommand(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	return func(ctx context.Context, args []string) error {
		var res [2]map[string]any
		for i, arg := range args {
			var err error
			if res[i], err = loadResult(ctx, arg); err != nil {
				return err
			}
		}
		return printCompare(os.Stdout, args[0], args[1], compareResults(res[0], res[1]), *asJSON)
	}
}

// loadResult reads a run's result.json: a file, a run's directory, or a
// run id in the configured store (as starter result --json does).
func loadResult(ctx context.Context, arg string) (map[string]any, error) {
	var body []byte
	st, err := os.Stat(arg)
	switch {
	case err == nil && st.IsDir():
		body, err = os.ReadFile(filepath.Join(arg, "result.json"))
	case err == nil:
		body, err = os.ReadFile(arg)
	default:
		var store results.Store
		if store, err = results.FromEnv(ctx, os.Getenv); err == nil {
			body, err = store.Get(ctx, results.ResultKey(arg))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: not a result JSON: %w", arg, err)
	}
	return m, nil
}

func compareResults(a, b map[string]any) []compareRow {
	num := func(m map[string]any, key string) *float64 {
		if v, ok := m[key].(float64); ok {
			return &v
		}
		return nil
	}
	rows := make([]compareRow, 0, len(compareMetrics))
	for _, m := range compareMetrics {
		r := compareRow{Metric: m.label, A: num(a, m.key), B: num(b, m.key), isInteger: m.key == "completed" || m.key == "failed"}
		if r.A != nil && r.B != nil && *r.A != 0 {
			d := (*r.B - *r.A) / *r.A * 100
			r.DiffPct = &d
		}
		rows = append(rows, r)
	}
	return rows
}

func printCompare(w io.Writer, nameA, nameB string, rows []compareRow, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(map[string]any{"a": nameA, "b": nameB, "metrics": rows}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	value := func(v *float64, integer bool) string {
		switch {
		case v == nil:
			return noData
		case integer:
			return fmt.Sprintf("%.0f", *v)
		}
		return fmt.Sprintf("%.2f", *v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tA\tB\tB vs A\n")
	for _, r := range rows {
		diff := noData
		if r.DiffPct != nil {
			diff = fmt.Sprintf("%+.1f%%", *r.DiffPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Metric, value(r.A, r.isInteger), value(r.B, r.isInteger), diff)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "A: %s\nB: %s\n", nameA, nameB)
	return err
}
