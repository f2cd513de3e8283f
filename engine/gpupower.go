package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GPUNotConfigured is the note of a run whose worker has no Prometheus to
// read DCGM exporter's series from.
const GPUNotConfigured = "not measured: set PROMETHEUS_URL and DCGM_SELECTOR on the worker"

// BoardPower is the board power (TDP) of GPUs by DCGM's modelName label.
var BoardPower = map[string]float64{
	"NVIDIA H100 80GB HBM3": 700, // H100 SXM5
	"NVIDIA H200":           700, // H200 SXM
	"NVIDIA A100-SXM4-80GB": 400,
	"NVIDIA A100-SXM4-40GB": 400,
}

// GPUFigures are the power and utilisation of a group of GPUs (a host's,
// a replica pod's) over a window.
type GPUFigures struct {
	GPUs        int     `json:"gpus"`
	AvgWattsGPU float64 `json:"gpu_power_avg_w"` // the GPUs' mean power
	MaxWattsGPU float64 `json:"gpu_power_max_w"` // highest reading of any one GPU
	AvgWatts    float64 `json:"power_avg_w"`     // the GPUs' summed mean power
	MaxWatts    float64 `json:"power_max_w"`     // highest summed power
	AvgUtilPct  float64 `json:"gpu_util_avg_pct"`
	MaxUtilPct  float64 `json:"gpu_util_max_pct"`
}

// GPUHost is one host's GPUs, by DCGM exporter's Hostname label.
type GPUHost struct {
	Host  string `json:"host"`
	Model string `json:"model,omitempty"`
	GPUFigures
}

// GPUReplica is the GPUs of one replica's pod.
type GPUReplica struct {
	Replica int    `json:"replica"`
	Pod     string `json:"pod"`
	Host    string `json:"host"`
	GPUFigures
}

// GPUPower is what DCGM exporter reported over one slice, read from
// Prometheus, per host and (when the exporter attributes GPUs to pods) per
// replica. Note says why when Measured is false, and what is missing
// (the TDP, the replicas) when it is true.
type GPUPower struct {
	Measured      bool         `json:"measured"`
	Note          string       `json:"note,omitempty"`
	WindowSeconds float64      `json:"window_seconds,omitempty"`
	Model         string       `json:"model,omitempty"`
	TDPWatts      float64      `json:"tdp_w,omitempty"`
	Hosts         []GPUHost    `json:"hosts,omitempty"`
	Replicas      []GPUReplica `json:"replicas,omitempty"`
}

// GPUQuery says which GPUs to read from which Prometheus, over which window.
type GPUQuery struct {
	PrometheusURL string
	Selector      string // narrows DCGM's series to the run's GPUs, e.g. `Hostname=~"gpu-node-.*"`
	End           time.Time
	Window        time.Duration
	// Namespace and StatefulSet name a Kubernetes run's pods (replica i is
	// pod <StatefulSet>-i); empty: figures per host only.
	Namespace, StatefulSet string
}

const (
	metricPower = "DCGM_FI_DEV_POWER_USAGE"
	metricUtil  = "DCGM_FI_DEV_GPU_UTIL"
	hostLabels  = "Hostname, modelName"
	// DCGM exporter's pod labels; a Prometheus that does not honour them
	// (a ServiceMonitor without honorLabels) keeps them as exported_*.
	podLabels = hostLabels + ", namespace, pod, exported_namespace, exported_pod"
)

// QueryGPUPower asks Prometheus for DCGM_FI_DEV_POWER_USAGE and
// DCGM_FI_DEV_GPU_UTIL over q's window: a few queries grouped by host (and
// by pod for a Kubernetes run), whatever the number of GPUs. It always
// answers; without a Prometheus, or when Prometheus fails or has no
// samples, Measured is false and Note says why.
func QueryGPUPower(ctx context.Context, hc *http.Client, q GPUQuery) *GPUPower {
	if q.PrometheusURL == "" || q.Selector == "" {
		return &GPUPower{Note: GPUNotConfigured}
	}
	hosts, err := queryGroups(ctx, hc, q, hostLabels)
	if err != nil {
		return &GPUPower{Note: "not measured: " + err.Error()}
	}
	if len(hosts) == 0 {
		return &GPUPower{Note: fmt.Sprintf("not measured: Prometheus at %s has no %s{%s} samples in the %s before %s",
			q.PrometheusURL, metricPower, q.Selector, q.Window, q.End.UTC().Format(time.RFC3339))}
	}
	p := &GPUPower{Measured: true, WindowSeconds: q.Window.Seconds()}
	models := map[string]bool{}
	for _, g := range hosts {
		p.Hosts = append(p.Hosts, GPUHost{Host: g.labels["Hostname"], Model: g.labels["modelName"], GPUFigures: g.GPUFigures})
		models[g.labels["modelName"]] = true
	}
	slices.SortFunc(p.Hosts, func(a, b GPUHost) int { return cmp.Compare(a.Host, b.Host) })
	var notes []string
	if len(models) == 1 {
		p.Model = p.Hosts[0].Model
		if p.TDPWatts = BoardPower[p.Model]; p.TDPWatts == 0 {
			notes = append(notes, fmt.Sprintf("no TDP line: the board power of %q is not known", p.Model))
		}
	} else {
		notes = append(notes, "no TDP line: the hosts have different GPU models")
	}
	if q.StatefulSet != "" {
		pods, err := queryGroups(ctx, hc, q, podLabels)
		if err != nil {
			return &GPUPower{Note: "not measured: " + err.Error()}
		}
		for _, g := range pods {
			if r, ok := q.replicaOf(g.labels); ok {
				p.Replicas = append(p.Replicas, GPUReplica{Replica: r, Pod: fmt.Sprintf("%s-%d", q.StatefulSet, r),
					Host: g.labels["Hostname"], GPUFigures: g.GPUFigures})
			}
		}
		slices.SortFunc(p.Replicas, func(a, b GPUReplica) int { return cmp.Compare(a.Replica, b.Replica) })
		if len(p.Replicas) == 0 {
			notes = append(notes, fmt.Sprintf("per host only: no DCGM series names the run's pods (%s/%s-N); "+
				"turn on DCGM exporter's Kubernetes pod attribution for figures per replica", q.Namespace, q.StatefulSet))
		}
	}
	p.Note = strings.Join(notes, "; ")
	return p
}

// replicaOf reads the replica number of a series of the run's pods.
func (q GPUQuery) replicaOf(labels map[string]string) (int, bool) {
	pod, ns := labels["exported_pod"], labels["exported_namespace"]
	if pod == "" {
		pod, ns = labels["pod"], labels["namespace"]
	}
	n, ok := strings.CutPrefix(pod, q.StatefulSet+"-")
	if !ok || ns != q.Namespace {
		return 0, false
	}
	r, err := strconv.Atoi(n)
	return r, err == nil && r >= 0
}

type gpuGroup struct {
	labels map[string]string
	GPUFigures
}

// queryGroups computes the figures of the GPUs grouped by the labels by.
// Each GPU (by its gpu label within a group) counts once even when its
// series changed labels within the window.
func queryGroups(ctx context.Context, hc *http.Client, q GPUQuery, by string) ([]*gpuGroup, error) {
	w := fmt.Sprintf("[%ds]", max(int(q.Window.Seconds()), 1))
	// The summed power's peak is sampled on a grid of about 60 steps.
	sub := fmt.Sprintf("[%ds:%ds]", max(int(q.Window.Seconds()), 1), max(int(q.Window.Seconds()/60), 1))
	power, util := metricPower+"{"+q.Selector+"}", metricUtil+"{"+q.Selector+"}"
	perGPU := func(agg, expr string) string { return agg + " by (" + by + ", gpu) (" + expr + ")" }
	avgPower := perGPU("avg", "avg_over_time("+power+w+")")
	groups := map[string]*gpuGroup{}
	for _, e := range []struct {
		expr string
		set  func(*gpuGroup, float64)
	}{
		{"count by (" + by + ") (" + avgPower + ")", func(g *gpuGroup, v float64) { g.GPUs = int(v) }},
		{"sum by (" + by + ") (" + avgPower + ")", func(g *gpuGroup, v float64) { g.AvgWatts = v }},
		{"max by (" + by + ") (max_over_time(" + power + w + "))", func(g *gpuGroup, v float64) { g.MaxWattsGPU = v }},
		{"max_over_time((sum by (" + by + ") (" + perGPU("max", power) + "))" + sub + ")", func(g *gpuGroup, v float64) { g.MaxWatts = v }},
		{"avg by (" + by + ") (" + perGPU("avg", "avg_over_time("+util+w+")") + ")", func(g *gpuGroup, v float64) { g.AvgUtilPct = v }},
		{"max by (" + by + ") (max_over_time(" + util + w + "))", func(g *gpuGroup, v float64) { g.MaxUtilPct = v }},
	} {
		res, err := promQuery(ctx, hc, q.PrometheusURL, e.expr, q.End)
		if err != nil {
			return nil, fmt.Errorf("Prometheus at %s: %w", q.PrometheusURL, err)
		}
		for _, s := range res {
			key := groupKey(s.labels)
			g := groups[key]
			if g == nil {
				g = &gpuGroup{labels: s.labels}
				groups[key] = g
			}
			e.set(g, s.value)
		}
	}
	out := make([]*gpuGroup, 0, len(groups))
	for _, g := range groups {
		if g.GPUs == 0 {
			continue // utilisation without power samples
		}
		g.AvgWattsGPU = g.AvgWatts / float64(g.GPUs)
		out = append(out, g)
	}
	return out, nil
}

func groupKey(labels map[string]string) string {
	b, _ := json.Marshal(labels) // sorted keys
	return string(b)
}

type sample struct {
	labels map[string]string
	value  float64
}

// promQuery runs one instant query through Prometheus' HTTP API.
func promQuery(ctx context.Context, hc *http.Client, promURL, expr string, at time.Time) ([]sample, error) {
	u := strings.TrimRight(promURL, "/") + "/api/v1/query?" + url.Values{
		"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", resp.Status, body.Error)
	}
	out := make([]sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		out = append(out, sample{labels: r.Metric, value: v})
	}
	return out, nil
}

// RunGPUPower answers the stress test's question, watts per GPU, for the
// whole run: each average is the mean of the measured slices' averages,
// each peak the highest of theirs. Summary says it in one line.
type RunGPUPower struct {
	Measured    bool         `json:"measured"`
	Note        string       `json:"note,omitempty"`
	Summary     string       `json:"summary,omitempty"`
	Slices      int          `json:"slices"`
	NotMeasured int          `json:"slices_not_measured,omitempty"`
	Model       string       `json:"model,omitempty"`
	TDPWatts    float64      `json:"tdp_w,omitempty"`
	GPUs        int          `json:"gpus,omitempty"`
	AvgWattsGPU float64      `json:"gpu_power_avg_w,omitempty"`
	MaxWattsGPU float64      `json:"gpu_power_max_w,omitempty"`
	AvgUtilPct  float64      `json:"gpu_util_avg_pct,omitempty"`
	MaxUtilPct  float64      `json:"gpu_util_max_pct,omitempty"`
	Hosts       []GPUHost    `json:"hosts,omitempty"`
	Replicas    []GPUReplica `json:"replicas,omitempty"`
}

// figuresSum accumulates one group's figures over slices.
type figuresSum struct {
	N                   int
	AvgGPU, Avg, Util   float64
	GPUs                int
	MaxGPU, MaxW, MaxUt float64
}

func (s *figuresSum) add(f GPUFigures) {
	s.N++
	s.AvgGPU, s.Avg, s.Util = s.AvgGPU+f.AvgWattsGPU, s.Avg+f.AvgWatts, s.Util+f.AvgUtilPct
	s.GPUs = max(s.GPUs, f.GPUs)
	s.MaxGPU, s.MaxW, s.MaxUt = max(s.MaxGPU, f.MaxWattsGPU), max(s.MaxW, f.MaxWatts), max(s.MaxUt, f.MaxUtilPct)
}

func (s *figuresSum) figures() GPUFigures {
	n := float64(s.N)
	return GPUFigures{GPUs: s.GPUs, AvgWattsGPU: s.AvgGPU / n, MaxWattsGPU: s.MaxGPU, AvgWatts: s.Avg / n,
		MaxWatts: s.MaxW, AvgUtilPct: s.Util / n, MaxUtilPct: s.MaxUt}
}

// gpuRun gathers the slices' GPU figures into a RunGPUPower.
type gpuRun struct {
	Measured, Unmeasured int
	FirstMissing         string // the first unmeasured slice's note
	Notes                []string
	Models               map[string]bool
	All                  figuresSum
	Hosts                map[string]*figuresSum
	HostModel            map[string]string
	Replicas             map[int]*figuresSum
	ReplicaPod           map[int]GPUReplica
}

func (r *gpuRun) add(p *GPUPower) {
	if !p.Measured {
		r.Unmeasured++
		if r.FirstMissing == "" {
			r.FirstMissing = cmp.Or(p.Note, "not measured")
		}
		return
	}
	// Each map on its own: a checkpoint restores an empty one as nil.
	if r.Models == nil {
		r.Models, r.Hosts, r.HostModel = map[string]bool{}, map[string]*figuresSum{}, map[string]string{}
	}
	if r.Replicas == nil {
		r.Replicas, r.ReplicaPod = map[int]*figuresSum{}, map[int]GPUReplica{}
	}
	r.Measured++
	for _, n := range strings.Split(p.Note, "; ") {
		if n != "" && !slices.Contains(r.Notes, n) {
			r.Notes = append(r.Notes, n)
		}
	}
	// The slice's GPUs together: the hosts' sums over their GPU count.
	var all GPUFigures
	for _, h := range p.Hosts {
		s := r.Hosts[h.Host]
		if s == nil {
			s = &figuresSum{}
			r.Hosts[h.Host] = s
		}
		s.add(h.GPUFigures)
		r.HostModel[h.Host] = h.Model
		r.Models[h.Model] = true
		all.GPUs += h.GPUs
		all.AvgWatts += h.AvgWatts
		all.AvgUtilPct += h.AvgUtilPct * float64(h.GPUs)
		all.MaxWattsGPU, all.MaxUtilPct = max(all.MaxWattsGPU, h.MaxWattsGPU), max(all.MaxUtilPct, h.MaxUtilPct)
	}
	if all.GPUs > 0 {
		all.AvgWattsGPU, all.AvgUtilPct = all.AvgWatts/float64(all.GPUs), all.AvgUtilPct/float64(all.GPUs)
	}
	r.All.add(all)
	for _, rep := range p.Replicas {
		s := r.Replicas[rep.Replica]
		if s == nil {
			s = &figuresSum{}
			r.Replicas[rep.Replica] = s
		}
		s.add(rep.GPUFigures)
		r.ReplicaPod[rep.Replica] = rep
	}
}

func (r *gpuRun) result() *RunGPUPower {
	out := &RunGPUPower{Measured: r.Measured > 0, Slices: r.Measured, NotMeasured: r.Unmeasured}
	switch {
	case r.Measured == 0 && r.Unmeasured == 0:
		out.Note = "not measured: no slice stored GPU figures"
		return out
	case r.Measured == 0:
		out.Note = r.FirstMissing
		return out
	}
	notes := r.Notes
	if r.Unmeasured > 0 {
		notes = append([]string{fmt.Sprintf("%d of %d slices not measured, the first: %s",
			r.Unmeasured, r.Measured+r.Unmeasured, strings.TrimPrefix(r.FirstMissing, "not measured: "))}, notes...)
	}
	out.Note = strings.Join(notes, "; ")
	all := r.All.figures()
	out.GPUs, out.AvgWattsGPU, out.MaxWattsGPU = all.GPUs, all.AvgWattsGPU, all.MaxWattsGPU
	out.AvgUtilPct, out.MaxUtilPct = all.AvgUtilPct, all.MaxUtilPct
	if len(r.Models) == 1 {
		for m := range r.Models {
			out.Model, out.TDPWatts = m, BoardPower[m]
		}
	}
	var busiest GPUFigures
	for name, s := range r.Hosts {
		h := GPUHost{Host: name, Model: r.HostModel[name], GPUFigures: s.figures()}
		out.Hosts = append(out.Hosts, h)
		busiest.AvgWatts, busiest.MaxWatts = max(busiest.AvgWatts, h.AvgWatts), max(busiest.MaxWatts, h.MaxWatts)
	}
	slices.SortFunc(out.Hosts, func(a, b GPUHost) int { return cmp.Compare(a.Host, b.Host) })
	for rep, s := range r.Replicas {
		g := r.ReplicaPod[rep]
		g.GPUFigures = s.figures()
		out.Replicas = append(out.Replicas, g)
	}
	slices.SortFunc(out.Replicas, func(a, b GPUReplica) int { return cmp.Compare(a.Replica, b.Replica) })

	what := fmt.Sprintf("%d GPUs", out.GPUs)
	if out.Model != "" {
		what = fmt.Sprintf("%d × %s", out.GPUs, out.Model)
	}
	if out.TDPWatts > 0 {
		what += fmt.Sprintf(" (TDP %.0f W)", out.TDPWatts)
	}
	out.Summary = fmt.Sprintf("%s on %d host%s: per GPU %.0f W average, %.0f W peak; per host up to %.0f W average, %.0f W peak; "+
		"utilisation %.0f%% average, %.0f%% peak", what, len(out.Hosts), plural(len(out.Hosts)), out.AvgWattsGPU, out.MaxWattsGPU,
		busiest.AvgWatts, busiest.MaxWatts, out.AvgUtilPct, out.MaxUtilPct)
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
