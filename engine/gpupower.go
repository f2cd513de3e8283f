package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GPUPower is what DCGM exporter reported over one slice, read from
// Prometheus: per-GPU average and peak power, the busiest host's total, and
// utilisation.
type GPUPower struct {
	GPUs          int     `json:"gpus"`
	AvgWattsGPU   float64 `json:"gpu_power_avg_w"`      // mean over GPUs of each GPU's average
	MaxWattsGPU   float64 `json:"gpu_power_max_w"`      // highest reading of any GPU
	HostWattsMax  float64 `json:"host_power_avg_max_w"` // the highest host's summed average
	AvgUtilPct    float64 `json:"gpu_util_avg_pct"`
	PeakUtilPct   float64 `json:"gpu_util_max_pct"`
	WindowSeconds float64 `json:"window_seconds"`
}

// QueryGPUPower asks Prometheus at promURL for DCGM_FI_DEV_POWER_USAGE and
// DCGM_FI_DEV_GPU_UTIL over the window ending at end. selector narrows the
// series (e.g. `Hostname=~"gpu-node-.*"`); empty takes every GPU.
func QueryGPUPower(ctx context.Context, hc *http.Client, promURL, selector string, end time.Time, window time.Duration) (*GPUPower, error) {
	w := fmt.Sprintf("%ds", max(int(window.Seconds()), 1))
	sel := "{" + selector + "}"
	host := "Hostname"
	q := func(expr string) ([]sample, error) { return promQuery(ctx, hc, promURL, expr, end) }
	avg, err := q("avg_over_time(DCGM_FI_DEV_POWER_USAGE" + sel + "[" + w + "])")
	if err != nil || len(avg) == 0 {
		return nil, err
	}
	p := &GPUPower{GPUs: len(avg), WindowSeconds: window.Seconds()}
	for _, s := range avg {
		p.AvgWattsGPU += s.value / float64(len(avg))
	}
	if peak, err := q("max(max_over_time(DCGM_FI_DEV_POWER_USAGE" + sel + "[" + w + "]))"); err == nil && len(peak) > 0 {
		p.MaxWattsGPU = peak[0].value
	}
	if hosts, err := q("sum by (" + host + ") (avg_over_time(DCGM_FI_DEV_POWER_USAGE" + sel + "[" + w + "]))"); err == nil {
		for _, s := range hosts {
			p.HostWattsMax = max(p.HostWattsMax, s.value)
		}
	}
	if util, err := q("avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL" + sel + "[" + w + "]))"); err == nil && len(util) > 0 {
		p.AvgUtilPct = util[0].value
	}
	if util, err := q("max(max_over_time(DCGM_FI_DEV_GPU_UTIL" + sel + "[" + w + "]))"); err == nil && len(util) > 0 {
		p.PeakUtilPct = util[0].value
	}
	return p, nil
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
		return nil, fmt.Errorf("prometheus %s: %w", resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", body.Error)
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

// RunGPUPower answers the stress test's question: watts per GPU over the run.
type RunGPUPower struct {
	Slices       int     `json:"slices"`
	AvgWattsGPU  float64 `json:"gpu_power_avg_w"`
	MaxWattsGPU  float64 `json:"gpu_power_max_w"`
	HostWattsMax float64 `json:"host_power_avg_max_w"`
	AvgUtilPct   float64 `json:"gpu_util_avg_pct"`
	sum, util    float64
}

func (r *RunGPUPower) add(p *GPUPower) *RunGPUPower {
	if p == nil {
		return r
	}
	if r == nil {
		r = &RunGPUPower{}
	}
	r.Slices++
	r.sum += p.AvgWattsGPU
	r.util += p.AvgUtilPct
	r.AvgWattsGPU, r.AvgUtilPct = r.sum/float64(r.Slices), r.util/float64(r.Slices)
	r.MaxWattsGPU = max(r.MaxWattsGPU, p.MaxWattsGPU)
	r.HostWattsMax = max(r.HostWattsMax, p.HostWattsMax)
	return r
}
