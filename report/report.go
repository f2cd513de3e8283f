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
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

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
	Replicas  []replicaRow
	GPU       gpuView
	Table     string
	Request   string
	SliceNote string
	Hover     bool // points carry their values as hover titles
	Charts    []chartView
	Palette   []string
}

type fact struct {
	Name, Value string
	Bad         bool // highlighted: the figure needs the reader's attention
}

// replicaRow is one line of the header's per-replica table.
type replicaRow struct {
	Name, URL                 string
	Completed, Failed         int
	FailedPct                 float64
	Bad                       bool
	TTFTP99, ITLP99, WattsGPU string
}

// request is what the report reads of request.json.
type request struct {
	SliceSeconds float64  `json:"slice_seconds"`
	DatasetName  string   `json:"dataset_name"`
	BaseURL      string   `json:"base_url"`
	Replicas     []string `json:"replicas_base_urls"`
	Deploy       string   `json:"deploy"`
	RampUp       string   `json:"ramp_up_strategy"`
}

// urls are the replicas' servers as the request names them (none for
// deployed servers, whose pod addresses the request does not hold).
func (r request) urls() []string {
	if len(r.Replicas) > 0 {
		return r.Replicas
	}
	if r.BaseURL != "" {
		return []string{r.BaseURL}
	}
	return nil
}

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
	Date    string `json:"date"`
	ModelID string `json:"model_id"`
	// RequestRate is each replica's (a number, or "inf" as vLLM writes it).
	RequestRate       json.RawMessage `json:"request_rate"`
	RequestThroughput float64         `json:"request_throughput"`
	Label             *string         `json:"label"`
	Duration          float64         `json:"duration"`
	Completed         int             `json:"completed"`
	Failed            int             `json:"failed"`
	Accounting        *struct {
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
			Completed int     `json:"completed"`
			Failed    int     `json:"failed"`
			FailedPct float64 `json:"failed_pct"`
			TTFTP99   float64 `json:"ttft_p99_ms"`
			ITLP99    float64 `json:"itl_p99_ms"`
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
	var req request
	if len(in.RequestJSON) > 0 {
		if err := json.Unmarshal(in.RequestJSON, &req); err != nil {
			return fmt.Errorf("report: request.json: %w", err)
		}
		shown, err := applicableSettings(in.RequestJSON, req)
		if err != nil {
			return fmt.Errorf("report: request.json: %w", err)
		}
		p.Request = shown
	}
	if len(in.ResultJSON) > 0 {
		var res resultSummary
		if err := json.Unmarshal(in.ResultJSON, &res); err != nil {
			return fmt.Errorf("report: result.json: %w", err)
		}
		p.Facts, p.Warnings = summarize(res, req)
		p.Replicas = replicaRows(res, req)
		p.GPU = gpuSummary(res.GPU)
	}
	var rows []sliceRow
	if len(in.Timeseries) > 0 {
		if err := json.Unmarshal(in.Timeseries, &rows); err != nil {
			return fmt.Errorf("report: timeseries.json: %w", err)
		}
	}
	if len(rows) > 0 {
		p.Charts = buildCharts(rows, req.SliceSeconds, req.urls())
		for _, c := range p.Charts {
			for _, l := range c.Lines {
				p.Hover = p.Hover || len(l.Markers) > 0
			}
		}
		p.SliceNote = "Each point is one slice of the run, plotted at the slice's start."
		if req.SliceSeconds > 0 {
			p.SliceNote = fmt.Sprintf("Each point is one %s s slice of the run, plotted at the slice's start.", formatValue(req.SliceSeconds))
		}
	}
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func summarize(r resultSummary, req request) (facts []fact, warnings []string) {
	add := func(name, value string) {
		if value != "" {
			facts = append(facts, fact{Name: name, Value: value})
		}
	}
	add("Model", r.ModelID)
	add("Date", isoDate(r.Date))
	if r.Label != nil {
		add("Label", *r.Label)
	}
	add("Duration", formatValue(r.Duration)+" s")
	add("Request rate", rateFact(r, req))
	add("Throughput", formatValue(r.RequestThroughput)+" req/s")
	if a := r.Accounting; a != nil {
		add("Scheduled", fmt.Sprint(a.Scheduled))
	}
	add("Completed", fmt.Sprint(r.Completed))
	failed := fact{Name: "Failed", Value: fmt.Sprint(r.Failed)}
	if f := r.Failures; f != nil && r.Failed > 0 {
		failed.Value += fmt.Sprintf(" (%.1f%%)", f.FailedPct)
		failed.Bad = f.FailedPct > vllm.FailedWarnPct
	}
	facts = append(facts, failed)
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

// isoDate writes vLLM's date (20060102-150405, the aggregating machine's
// local time) as 2006-01-02 15:04:05; anything else as it is.
func isoDate(date string) string {
	t, err := time.Parse("20060102-150405", date)
	if err != nil {
		return date
	}
	return t.Format(time.DateTime)
}

// rateFact says the configured rate is each replica's, and the total.
func rateFact(r resultSummary, req request) string {
	rate := strings.Trim(string(r.RequestRate), `"`)
	if rate == "" {
		return ""
	}
	n := len(req.urls())
	if f := r.Failures; f != nil && len(f.Replicas) > 0 {
		n = len(f.Replicas)
	}
	perReplica, err := strconv.ParseFloat(rate, 64)
	if n <= 1 || err != nil || math.IsInf(perReplica, 0) {
		return rate + " req/s per replica"
	}
	return fmt.Sprintf("%s req/s per replica × %d = %s req/s", formatValue(perReplica), n, formatValue(perReplica*float64(n)))
}

// replicaRows is the per-replica table: its server, requests, latency and
// GPU power where the run knows each.
func replicaRows(r resultSummary, req request) []replicaRow {
	if r.Failures == nil {
		return nil
	}
	urls := req.urls()
	watts := map[int]float64{}
	if g := r.GPU; g != nil {
		for _, rep := range g.Replicas {
			watts[rep.Replica] = rep.AvgWattsGPU
		}
	}
	ms := func(v float64) string {
		if v == 0 {
			return "—"
		}
		return formatValue(v) + " ms"
	}
	var rows []replicaRow
	for _, rep := range r.Failures.Replicas {
		row := replicaRow{Name: fmt.Sprintf("replica %d", rep.Replica), URL: "—", Completed: rep.Completed, Failed: rep.Failed,
			FailedPct: rep.FailedPct, Bad: rep.FailedPct > vllm.FailedWarnPct, TTFTP99: ms(rep.TTFTP99), ITLP99: ms(rep.ITLP99), WattsGPU: "—"}
		if rep.Replica < len(urls) {
			row.URL = urls[rep.Replica]
		}
		if w, ok := watts[rep.Replica]; ok {
			row.WattsGPU = strconv.FormatFloat(w, 'f', 0, 64) + " W"
		}
		rows = append(rows, row)
	}
	return rows
}

// applicableSettings is request.json, indented, without the settings the
// run did not use: other datasets' lengths, host and port beside server
// URLs, Kubernetes sizing for existing servers, ramp-up rates without a
// ramp-up.
func applicableSettings(body []byte, req request) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", fmt.Errorf("not a JSON object")
	}
	var out bytes.Buffer
	out.WriteString("{")
	first := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return "", err
		}
		if !applies(key, req) {
			continue
		}
		if !first {
			out.WriteString(",")
		}
		first = false
		k, _ := json.Marshal(key)
		fmt.Fprintf(&out, "%s:%s", k, value)
	}
	out.WriteString("}")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out.Bytes(), "", "  "); err != nil {
		return "", err
	}
	return pretty.String(), nil
}

// kubernetesOnly are the settings of a run that deploys its servers.
var kubernetesOnly = []string{"replica_count", "gpu_type", "namespace", "image", "vllm_args", "hf_token_secret",
	"model_storage_pvc", "node_selector", "keep_deployment", "ready_timeout_seconds", "replica_gone_limit_seconds",
	"vllm_version", "cpu", "memory", "shm_size"}

func applies(key string, req request) bool {
	for _, dataset := range []string{"sonnet", "random", "sharegpt"} {
		if strings.HasPrefix(key, dataset+"_") && req.DatasetName != dataset {
			return false
		}
	}
	switch {
	case (key == "host" || key == "port") && req.urls() != nil:
		return false
	case strings.HasPrefix(key, "ramp_up_") && req.RampUp == "":
		return false
	case slices.Contains(kubernetesOnly, key) && req.Deploy != "kubernetes":
		return false
	}
	return true
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
