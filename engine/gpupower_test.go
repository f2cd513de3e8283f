package engine_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/engine"
)

// A stand-in for Prometheus' query API with two hosts of two GPUs.
func TestQueryGPUPower(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		queries = append(queries, q)
		vec := func(vals ...float64) {
			var res []map[string]any
			for i, v := range vals {
				res = append(res, map[string]any{"metric": map[string]string{"gpu": string(rune('0' + i))}, "value": []any{1.0, strconvF(v)}})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res}})
		}
		switch {
		case strings.HasPrefix(q, "avg_over_time(DCGM_FI_DEV_POWER_USAGE"):
			vec(670, 680, 660, 690)
		case strings.HasPrefix(q, "max(max_over_time(DCGM_FI_DEV_POWER_USAGE"):
			vec(712)
		case strings.HasPrefix(q, "sum by (Hostname)"):
			vec(1350, 1350)
		case strings.HasPrefix(q, "avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL"):
			vec(97)
		case strings.HasPrefix(q, "max(max_over_time(DCGM_FI_DEV_GPU_UTIL"):
			vec(100)
		default:
			vec()
		}
	}))
	defer srv.Close()
	p, err := engine.QueryGPUPower(t.Context(), srv.Client(), srv.URL, `Hostname=~"gpu-.*"`, time.Now(), 5*time.Minute)
	if err != nil || p == nil {
		t.Fatalf("%v %v", p, err)
	}
	if p.GPUs != 4 || p.AvgWattsGPU != 675 || p.MaxWattsGPU != 712 || p.HostWattsMax != 1350 || p.AvgUtilPct != 97 || p.PeakUtilPct != 100 {
		t.Errorf("%+v", p)
	}
	if !strings.Contains(queries[0], `{Hostname=~"gpu-.*"}[300s]`) {
		t.Errorf("selector or window missing: %s", queries[0])
	}
}

func strconvF(v float64) string { b, _ := json.Marshal(v); return string(b) }
