package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/vibench/vllm-inference-benchmark/engine"
)

// Chart geometry in SVG user units; the page scales the SVG to its column.
const (
	chartWidth  = 640.0
	chartHeight = 330.0
	plotLeft    = 74.0
	plotRight   = chartWidth - 18
	plotTop     = 14.0
	plotBottom  = chartHeight - 58
	// Above this many points per line the markers (and their hover titles)
	// are left out: they would hide the line and bloat the page.
	maxMarkers = 150
)

// sliceRow is one line of the run's timeseries, as engine writes it.
type sliceRow = engine.SliceRow

// metric is one chart: what to read from a row and how to label it.
type metric struct {
	title, axis, unit string
	// value reports the row's value and whether the row has one.
	value func(sliceRow) (float64, bool)
	// optional charts are drawn only when some row has a value.
	optional bool
	counts   bool    // whole numbers: ticks are too
	fixedMax float64 // 0: fit the data
}

// latency values are undefined for a slice with no successful request
// (stored as 0), so such slices are left out rather than drawn as 0 ms.
func latency(get func(sliceRow) float64) func(sliceRow) (float64, bool) {
	return func(r sliceRow) (float64, bool) { v := get(r); return v, r.Completed > 0 && v > 0 }
}

func always(get func(sliceRow) float64) func(sliceRow) (float64, bool) {
	return func(r sliceRow) (float64, bool) { return get(r), true }
}

// server reads the optional server measurements of a row that has them.
func server(get func(*engine.ServerMetrics) float64, scale float64) func(sliceRow) (float64, bool) {
	return func(r sliceRow) (float64, bool) {
		if r.ServerMetrics == nil {
			return 0, false
		}
		return get(r.ServerMetrics) * scale, true
	}
}

var metrics = []metric{
	{title: "Time to first token, p50", axis: "TTFT p50", unit: "ms", value: latency(func(r sliceRow) float64 { return r.TTFTP50 })},
	{title: "Time to first token, p99", axis: "TTFT p99", unit: "ms", value: latency(func(r sliceRow) float64 { return r.TTFTP99 })},
	{title: "Inter-token latency, p50", axis: "ITL p50", unit: "ms", value: latency(func(r sliceRow) float64 { return r.ITLP50 })},
	{title: "Inter-token latency, p99", axis: "ITL p99", unit: "ms", value: latency(func(r sliceRow) float64 { return r.ITLP99 })},
	{title: "Output token throughput", axis: "Output", unit: "tokens/s", value: always(func(r sliceRow) float64 { return r.OutputTokS })},
	{title: "End-to-end latency, p50", axis: "E2E latency p50", unit: "ms", value: latency(func(r sliceRow) float64 { return r.E2ELP50 })},
	{title: "Requests completed per slice", counts: true, axis: "Completed", unit: "requests", value: always(func(r sliceRow) float64 { return float64(r.Completed) })},
	{title: "Requests failed per slice", counts: true, axis: "Failed", unit: "requests", value: always(func(r sliceRow) float64 { return float64(r.Failed) })},
	{title: "Requests interrupted per slice", counts: true, axis: "Interrupted", unit: "requests", value: always(func(r sliceRow) float64 { return float64(r.Interrupted) })},
	{title: "Client send lateness, p99", axis: "Lateness p99", unit: "ms", value: always(func(r sliceRow) float64 { return r.LatenessP99 })},
	{title: "Server queue: requests running", axis: "Running", unit: "requests", optional: true, value: server(func(m *engine.ServerMetrics) float64 { return m.RunningMean }, 1)},
	{title: "Server queue: requests waiting", axis: "Waiting", unit: "requests", optional: true, value: server(func(m *engine.ServerMetrics) float64 { return m.WaitingMean }, 1)},
	{title: "KV-cache usage", axis: "KV-cache usage", unit: "%", optional: true, fixedMax: 100, value: server(func(m *engine.ServerMetrics) float64 { return m.KVCacheUsageMean }, 100)},
}

// gpuMetric is one chart of the slices' GPU figures: a line per host, or
// per replica pod where DCGM exporter names the pods.
type gpuMetric struct {
	title, axis, unit string
	value             func(engine.GPUFigures) float64
	fixedMax          float64
	tdp               bool // draws the GPUs' board power
	replicas          bool
}

var gpuMetrics = []gpuMetric{
	{title: "GPU power per GPU, average, by host", axis: "Power per GPU", unit: "W", tdp: true, value: func(f engine.GPUFigures) float64 { return f.AvgWattsGPU }},
	{title: "GPU power per GPU, peak, by host", axis: "Peak power per GPU", unit: "W", tdp: true, value: func(f engine.GPUFigures) float64 { return f.MaxWattsGPU }},
	{title: "Host GPU power, total average", axis: "Host GPU power", unit: "W", value: func(f engine.GPUFigures) float64 { return f.AvgWatts }},
	{title: "GPU utilisation, average, by host", axis: "GPU utilisation", unit: "%", fixedMax: 100, value: func(f engine.GPUFigures) float64 { return f.AvgUtilPct }},
	{title: "GPU power per GPU, average, by replica pod", axis: "Power per GPU", unit: "W", tdp: true, replicas: true, value: func(f engine.GPUFigures) float64 { return f.AvgWattsGPU }},
}

// timeAxis maps a slice number to the x value and names the axis.
type timeAxis struct {
	sliceSeconds float64 // 0: unknown, the axis counts slices
	divisor      float64 // seconds per axis unit
	label, unit  string
}

func newTimeAxis(sliceSeconds float64, lastSlice int) timeAxis {
	if sliceSeconds <= 0 {
		return timeAxis{label: "Slice number"}
	}
	span := sliceSeconds * float64(lastSlice)
	switch {
	case span >= 3*3600:
		return timeAxis{sliceSeconds, 3600, "Time since start", "h"}
	case span >= 15*60:
		return timeAxis{sliceSeconds, 60, "Time since start", "min"}
	}
	return timeAxis{sliceSeconds, 1, "Time since start", "s"}
}

func (a timeAxis) x(slice int) float64 {
	if a.sliceSeconds <= 0 {
		return float64(slice)
	}
	return float64(slice) * a.sliceSeconds / a.divisor
}

func (a timeAxis) describe(slice int) string {
	if a.sliceSeconds <= 0 {
		return fmt.Sprintf("slice %d", slice)
	}
	return fmt.Sprintf("slice %d (from %s s)", slice, formatValue(float64(slice)*a.sliceSeconds))
}

// chartView is one chart, laid out for the template.
type chartView struct {
	Title, YLabel, XLabel string
	Width, Height         string
	Left, Right           string
	Top, Bottom           string
	YLabelX, YLabelY      string
	YTickX                string // right end of the y tick labels
	XTickEnd, XTickY      string // x tick marks end, x tick labels baseline
	XLabelX, XLabelY      string
	YTicks, XTicks        []tickView
	Lines                 []lineView
	Empty                 bool
}

type tickView struct {
	Pos   string // y for a y tick, x for an x tick
	Label string
}

type lineView struct {
	Label   string // the legend's: a replica, a host, a pod, the TDP
	Class   string // colour (and dash for many lines)
	Points  string
	Markers []markerView
}

type markerView struct {
	X, Y, Title string
}

type dataPoint struct {
	x, y  float64
	title string
}

// series is one line of a chart; a reference line (the TDP) is flat and
// has no markers.
type series struct {
	label, class string
	points       []dataPoint
	reference    bool
}

// replicaName is "replica 1 (http://10.0.0.7:8000)", or "replica 1"
// when the URL is unknown (a deployed server's pod address).
func replicaName(replica int, urls []string) string {
	if replica < len(urls) {
		return fmt.Sprintf("replica %d (%s)", replica, urls[replica])
	}
	return fmt.Sprintf("replica %d", replica)
}

func lineClass(i int) string { return fmt.Sprintf("c%d d%d", i%len(palette), i/len(palette)%3) }

// buildCharts lays out every chart that has something to show.
// urls name the replicas in the legends where the request gave them.
func buildCharts(rows []sliceRow, sliceSeconds float64, urls []string) []chartView {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b sliceRow) int {
		return cmp.Or(cmp.Compare(a.Replica, b.Replica), cmp.Compare(a.Slice, b.Slice))
	})
	var replicas []int
	lastSlice := 0
	for _, r := range rows {
		if len(replicas) == 0 || replicas[len(replicas)-1] != r.Replica {
			replicas = append(replicas, r.Replica)
		}
		lastSlice = max(lastSlice, r.Slice)
	}
	axis := newTimeAxis(sliceSeconds, lastSlice)
	var charts []chartView
	// At least one slice wide, so that a one-slice run has an axis.
	xMax := max(axis.x(lastSlice), axis.x(1))
	for _, m := range metrics {
		lines := make([]series, len(replicas))
		for i, r := range replicas {
			lines[i] = series{label: replicaName(r, urls), class: lineClass(i)}
		}
		any := false
		for _, r := range rows {
			v, ok := m.value(r)
			if !ok {
				continue
			}
			any = true
			l := &lines[slices.Index(replicas, r.Replica)]
			l.points = append(l.points, dataPoint{x: axis.x(r.Slice), y: v,
				title: fmt.Sprintf("%s, %s: %s %s", l.label, axis.describe(r.Slice), formatValue(v), m.unit)})
		}
		if m.optional && !any {
			continue
		}
		charts = append(charts, layoutChart(m, axis, xMax, lines))
	}
	return append(charts, gpuCharts(rows, axis, xMax)...)
}

// gpuCharts draws the slices' GPU figures, when some slice measured them.
func gpuCharts(rows []sliceRow, axis timeAxis, xMax float64) []chartView {
	type measured struct {
		slice int
		*engine.GPUPower
	}
	var got []measured
	var tdp float64
	var model string
	for _, r := range rows {
		if g := r.GPU; g != nil && g.Measured {
			got = append(got, measured{r.Slice, g})
			tdp, model = g.TDPWatts, g.Model
		}
	}
	slices.SortFunc(got, func(a, b measured) int { return cmp.Compare(a.slice, b.slice) })
	var charts []chartView
	for _, m := range gpuMetrics {
		var lines []series
		line := func(label string) *series {
			for i := range lines {
				if lines[i].label == label {
					return &lines[i]
				}
			}
			lines = append(lines, series{label: label})
			return &lines[len(lines)-1]
		}
		add := func(label string, slice int, f engine.GPUFigures) {
			l, v := line(label), m.value(f)
			l.points = append(l.points, dataPoint{x: axis.x(slice), y: v,
				title: fmt.Sprintf("%s, %s: %s %s", label, axis.describe(slice), formatValue(v), m.unit)})
		}
		for _, g := range got {
			if m.replicas {
				for _, r := range g.Replicas {
					add(fmt.Sprintf("%s on %s", r.Pod, r.Host), g.slice, r.GPUFigures)
				}
				continue
			}
			for _, h := range g.Hosts {
				add(h.Host, g.slice, h.GPUFigures)
			}
		}
		if len(lines) == 0 {
			continue
		}
		slices.SortStableFunc(lines, func(a, b series) int { return cmp.Compare(a.label, b.label) })
		for i := range lines {
			lines[i].class = lineClass(i)
		}
		if m.tdp && tdp > 0 {
			lines = append(lines, series{label: fmt.Sprintf("TDP %s W (%s)", formatValue(tdp), model), class: "tdp", reference: true,
				points: []dataPoint{{x: 0, y: tdp}, {x: xMax, y: tdp}}})
		}
		charts = append(charts, layoutChart(metric{title: m.title, axis: m.axis, unit: m.unit, fixedMax: m.fixedMax}, axis, xMax, lines))
	}
	return charts
}

func layoutChart(m metric, axis timeAxis, xMax float64, lines []series) chartView {
	yMax := m.fixedMax
	if yMax == 0 {
		for _, l := range lines {
			for _, p := range l.points {
				yMax = max(yMax, p.y)
			}
		}
	}
	if m.counts {
		yMax = max(yMax, 5) // ticks 0..5 at the least, never fractions
	}
	yStep, yTop := niceScale(yMax)
	xStep, xTop := niceScale(xMax)
	if axis.sliceSeconds <= 0 && xStep < 1 { // slice numbers
		xStep, xTop = 1, math.Ceil(xTop)
	}
	sx := func(x float64) float64 { return plotLeft + x/xTop*(plotRight-plotLeft) }
	sy := func(y float64) float64 { return plotBottom - y/yTop*(plotBottom-plotTop) }

	c := chartView{
		Title:  m.title,
		YLabel: fmt.Sprintf("%s (%s)", m.axis, m.unit),
		XLabel: axis.label,
		Width:  px(chartWidth), Height: px(chartHeight),
		Left: px(plotLeft), Right: px(plotRight), Top: px(plotTop), Bottom: px(plotBottom),
		YLabelX: px(18), YLabelY: px((plotTop + plotBottom) / 2),
		YTickX: px(plotLeft - 8), XTickEnd: px(plotBottom + 5), XTickY: px(plotBottom + 21),
		XLabelX: px((plotLeft + plotRight) / 2), XLabelY: px(chartHeight - 12),
		Empty: true,
	}
	if axis.unit != "" {
		c.XLabel = fmt.Sprintf("%s (%s)", axis.label, axis.unit)
	}
	for k := 0; float64(k)*yStep <= yTop*(1+1e-9); k++ {
		v := float64(k) * yStep
		c.YTicks = append(c.YTicks, tickView{Pos: px(sy(v)), Label: formatTick(v, yStep)})
	}
	for k := 0; float64(k)*xStep <= xTop*(1+1e-9); k++ {
		v := float64(k) * xStep
		c.XTicks = append(c.XTicks, tickView{Pos: px(sx(v)), Label: formatTick(v, xStep)})
	}
	for _, l := range lines {
		line := lineView{Label: l.label, Class: l.class}
		var b []byte
		for j, p := range l.points {
			if j > 0 {
				b = append(b, ' ')
			}
			x, y := px(sx(p.x)), px(sy(p.y))
			b = fmt.Appendf(b, "%s,%s", x, y)
			if !l.reference && len(l.points) <= maxMarkers {
				line.Markers = append(line.Markers, markerView{X: x, Y: y, Title: p.title})
			}
		}
		line.Points = string(b)
		if len(l.points) > 0 && !l.reference {
			c.Empty = false
		}
		c.Lines = append(c.Lines, line)
	}
	return c
}

// niceScale picks a round tick step for [0, v] and the axis top it reaches.
func niceScale(v float64) (step, top float64) {
	if !(v > 0) || math.IsInf(v, 0) {
		return 0.2, 1
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, f := range []float64{1, 2, 5} {
		if f*mag >= raw {
			step = f * mag
			break
		}
	}
	return step, math.Ceil(v/step-1e-9) * step
}

// formatTick prints a tick value with just the decimals its step needs.
func formatTick(v, step float64) string {
	if v >= 10000 && math.Mod(step, 1000) == 0 {
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	}
	decimals := 0
	for s := step; decimals < 6 && math.Abs(s-math.Round(s)) > 1e-9*math.Max(1, s); s *= 10 {
		decimals++
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// formatValue prints a measured value with about three significant digits.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
