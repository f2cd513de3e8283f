package engine_test

import (
	"github.com/vibench/vllm-inference-benchmark/internal/testtools"

	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/engine"
)

const h100 = "NVIDIA H100 80GB HBM3"

// dcgmExporter stands in for one host's DCGM exporter: 8 GPUs whose power
// and utilisation alternate between a low and a high value from one scrape
// to the next, so a window's average lies halfway and its peak is known
// whatever the scrape timing. GPU g of host h draws 300 + 100h + 10g W
// (+50 W on odd scrapes) at 40 + 10h + 5g % (+10 %). pod(g) names the pod
// label of GPU g ("" for a GPU no pod holds).
type dcgmExporter struct {
	host    int
	podNS   string
	pod     func(gpu int) string
	scrapes atomic.Int64
}

func (e *dcgmExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	odd := float64(e.scrapes.Add(1) % 2)
	hostname := fmt.Sprintf("gpu-node-%c", 'a'+e.host)
	var b strings.Builder
	series := func(name, help string, value func(gpu int) float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for g := range 8 {
			ns, pod, container := "", e.pod(g), ""
			if pod != "" {
				ns, container = e.podNS, "vllm"
			}
			fmt.Fprintf(&b, "%s{gpu=\"%d\",UUID=\"GPU-%d0000000-0000-0000-0000-00000000000%d\",device=\"nvidia%d\",modelName=%q,"+
				"Hostname=%q,DCGM_FI_DRIVER_VERSION=\"550.90.07\",container=%q,namespace=%q,pod=%q} %f\n",
				name, g, e.host, g, g, h100, hostname, container, ns, pod, value(g))
		}
	}
	series("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", func(g int) float64 { return 300 + 100*float64(e.host) + 10*float64(g) + 50*odd })
	series("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", func(g int) float64 { return 40 + 10*float64(e.host) + 5*float64(g) + 10*odd })
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}

// prometheusBin is the Prometheus server scripts/tools.sh fetches.
func prometheusBin(t *testing.T) string {
	t.Helper()
	return testtools.Bin(t, "prometheus", "scripts/tools.sh prometheus")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startPrometheus runs a real Prometheus scraping each target every second
// and returns its URL. The second target's job sets pod and namespace
// target labels, as a ServiceMonitor without honorLabels does, so that
// Prometheus keeps the exporter's own as exported_pod and
// exported_namespace.
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	bin := prometheusBin(t)
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n")
	for i, target := range targets {
		fmt.Fprintf(&cfg, "  - job_name: dcgm-%d\n    static_configs:\n      - targets: [%q]\n", i, target)
		if i == 1 {
			cfg.WriteString("        labels: {pod: nvidia-dcgm-exporter-x7k2p, namespace: gpu-operator}\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	return "http://" + addr
}

// Two hosts of 8 H100s behind a real Prometheus 2.42: host a's GPUs all
// belong to the run's replica 0, half of host b's to replica 1 (labelled
// exported_pod there), the rest to no pod.
func TestQueryGPUPowerFromRealPrometheus(t *testing.T) {
	prometheusBin(t) // skip before starting anything
	hostA := &dcgmExporter{host: 0, podNS: "bench", pod: func(int) string { return "vllm-run-0" }}
	hostB := &dcgmExporter{host: 1, podNS: "bench", pod: func(g int) string {
		if g < 4 {
			return "vllm-run-1"
		}
		return ""
	}}
	var targets []string
	for _, e := range []*dcgmExporter{hostA, hostB} {
		srv := httptest.NewServer(e)
		t.Cleanup(srv.Close)
		targets = append(targets, strings.TrimPrefix(srv.URL, "http://"))
	}
	start := time.Now()
	promURL := startPrometheus(t, targets...)
	const window = 8 * time.Second
	deadline := time.Now().Add(45 * time.Second)
	for hostA.scrapes.Load() < 10 || hostB.scrapes.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus scraped %d and %d times in 45 s", hostA.scrapes.Load(), hostB.scrapes.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	end := time.Now()
	t.Logf("samples after %v", end.Sub(start).Round(100*time.Millisecond))

	q := engine.GPUQuery{PrometheusURL: promURL, Selector: `Hostname=~"gpu-node-.*"`, End: end, Window: window,
		Namespace: "bench", StatefulSet: "vllm-run"}
	p := engine.QueryGPUPower(t.Context(), http.DefaultClient, q)
	if !p.Measured || p.Note != "" {
		t.Fatalf("not measured: %+v", p)
	}
	if p.Model != h100 || p.TDPWatts != 700 || p.WindowSeconds != 8 {
		t.Errorf("model %q, TDP %v, window %v", p.Model, p.TDPWatts, p.WindowSeconds)
	}
	// With 7 to 9 samples alternating 50 W (10 %) apart, a GPU's average is
	// within 50/14 W of halfway (checked to 5 W: 5 samples, for a loaded
	// machine's missed scrapes); the peaks are exact.
	want := []engine.GPUFigures{
		{GPUs: 8, AvgWattsGPU: 360, MaxWattsGPU: 420, AvgWatts: 2880, MaxWatts: 3080, AvgUtilPct: 62.5, MaxUtilPct: 85},
		{GPUs: 8, AvgWattsGPU: 460, MaxWattsGPU: 520, AvgWatts: 3680, MaxWatts: 3880, AvgUtilPct: 72.5, MaxUtilPct: 95},
	}
	if len(p.Hosts) != 2 || p.Hosts[0].Host != "gpu-node-a" || p.Hosts[1].Host != "gpu-node-b" {
		t.Fatalf("hosts %+v", p.Hosts)
	}
	for i, h := range p.Hosts {
		if h.Model != h100 {
			t.Errorf("%s: model %q", h.Host, h.Model)
		}
		checkFigures(t, h.Host, h.GPUFigures, want[i])
	}
	if len(p.Replicas) != 2 {
		t.Fatalf("replicas %+v", p.Replicas)
	}
	r0, r1 := p.Replicas[0], p.Replicas[1]
	if r0.Replica != 0 || r0.Pod != "vllm-run-0" || r0.Host != "gpu-node-a" || r1.Replica != 1 || r1.Pod != "vllm-run-1" || r1.Host != "gpu-node-b" {
		t.Errorf("replicas %+v", p.Replicas)
	}
	checkFigures(t, "replica 0", r0.GPUFigures, want[0])
	checkFigures(t, "replica 1", r1.GPUFigures,
		engine.GPUFigures{GPUs: 4, AvgWattsGPU: 440, MaxWattsGPU: 480, AvgWatts: 1760, MaxWatts: 1860, AvgUtilPct: 62.5, MaxUtilPct: 75})

	// Without pod attribution (another namespace's run): hosts, and a note.
	other := q
	other.Namespace = "elsewhere"
	if p := engine.QueryGPUPower(t.Context(), http.DefaultClient, other); !p.Measured || len(p.Hosts) != 2 || p.Replicas != nil ||
		!strings.Contains(p.Note, "per host only") {
		t.Errorf("no run pods: %+v", p)
	}
	// A selector no GPU matches, and one Prometheus rejects, are said so.
	none := q
	none.Selector = `Hostname="gpu-node-z"`
	if p := engine.QueryGPUPower(t.Context(), http.DefaultClient, none); p.Measured ||
		!strings.Contains(p.Note, `no DCGM_FI_DEV_POWER_USAGE{Hostname="gpu-node-z"} samples`) {
		t.Errorf("no samples: %+v", p)
	}
	bad := q
	bad.Selector = `Hostname=`
	if p := engine.QueryGPUPower(t.Context(), http.DefaultClient, bad); p.Measured ||
		!strings.HasPrefix(p.Note, "not measured: Prometheus at "+promURL+": 400 Bad Request: ") {
		t.Errorf("bad selector: %+v", p)
	}
	t.Logf("took %v", time.Since(start).Round(100*time.Millisecond))
}

func checkFigures(t *testing.T, name string, got, want engine.GPUFigures) {
	t.Helper()
	near := func(a, b, tol float64) bool { return math.Abs(a-b) <= tol }
	n := float64(want.GPUs)
	if got.GPUs != want.GPUs || !near(got.AvgWattsGPU, want.AvgWattsGPU, 5) || !near(got.MaxWattsGPU, want.MaxWattsGPU, 0.01) ||
		!near(got.AvgWatts, want.AvgWatts, 5*n) || !near(got.MaxWatts, want.MaxWatts, 0.01) ||
		!near(got.AvgUtilPct, want.AvgUtilPct, 1) || !near(got.MaxUtilPct, want.MaxUtilPct, 0.01) {
		t.Errorf("%s: %+v, want %+v", name, got, want)
	}
}

// Without a Prometheus and a selector the answer is a note, never nothing;
// an unreachable Prometheus is named with its error.
func TestQueryGPUPowerSaysWhyNotMeasured(t *testing.T) {
	for _, q := range []engine.GPUQuery{{}, {PrometheusURL: "http://prometheus:9090"}, {Selector: `Hostname="a"`}} {
		if p := engine.QueryGPUPower(t.Context(), http.DefaultClient, q); p.Measured || p.Note != engine.GPUNotConfigured {
			t.Errorf("%+v: %+v", q, p)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	p := engine.QueryGPUPower(t.Context(), http.DefaultClient, engine.GPUQuery{PrometheusURL: srv.URL, Selector: `Hostname="a"`,
		End: time.Now(), Window: time.Minute})
	if p.Measured || !strings.HasPrefix(p.Note, "not measured: Prometheus at "+srv.URL+": ") || !strings.Contains(p.Note, "connection refused") {
		t.Errorf("%+v", p)
	}
}
