// Package report renders a run's report.html: one self-contained page (inline
// CSS and SVG, nothing fetched) with vLLM's result table, the request and
// charts of the per-slice timeseries, one line per replica.
package report

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/engine"
	vllm "github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// Input is what one report shows; empty fields are shown as not stored.
type Input struct {
	RunID       string
	Table       string // result.txt: vLLM's printed result
	RequestJSON []byte // request.json
	ResultJSON  []byte // result.json
	Timeseries  []byte // timeseries.json: a list of slice rows
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// palette colours replicas in order (Tableau 10); past ten, lines repeat the
// colours dashed, then dotted.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

type page struct {
	RunID     string
	Facts     []fact
	Warnings  []string
	GPU       gpuView
	Table     string
	Request   string
	SliceNote string
	Hover     bool // points carry their values as hover titles
	Charts    []chartView
	Palette   []string
}

type fact struct{ Name, Value string }

// gpuView is the header's GPU power: the run's figures in a line, why they
// are missing or partial, and a row per host and replica pod.
type gpuView struct {
	Line, Note string
	Rows       []gpuRow
}

type gpuRow struct {
	Name, Host string
	engine.GPUFigures
}

// Whole prints a figure without decimals, for the template.
func (gpuRow) Whole(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// resultSummary is the part of result.json shown above the table.
type resultSummary struct {
	Date       string  `json:"date"`
	ModelID    string  `json:"model_id"`
	Label      *string `json:"label"`
	Duration   float64 `json:"duration"`
	Completed  int     `json:"completed"`
	Failed     int     `json:"failed"`
	Accounting *struct {
		Scheduled   int    `json:"scheduled"`
		Interrupted int    `json:"interrupted"`
		NotRun      int    `json:"not_run"`
		Partial     bool   `json:"partial"`
		Reason      string `json:"reason"`
	} `json:"run_accounting"`
	Health *struct {
		Warning string `json:"warning"`
	} `json:"client_health"`
	Failures *struct {
		FailedPct float64 `json:"failed_pct"`
		Replicas  []struct {
			Replica   int     `json:"replica"`
			Failed    int     `json:"failed"`
			FailedPct float64 `json:"failed_pct"`
			Reasons   []struct {
				Reason string `json:"reason"`
				Count  int    `json:"count"`
			} `json:"failed_by_reason"`
		} `json:"replicas"`
		Warnings []string `json:"warnings"`
	} `json:"failures"`
	GPU *engine.RunGPUPower `json:"gpu_power"`
}

// consoleTips are lines vLLM prints for a terminal user, not results.
var consoleTips = []string{vllm.PlotTip}

// withoutConsoleTips is the printed result without vLLM's console tips.
func withoutConsoleTips(table string) string {
	lines := strings.SplitAfter(table, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return slices.Contains(consoleTips, strings.TrimRight(l, "\r\n")) })
	return strings.Join(lines, "")
}

// Render writes the report page for in.
func Render(w io.Writer, in Input) error {
	p := page{RunID: in.RunID, Table: withoutConsoleTips(in.Table), Palette: palette}
	sliceSeconds := 0.0
	if len(in.RequestJSON) > 0 {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, in.RequestJSON, "", "  "); err != nil {
			return fmt.Errorf("report: request.json: %w", err)
		}
		p.Request = pretty.String()
		var req struct {
			SliceSeconds float64 `json:"slice_seconds"`
		}
		if err := json.Unmarshal(in.RequestJSON, &req); err != nil {
			return fmt.Errorf("report: request.json: %w", err)
		}
		sliceSeconds = req.SliceSeconds
	}
	if len(in.ResultJSON) > 0 {
		var res resultSummary
		if err := json.Unmarshal(in.ResultJSON, &res); err != nil {
			return fmt.Errorf("report: result.json: %w", err)
		}
		p.Facts, p.Warnings = summarize(res)
		p.GPU = gpuSummary(res.GPU)
	}
	var rows []sliceRow
	if len(in.Timeseries) > 0 {
		if err := json.Unmarshal(in.Timeseries, &rows); err != nil {
			return fmt.Errorf("report: timeseries.json: %w", err)
		}
	}
	if len(rows) > 0 {
		p.Charts = buildCharts(rows, sliceSeconds)
		for _, c := range p.Charts {
			for _, l := range c.Lines {
				p.Hover = p.Hover || len(l.Markers) > 0
			}
		}
		p.SliceNote = "Each point is one slice of the run, plotted at the slice's start."
		if sliceSeconds > 0 {
			p.SliceNote = fmt.Sprintf("Each point is one %s s slice of the run, plotted at the slice's start.", formatValue(sliceSeconds))
		}
	}
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func summarize(r resultSummary) (facts []fact, warnings []string) {
	add := func(name, value string) {
		if value != "" {
			facts = append(facts, fact{name, value})
		}
	}
	add("Model", r.ModelID)
	add("Date", r.Date)
	if r.Label != nil {
		add("Label", *r.Label)
	}
	add("Duration", formatValue(r.Duration)+" s")
	if a := r.Accounting; a != nil {
		add("Scheduled", fmt.Sprint(a.Scheduled))
	}
	add("Completed", fmt.Sprint(r.Completed))
	failed := fmt.Sprint(r.Failed)
	if f := r.Failures; f != nil && r.Failed > 0 {
		failed += fmt.Sprintf(" (%.1f%%)", f.FailedPct)
	}
	add("Failed", failed)
	if a := r.Accounting; a != nil {
		add("Interrupted", fmt.Sprint(a.Interrupted))
		add("Not run", fmt.Sprint(a.NotRun))
		if a.Partial {
			warnings = append(warnings, "Partial run: "+a.Reason)
		}
	}
	if f := r.Failures; f != nil {
		warnings = append(warnings, f.Warnings...)
		if f.FailedPct > vllm.FailedWarnPct {
			var by []string
			for _, rep := range f.Replicas {
				if rep.Failed == 0 {
					continue
				}
				var reasons []string
				for _, rc := range rep.Reasons {
					reasons = append(reasons, fmt.Sprintf("%d %s", rc.Count, rc.Reason))
				}
				by = append(by, fmt.Sprintf("replica %d: %.1f%% failed (%s)", rep.Replica, rep.FailedPct, strings.Join(reasons, ", ")))
			}
			warnings = append(warnings, fmt.Sprintf("%.1f%% of requests failed. %s", f.FailedPct, strings.Join(by, "; ")))
		}
	}
	if h := r.Health; h != nil && h.Warning != "" {
		warnings = append(warnings, "Client health: "+h.Warning)
	}
	return facts, warnings
}

// gpuSummary is the header's GPU power: never left out, so a run without
// it says why.
func gpuSummary(g *engine.RunGPUPower) gpuView {
	switch {
	case g == nil:
		return gpuView{Line: "not measured: result.json has no gpu_power"}
	case !g.Measured:
		return gpuView{Line: cmp.Or(g.Note, "not measured")}
	}
	v := gpuView{Line: g.Summary, Note: g.Note}
	for _, h := range g.Hosts {
		v.Rows = append(v.Rows, gpuRow{Name: "host", Host: h.Host, GPUFigures: h.GPUFigures})
	}
	for _, r := range g.Replicas {
		v.Rows = append(v.Rows, gpuRow{Name: fmt.Sprintf("replica %d (%s)", r.Replica, r.Pod), Host: r.Host, GPUFigures: r.GPUFigures})
	}
	return v
}

// Write renders the report of a stored run and stores it under
// results.ReportKey(runID). Objects the run lacks (a run stopped before its
// result) leave their section empty; a run with none of them is an error.
func Write(ctx context.Context, store results.Store, runID string) (key string, err error) {
	if err := results.ValidateRunID(runID); err != nil {
		return "", err
	}
	in := Input{RunID: runID}
	var table []byte
	found := false
	for _, o := range []struct {
		key string
		dst *[]byte
	}{
		{results.RequestKey(runID), &in.RequestJSON},
		{results.ResultKey(runID), &in.ResultJSON},
		{results.TimeseriesJSONKey(runID), &in.Timeseries},
		{results.TableKey(runID), &table},
	} {
		b, err := store.Get(ctx, o.key)
		if err != nil && !errors.Is(err, results.ErrNotFound) {
			return "", err
		}
		found = found || err == nil
		*o.dst = b
	}
	in.Table = string(table)
	if !found {
		return "", fmt.Errorf("report: run %q has no request, result or timeseries: %w", runID, results.ErrNotFound)
	}
	var page bytes.Buffer
	if err := Render(&page, in); err != nil {
		return "", err
	}
	key = results.ReportKey(runID)
	if err := store.Put(ctx, key, page.Bytes()); err != nil {
		return "", err
	}
	return key, nil
}
