package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/report"
	"github.com/vibench/vllm-inference-benchmark/results"
)

// row is the fixture's view of a timeseries line.
type row struct {
	Slice         int      `json:"slice"`
	Replica       int      `json:"replica"`
	Completed     int      `json:"completed"`
	Failed        int      `json:"failed"`
	Interrupted   int      `json:"interrupted"`
	TTFTP50       float64  `json:"ttft_p50_ms"`
	TTFTP99       float64  `json:"ttft_p99_ms"`
	ITLP50        float64  `json:"itl_p50_ms"`
	ITLP99        float64  `json:"itl_p99_ms"`
	OutputTokS    float64  `json:"output_tokens_per_s"`
	ServerRunning *float64 `json:"server_running"`
	ServerWaiting *float64 `json:"server_waiting"`
	KVCacheUsage  *float64 `json:"kv_cache_usage"`
}

// wantChart is a chart the page must hold and the rows it must plot.
type wantChart struct {
	title, yUnit string
	value        func(row) (float64, bool)
}

func latency(f func(row) float64) func(row) (float64, bool) {
	return func(r row) (float64, bool) { return f(r), r.Completed > 0 }
}

func every(f func(row) float64) func(row) (float64, bool) {
	return func(r row) (float64, bool) { return f(r), true }
}

var fixtureCharts = []wantChart{
	{"Time to first token, p50", "(ms)", latency(func(r row) float64 { return r.TTFTP50 })},
	{"Time to first token, p99", "(ms)", latency(func(r row) float64 { return r.TTFTP99 })},
	{"Inter-token latency, p50", "(ms)", latency(func(r row) float64 { return r.ITLP50 })},
	{"Inter-token latency, p99", "(ms)", latency(func(r row) float64 { return r.ITLP99 })},
	{"Output token throughput", "(tokens/s)", every(func(r row) float64 { return r.OutputTokS })},
	{"Requests completed per slice", "(requests)", every(func(r row) float64 { return float64(r.Completed) })},
	{"Requests failed per slice", "(requests)", every(func(r row) float64 { return float64(r.Failed) })},
	{"Requests interrupted per slice", "(requests)", every(func(r row) float64 { return float64(r.Interrupted) })},
	{"Server queue: requests running", "(requests)", every(func(r row) float64 { return *r.ServerRunning })},
	{"Server queue: requests waiting", "(requests)", every(func(r row) float64 { return *r.ServerWaiting })},
	{"KV-cache usage", "(%)", every(func(r row) float64 { return *r.KVCacheUsage * 100 })},
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureInput(t *testing.T) report.Input {
	return report.Input{
		RunID:       "fixture-run",
		Table:       string(readFile(t, "run1/result.txt")),
		RequestJSON: readFile(t, "run1/request.json"), // slice_seconds 15
		ResultJSON:  readFile(t, "run1/result.json"),
		Timeseries:  readFile(t, "timeseries.json"),
	}
}

func render(t *testing.T, in report.Input) (string, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	if err := report.Render(&b, in); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// charts maps each chart's title to its figure.
func charts(t *testing.T, doc *html.Node) map[string]*html.Node {
	t.Helper()
	out := map[string]*html.Node{}
	for _, fig := range findAll(doc, tag("figure")) {
		h := findAll(fig, tag("h3"))
		if len(h) != 1 {
			t.Fatalf("figure with %d titles", len(h))
		}
		out[text(h[0])] = fig
	}
	return out
}

// plot is the chart's drawing, beside the legend's little key drawings.
func plot(fig *html.Node) *html.Node {
	return findAll(fig, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "plot") })[0]
}

// linearFit returns a and b of pos = a + b*value through the points, and
// the largest distance of any point from that line.
func linearFit(vals, pos []float64) (a, b, worst float64) {
	n := float64(len(vals))
	var sv, sp, svv, svp float64
	for i := range vals {
		sv += vals[i]
		sp += pos[i]
		svv += vals[i] * vals[i]
		svp += vals[i] * pos[i]
	}
	b = (n*svp - sv*sp) / (n*svv - sv*sv)
	a = (sp - b*sv) / n
	for i := range vals {
		worst = max(worst, math.Abs(a+b*vals[i]-pos[i]))
	}
	return a, b, worst
}

// axisMap reads the tick labels of one axis of a plot: the labels as
// numbers and where they sit.
func axisMap(t *testing.T, svg *html.Node, anchor, coord string) (vals, pos []float64) {
	t.Helper()
	for _, n := range findAll(svg, tag("text")) {
		if attr(n, "text-anchor") != anchor || hasClass(n, "axis-label") || hasClass(n, "empty") {
			continue
		}
		v, err := strconv.ParseFloat(text(n), 64)
		if err != nil {
			t.Fatalf("tick label %q: %v", text(n), err)
		}
		p, _ := strconv.ParseFloat(attr(n, coord), 64)
		vals, pos = append(vals, v), append(pos, p)
	}
	if len(vals) < 2 {
		t.Fatalf("%d ticks on the %s axis", len(vals), coord)
	}
	return vals, pos
}

func TestRenderFixtureChartsMatchData(t *testing.T) {
	in := fixtureInput(t)
	var rows []row
	if err := json.Unmarshal(in.Timeseries, &rows); err != nil {
		t.Fatal(err)
	}
	_, doc := render(t, in)
	figs := charts(t, doc)
	for _, want := range fixtureCharts {
		t.Run(want.title, func(t *testing.T) {
			fig, ok := figs[want.title]
			if !ok {
				t.Fatalf("no chart; have %v", mapsKeys(figs))
			}
			svg := plot(fig)
			var labels []string
			for _, n := range findAll(svg, func(n *html.Node) bool { return hasClass(n, "axis-label") }) {
				labels = append(labels, text(n))
			}
			if len(labels) != 2 || !strings.HasSuffix(labels[0], want.yUnit) || labels[1] != "Time since start (s)" {
				t.Errorf("axis labels %q, want y in %s and time in s", labels, want.yUnit)
			}
			legend := text(findAll(fig, tag("ul"))[0])
			if !strings.Contains(legend, "replica 0") || !strings.Contains(legend, "replica 1") {
				t.Errorf("legend %q", legend)
			}
			yTickVals, yTickPos := axisMap(t, svg, "end", "y")
			xTickVals, xTickPos := axisMap(t, svg, "middle", "x")
			// The axes themselves must be linear and point the usual way.
			ya, yb, yErr := linearFit(yTickVals, yTickPos)
			xa, xb, xErr := linearFit(xTickVals, xTickPos)
			if yErr > 0.1 || xErr > 0.1 || yb >= 0 || xb <= 0 {
				t.Fatalf("ticks not linear: y %v/%v x %v/%v", yTickVals, yTickPos, xTickVals, xTickPos)
			}
			lines := findAll(svg, tag("polyline"))
			if len(lines) != 2 {
				t.Fatalf("%d polylines, want one per replica", len(lines))
			}
			for _, line := range lines {
				var replica int
				if _, err := fmt.Sscanf(attr(line, "data-series"), "replica %d (http://127.0.0.1:", &replica); err != nil {
					t.Fatalf("series %q does not name its replica and server: %v", attr(line, "data-series"), err)
				}
				var want2 [][2]float64 // slice seconds, value
				for _, r := range rows {
					if v, ok := want.value(r); ok && r.Replica == replica {
						want2 = append(want2, [2]float64{float64(r.Slice) * 15, v})
					}
				}
				got := strings.Fields(attr(line, "points"))
				if len(got) != len(want2) {
					t.Fatalf("replica %d: %d points, want %d", replica, len(got), len(want2))
				}
				for i, p := range got {
					var x, y float64
					if _, err := fmt.Sscanf(p, "%g,%g", &x, &y); err != nil {
						t.Fatalf("point %q: %v", p, err)
					}
					wantX, wantY := xa+xb*want2[i][0], ya+yb*want2[i][1]
					if math.Abs(x-wantX) > 0.1 || math.Abs(y-wantY) > 0.1 {
						t.Errorf("replica %d point %d at (%g,%g), want (%.1f,%.1f) for %v", replica, i, x, y, wantX, wantY, want2[i])
					}
					if y < yTickPos[len(yTickPos)-1]-0.1 {
						t.Errorf("replica %d point %d above the axis top", replica, i)
					}
				}
			}
		})
	}
	if _, ok := figs["GPU power per GPU, average, by host"]; ok {
		t.Error("GPU power chart drawn without GPU power data")
	}
}

func mapsKeys(m map[string]*html.Node) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRenderShowsTableRequestAndNoExternalURLs(t *testing.T) {
	in := fixtureInput(t)
	page, doc := render(t, in)
	pres := findAll(doc, tag("pre"))
	if len(pres) != 2 {
		t.Fatalf("%d <pre>, want table and request", len(pres))
	}
	// vLLM's table as printed, without its console tip.
	want := strings.Replace(in.Table, "tip: install termplotlib and gnuplot to plot the metrics\n", "", 1)
	if !strings.Contains(in.Table, "tip: install") || !strings.HasPrefix(want, "============ Serving Benchmark Result") {
		t.Fatalf("fixture table: %q", in.Table)
	}
	if got := text(pres[0]); got != want {
		t.Errorf("table differs:\n%s\nwant\n%s", got, want)
	}
	// The request as the run used it: a sonnet run on two server URLs,
	// deployed by no one, shows no random lengths, host, port or
	// Kubernetes settings.
	var shown, stored map[string]any
	if err := json.Unmarshal([]byte(text(pres[1])), &shown); err != nil {
		t.Fatalf("request is not JSON: %v", err)
	}
	_ = json.Unmarshal(in.RequestJSON, &stored)
	for _, unused := range []string{"host", "port", "random_input_len", "random_output_len", "ready_timeout_seconds"} {
		if _, ok := stored[unused]; !ok {
			t.Fatalf("fixture request lacks %s", unused)
		}
		delete(stored, unused)
	}
	if fmt.Sprint(shown) != fmt.Sprint(stored) || !strings.HasPrefix(text(pres[1]), "{\n  \"num_prompts\": 1200,\n  \"request_rate\"") {
		t.Errorf("request not shown pretty with the settings that apply:\n%s", text(pres[1]))
	}
	if !strings.Contains(text(doc), "meta-llama/Llama-3.1-405B-Instruct-FP8") {
		t.Error("model missing from the summary")
	}
	for _, n := range findAll(doc, func(*html.Node) bool { return true }) {
		if n.Data == "script" || n.Data == "link" || n.Data == "img" || n.Data == "iframe" {
			t.Errorf("<%s> element: the page must need nothing outside itself", n.Data)
		}
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href" || strings.HasSuffix(a.Key, "href")) && a.Val != "" {
				t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
			}
		}
	}
	if strings.Contains(page, "@import") || strings.Contains(page, "url(") {
		t.Error("CSS loads something")
	}
}

func TestRenderWithoutOptionalFieldsOrData(t *testing.T) {
	in := fixtureInput(t)
	in.Timeseries = readFile(t, "run1/timeseries.json") // engine output: no server fields
	_, doc := render(t, in)
	figs := charts(t, doc)
	for _, title := range []string{"Server queue: requests running", "KV-cache usage", "GPU power, average"} {
		if _, ok := figs[title]; ok {
			t.Errorf("%q drawn without data", title)
		}
	}
	if _, ok := figs["Time to first token, p99"]; !ok {
		t.Error("TTFT chart missing")
	}

	// Every request failed: latency charts stay, empty and saying so.
	in.Timeseries = []byte(`[{"slice":0,"replica":0,"requests":3,"failed":3},{"slice":1,"replica":0,"requests":2,"failed":2}]`)
	_, doc = render(t, in)
	fig := charts(t, doc)["Inter-token latency, p50"]
	if fig == nil || !strings.Contains(text(fig), "No data in any slice") || attr(findAll(fig, tag("polyline"))[0], "points") != "" {
		t.Error("empty latency chart not marked empty")
	}
	if strings.Contains(text(charts(t, doc)["Requests failed per slice"]), "No data") {
		t.Error("failed-requests chart marked empty")
	}

	// Without the request the slice length is unknown: the axis counts slices.
	in.RequestJSON = nil
	_, doc = render(t, in)
	svg := plot(charts(t, doc)["Requests failed per slice"])
	if xs, _ := axisMap(t, svg, "middle", "x"); !slices.Equal(xs, []float64{0, 1}) || !strings.Contains(text(svg), "Slice number") {
		t.Errorf("slice axis ticks %v in %q", xs, text(svg))
	}

	in.Timeseries = nil
	in.Table = ""
	_, doc = render(t, in)
	if len(findAll(doc, tag("figure"))) != 0 || !strings.Contains(text(doc), "No timeseries stored") || !strings.Contains(text(doc), "No result stored") {
		t.Error("missing timeseries and table not reported")
	}
}

func TestRenderLongRunUsesHoursAndDropsMarkers(t *testing.T) {
	var rows []map[string]any
	for s := range 2640 { // 11 h of 15 s slices
		for r := range 2 {
			rows = append(rows, map[string]any{"slice": s, "replica": r, "completed": 10, "ttft_p50_ms": 100 + s%7})
		}
	}
	ts, _ := json.Marshal(rows)
	in := fixtureInput(t)
	in.Timeseries = ts
	page, doc := render(t, in)
	fig := charts(t, doc)["Time to first token, p50"]
	if !strings.Contains(text(fig), "Time since start (h)") {
		t.Error("long run's time axis not in hours")
	}
	if n := len(findAll(doc, tag("circle"))); n != 0 || strings.Contains(text(doc), "hover") {
		t.Errorf("%d markers (or a note about them) on a 2640-slice run", n)
	}
	if len(page) > 4<<20 {
		t.Errorf("page is %d bytes", len(page))
	}
}

func TestRenderEscapesAndRejectsBadJSON(t *testing.T) {
	in := fixtureInput(t)
	in.RunID = `<script>alert(1)</script>`
	page, _ := render(t, in)
	if strings.Contains(page, "<script>") {
		t.Error("run id not escaped")
	}
	for name, mutate := range map[string]func(*report.Input){
		"timeseries": func(in *report.Input) { in.Timeseries = []byte("{") },
		"request":    func(in *report.Input) { in.RequestJSON = []byte("[1,") },
		"result":     func(in *report.Input) { in.ResultJSON = []byte("nope") },
	} {
		in := fixtureInput(t)
		mutate(&in)
		if err := report.Render(&bytes.Buffer{}, in); err == nil {
			t.Errorf("bad %s accepted", name)
		}
	}
}

func TestWriteStoresReport(t *testing.T) {
	ctx := context.Background()
	store, err := results.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const runID = "stress-1"
	for key, file := range map[string]string{
		results.RequestKey(runID):        "run1/request.json",
		results.ResultKey(runID):         "run1/result.json",
		results.TableKey(runID):          "run1/result.txt",
		results.TimeseriesJSONKey(runID): "timeseries.json",
	} {
		if err := store.Put(ctx, key, readFile(t, file)); err != nil {
			t.Fatal(err)
		}
	}
	key, err := report.Write(ctx, store, runID)
	if err != nil {
		t.Fatal(err)
	}
	if key != results.ReportKey(runID) {
		t.Errorf("key %q", key)
	}
	stored, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	in := fixtureInput(t)
	in.RunID = runID
	want, _ := render(t, in)
	if string(stored) != want {
		t.Error("stored report differs from Render of the stored objects")
	}

	if _, err := report.Write(ctx, store, "no-such-run"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("run without objects: %v", err)
	}
	if _, err := report.Write(ctx, store, "a/b"); err == nil {
		t.Error("bad run id accepted")
	}

	// A run stopped before its result still gets a report.
	if err := store.Put(ctx, results.RequestKey("early"), readFile(t, "run1/request.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := report.Write(ctx, store, "early"); err != nil {
		t.Errorf("run with a request only: %v", err)
	}
}

// BenchmarkRenderLongRun renders an 11-hour run of 15 s slices on 8 replicas.
func BenchmarkRenderLongRun(b *testing.B) {
	var rows []map[string]any
	for s := range 2640 {
		for r := range 8 {
			rows = append(rows, map[string]any{"slice": s, "replica": r, "completed": 300, "failed": s % 3,
				"ttft_p50_ms": 100.5 + float64(s%17), "ttft_p99_ms": 300.25, "itl_p50_ms": 10.1, "itl_p99_ms": 30.7,
				"output_tokens_per_s": 2500.3, "server_running": 40.5, "kv_cache_usage": 0.5, "gpu_power_avg_w": 600.2})
		}
	}
	ts, _ := json.Marshal(rows)
	in := report.Input{RunID: "long", RequestJSON: []byte(`{"slice_seconds":15}`), Timeseries: ts}
	var page bytes.Buffer
	for b.Loop() {
		page.Reset()
		if err := report.Render(&page, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(page.Len())/1e6, "MB/page")
}

// A run with a dead replica opens with its warnings: which replica, how
// much failed and why, as engine writes them into result.json.
func TestRenderOpensWithFailuresByReplicaAndReason(t *testing.T) {
	in := fixtureInput(t)
	var result map[string]any
	if err := json.Unmarshal(in.ResultJSON, &result); err != nil {
		t.Fatal(err)
	}
	result["completed"], result["failed"] = 1996, 1204
	result["failures"] = engine.Failures{FailedPct: 37.625,
		Replicas: []engine.ReplicaFailures{
			{Replica: 0, Completed: 1600, Reasons: []engine.ReasonCount{}},
			{Replica: 1, Completed: 396, Failed: 1204, FailedPct: 75.25, Reasons: []engine.ReasonCount{
				{Reason: "connection refused", Count: 1174}, {Reason: "HTTP 500 Internal Server Error", Count: 30}},
				UnreachableSlices: []int{2, 3, 4}}},
		Warnings: []string{"replica 1 was unreachable in 3 slices (first 2, last 4): every request sent to it failed to connect"}}
	b, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	in.ResultJSON = b
	_, doc := render(t, in)
	var warnings []string
	for _, p := range findAll(doc, func(n *html.Node) bool { return n.Data == "p" && attr(n, "class") == "warning" }) {
		warnings = append(warnings, text(p))
	}
	want := []string{
		"replica 1 was unreachable in 3 slices (first 2, last 4): every request sent to it failed to connect",
		"37.6% of requests failed. replica 1: 75.2% failed (1174 connection refused, 30 HTTP 500 Internal Server Error)",
	}
	if !slices.Equal(warnings[:min(2, len(warnings))], want) {
		t.Errorf("warnings %q, want first %q", warnings, want)
	}
	if !strings.Contains(text(doc), "1204 (37.6%)") {
		t.Error("the failed count does not carry its share")
	}
	bad := findAll(doc, func(n *html.Node) bool { return n.Data == "dd" && hasClass(n, "bad") })
	if len(bad) != 1 || text(bad[0]) != "1204 (37.6%)" {
		t.Errorf("the failed share is not highlighted: %d highlighted facts", len(bad))
	}
}

// The header says when the run ran, that the configured rate is each
// replica's (and the total), and has a row per replica with its server,
// requests, latency and GPU power.
func TestRenderHeaderRatePerReplicaAndReplicaTable(t *testing.T) {
	in := fixtureInput(t)
	var result map[string]any
	if err := json.Unmarshal(in.ResultJSON, &result); err != nil {
		t.Fatal(err)
	}
	result["failures"] = engine.Failures{FailedPct: 2.5, Replicas: []engine.ReplicaFailures{
		{Replica: 0, Completed: 1200, TTFTP99Ms: 116.5, ITLP99Ms: 28.8, Reasons: []engine.ReasonCount{}},
		{Replica: 1, Completed: 1170, Failed: 30, FailedPct: 2.5, TTFTP99Ms: 240, ITLP99Ms: 31, Reasons: []engine.ReasonCount{}}}}
	b, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	in.ResultJSON = b
	_, doc := render(t, in)
	facts := map[string]string{}
	for _, div := range findAll(doc, func(n *html.Node) bool { return n.Data == "div" && n.Parent != nil && hasClass(n.Parent, "facts") }) {
		dt, dd := findAll(div, tag("dt")), findAll(div, tag("dd"))
		facts[text(dt[0])] = text(dd[0])
	}
	if facts["Date"] != "2026-11-27 04:56:29" || facts["Request rate"] != "20 req/s per replica × 2 = 40 req/s" ||
		!strings.HasPrefix(facts["Throughput"], "39.9") {
		t.Errorf("facts %q", facts)
	}
	tables := findAll(doc, func(n *html.Node) bool { return n.Data == "table" && hasClass(n, "replicas") })
	if len(tables) != 1 {
		t.Fatalf("%d replica tables", len(tables))
	}
	var rows []string
	for _, tr := range findAll(tables[0], tag("tr"))[1:] {
		var cells []string
		for _, td := range findAll(tr, tag("td")) {
			cells = append(cells, text(td))
		}
		rows = append(rows, strings.Join(cells, " | "))
	}
	want := []string{
		"replica 0 | http://127.0.0.1:18000 | 1200 | 0 (0.0%) | 116 ms | 28.8 ms | —",
		"replica 1 | http://127.0.0.1:18001 | 1170 | 30 (2.5%) | 240 ms | 31 ms | —",
	}
	if !slices.Equal(rows, want) {
		t.Errorf("replica rows\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

const h100 = "NVIDIA H100 80GB HBM3"

// gpuRun is a 3-slice run of two replicas on two hosts of 8 H100s, with
// DCGM exporter naming replica 0's pod: the timeseries and result.json's
// gpu_power as engine writes them.
func gpuRun(t *testing.T) report.Input {
	t.Helper()
	fig := func(w float64) engine.GPUFigures {
		return engine.GPUFigures{GPUs: 8, AvgWattsGPU: w, MaxWattsGPU: w + 40, AvgWatts: 8 * w, MaxWatts: 8 * (w + 20), AvgUtilPct: w / 10, MaxUtilPct: 99}
	}
	var rows []engine.SliceRow
	for s := range 3 {
		w := 500 + 50*float64(s)
		gpu := &engine.GPUPower{Measured: true, WindowSeconds: 15, Model: h100, TDPWatts: 700,
			Hosts:    []engine.GPUHost{{Host: "gpu-node-a", Model: h100, GPUFigures: fig(w)}, {Host: "gpu-node-b", Model: h100, GPUFigures: fig(w + 20)}},
			Replicas: []engine.GPUReplica{{Replica: 0, Pod: "vllm-run-0", Host: "gpu-node-a", GPUFigures: fig(w)}}}
		rows = append(rows, engine.SliceRow{Slice: s, Replica: 0, Completed: 10, GPU: gpu}, engine.SliceRow{Slice: s, Replica: 1, Completed: 10})
	}
	ts, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	run := engine.RunGPUPower{Measured: true, Slices: 3, Model: h100, TDPWatts: 700, GPUs: 16,
		AvgWattsGPU: 560, MaxWattsGPU: 660, AvgUtilPct: 56, MaxUtilPct: 99,
		Summary:  "16 × NVIDIA H100 80GB HBM3 (TDP 700 W) on 2 hosts: per GPU 560 W average, 660 W peak; per host up to 4640 W average, 4960 W peak; utilisation 56% average, 99% peak",
		Hosts:    []engine.GPUHost{{Host: "gpu-node-a", Model: h100, GPUFigures: fig(550)}, {Host: "gpu-node-b", Model: h100, GPUFigures: fig(570)}},
		Replicas: []engine.GPUReplica{{Replica: 0, Pod: "vllm-run-0", Host: "gpu-node-a", GPUFigures: fig(550)}},
		Note:     "1 of 4 slices not measured, the first: Prometheus at http://prometheus:9090: 503 Service Unavailable: EOF"}
	res, err := json.Marshal(map[string]any{"date": "20260101-000000", "model_id": "m", "gpu_power": run})
	if err != nil {
		t.Fatal(err)
	}
	return report.Input{RunID: "gpu-run", RequestJSON: []byte(`{"slice_seconds":15}`), ResultJSON: res, Timeseries: ts}
}

// gpuHeader is the header's GPU power section: its paragraphs and its
// table's rows, cells separated by " | ".
func gpuHeader(t *testing.T, doc *html.Node) (lines, rows []string) {
	t.Helper()
	for _, h := range findAll(doc, tag("header")) {
		for _, s := range findAll(h, func(n *html.Node) bool { return attr(n, "id") == "gpu-power" }) {
			for _, p := range findAll(s, tag("p")) {
				lines = append(lines, text(p))
			}
			for _, tr := range findAll(s, tag("tr")) {
				var cells []string
				for _, td := range findAll(tr, tag("td")) {
					cells = append(cells, text(td))
				}
				rows = append(rows, strings.Join(cells, " | "))
			}
			return lines, rows
		}
	}
	t.Fatal("no GPU power in the header")
	return nil, nil
}

func legend(fig *html.Node) []string {
	var out []string
	for _, li := range findAll(fig, tag("li")) {
		out = append(out, text(li))
	}
	return out
}

// The GPU power opens the page: the run's line, each host's and replica's
// figures; its charts draw a line per host (or pod) named so, and the TDP.
func TestRenderGPUPowerPerHostWithTDP(t *testing.T) {
	_, doc := render(t, gpuRun(t))
	lines, rows := gpuHeader(t, doc)
	if want := []string{
		"GPU power: 16 × NVIDIA H100 80GB HBM3 (TDP 700 W) on 2 hosts: per GPU 560 W average, 660 W peak; " +
			"per host up to 4640 W average, 4960 W peak; utilisation 56% average, 99% peak",
		"1 of 4 slices not measured, the first: Prometheus at http://prometheus:9090: 503 Service Unavailable: EOF",
	}; !slices.Equal(lines, want) {
		t.Errorf("header %q, want %q", lines, want)
	}
	if want := []string{"", // the heading's row
		"host | gpu-node-a | 8 | 550 W | 590 W | 4400 W | 4560 W | 55% | 99%",
		"host | gpu-node-b | 8 | 570 W | 610 W | 4560 W | 4720 W | 57% | 99%",
		"replica 0 (vllm-run-0) | gpu-node-a | 8 | 550 W | 590 W | 4400 W | 4560 W | 55% | 99%",
	}; !slices.Equal(rows, want) {
		t.Errorf("header table %q, want %q", rows, want)
	}
	figs := charts(t, doc)
	tdp := "TDP 700 W (NVIDIA H100 80GB HBM3)"
	for title, want := range map[string][]string{
		"GPU power per GPU, average, by host":        {"gpu-node-a", "gpu-node-b", tdp},
		"GPU power per GPU, peak, by host":           {"gpu-node-a", "gpu-node-b", tdp},
		"Host GPU power, total average":              {"gpu-node-a", "gpu-node-b"},
		"GPU utilisation, average, by host":          {"gpu-node-a", "gpu-node-b"},
		"GPU power per GPU, average, by replica pod": {"vllm-run-0 on gpu-node-a", tdp},
	} {
		fig, ok := figs[title]
		if !ok {
			t.Errorf("no chart %q; have %v", title, mapsKeys(figs))
			continue
		}
		if got := legend(fig); !slices.Equal(got, want) {
			t.Errorf("%s: legend %q, want %q", title, got, want)
		}
	}
	// The TDP is a flat line at 700 W across the run; host b's average per
	// GPU runs 520, 570, 620 W.
	svg := plot(figs["GPU power per GPU, average, by host"])
	ya, yb, _ := linearFit(axisMap(t, svg, "end", "y"))
	points := map[string]string{}
	for _, l := range findAll(svg, tag("polyline")) {
		points[attr(l, "data-series")] = attr(l, "points")
	}
	ys := func(points string) (out []float64) {
		for _, p := range strings.Fields(points) {
			var x, y float64
			fmt.Sscanf(p, "%g,%g", &x, &y)
			out = append(out, math.Round((y-ya)/yb))
		}
		return out
	}
	if got := ys(points[tdp]); !slices.Equal(got, []float64{700, 700}) {
		t.Errorf("TDP line at %v W", got)
	}
	if got := ys(points["gpu-node-b"]); !slices.Equal(got, []float64{520, 570, 620}) {
		t.Errorf("gpu-node-b at %v W", got)
	}
}

// A run without GPU figures says why in its header and draws no GPU chart.
func TestRenderSaysGPUPowerNotMeasured(t *testing.T) {
	for result, want := range map[string]string{
		`{"gpu_power":{"measured":false,"note":"` + engine.GPUNotConfigured + `"}}`: "GPU power: " + engine.GPUNotConfigured,
		`{"model_id":"m"}`: "GPU power: not measured: result.json has no gpu_power",
	} {
		in := fixtureInput(t)
		in.ResultJSON = []byte(result)
		_, doc := render(t, in)
		if lines, rows := gpuHeader(t, doc); !slices.Equal(lines, []string{want}) || rows != nil {
			t.Errorf("header %q %q, want %q", lines, rows, want)
		}
		for title := range charts(t, doc) {
			if strings.Contains(title, "GPU") {
				t.Errorf("chart %q without GPU figures", title)
			}
		}
	}
}

// A GPU model of unknown board power gets no TDP line.
func TestRenderGPUPowerWithoutTDP(t *testing.T) {
	in := gpuRun(t)
	var rows []engine.SliceRow
	if err := json.Unmarshal(in.Timeseries, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.GPU != nil {
			r.GPU.Model, r.GPU.TDPWatts = "NVIDIA L40S", 0
		}
	}
	in.Timeseries, _ = json.Marshal(rows)
	_, doc := render(t, in)
	fig := charts(t, doc)["GPU power per GPU, average, by host"]
	if got := legend(fig); !slices.Equal(got, []string{"gpu-node-a", "gpu-node-b"}) {
		t.Errorf("legend %q", got)
	}
}
