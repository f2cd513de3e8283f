package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/internal/badinput"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

// countingSim is the project's simulator; load counts the generation
// requests it was sent.
func countingSim(t *testing.T) (url string, load *atomic.Int64) {
	t.Helper()
	s, err := vllmsim.New(vllmsim.Config{Model: "meta-llama/Llama-3.1-8B-Instruct"})
	if err != nil {
		t.Fatal(err)
	}
	load = new(atomic.Int64)
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			load.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, load
}

// countingTemporal listens where Temporal would and counts connections: a
// refused request must never reach it.
func countingTemporal(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), conns
}

func downURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

type outcome struct {
	entry, name, field string
	code               int // exit code or HTTP status
	named              bool
	took               time.Duration
}

// Every bad input, through `starter bench`, `starter start --wait` and
// POST /start-load: refused with exit 2 / HTTP 400 within 2 s, naming the
// field, with nothing sent to the server and no connection to Temporal.
// (`temporal workflow start --input` takes the same cases in
// e2e/cli_test.go and config's DecodeWorkflowInput tests.)
func TestEveryEntryRefusesBadInputAtOnce(t *testing.T) {
	sim, load := countingSim(t)
	down := downURL(t)
	temporalAddr, conns := countingTemporal(t)
	dir := t.TempDir()
	var results []outcome

	cli := func(entry, name, field string, args ...string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, starterBin, args...)
		cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+temporalAddr, "OPENAI_API_KEY=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		o := outcome{entry: entry, name: name, field: field, took: time.Since(start), code: cmd.ProcessState.ExitCode()}
		o.named = strings.Contains(stderr.String(), field)
		if err == nil || o.code != 2 || !o.named || o.took > 2*time.Second {
			t.Errorf("%s %s: exit %d in %s, want 2 naming %s:\n%s", entry, name, o.code, o.took, field, stderr.String())
		}
		results = append(results, o)
	}
	for i, c := range badinput.Cases {
		if c.Text {
			continue
		}
		cfg := filepath.Join(dir, fmt.Sprintf("case%d.json", i))
		if err := os.WriteFile(cfg, []byte(c.Fill(sim, down)), 0o644); err != nil {
			t.Fatal(err)
		}
		if !c.Servers { // starter bench asks the servers once it calls preflight.Check
			cli("bench", c.Name, c.Field, "bench", "--config", cfg)
		}
		cli("start", c.Name, c.Field, "start", "--wait", "--config", cfg)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name, field string
		args        []string
	}{
		{"empty config file", "request", []string{"--config", empty}},
		{"--num-prompts 0", "num_prompts", []string{"--base-url", sim, "--num-prompts", "0"}},
		{"--num-prompts 1e12", "num_prompts", []string{"--base-url", sim, "--num-prompts", "1000000000000"}},
		{"--request-rate fast", "request-rate", []string{"--base-url", sim, "--request-rate", "fast"}},
		{"--sonnet-input-len with random", "sonnet_input_len", []string{"--base-url", sim, "--sonnet-input-len", "512"}},
		{"--base-url without scheme", "base_url", []string{"--base-url", "localhost:8000"}},
		{"--slice-seconds 0", "slice_seconds", []string{"--base-url", sim, "--slice-seconds", "0"}},
		{"--burstiness with rate inf", "burstiness", []string{"--base-url", sim, "--burstiness", "0.5"}},
		{"--image without deploy", "image", []string{"--base-url", sim, "--image", "vllm/vllm-openai:latest"}},
		{"--replicas-base-urls with credentials", "replicas_base_urls[0]", []string{"--replicas-base-urls", "http://u:p@127.0.0.1:8000"}},
	} {
		cli("bench", f.name, f.field, append([]string{"bench"}, f.args...)...)
		cli("start", f.name, f.field, append([]string{"start", "--wait"}, f.args...)...)
	}

	lazy, err := client.NewLazyClient(client.Options{HostPort: temporalAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	api := httptest.NewUnstartedServer(nil)
	api.Config = newServer("", apiHandler(lazy, serveOptions{checkServers: true, readTimeout: time.Second}), serveOptions{readTimeout: time.Second})
	api.Start()
	defer api.Close()
	post := func(name, field, body string) {
		start := time.Now()
		resp, err := http.Post(api.URL+"/start-load", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer resp.Body.Close()
		var got struct {
			Problems []struct{ Field, Problem string } `json:"problems"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&got)
		o := outcome{entry: "POST /start-load", name: name, field: field, code: resp.StatusCode, took: time.Since(start)}
		for _, p := range got.Problems {
			o.named = o.named || p.Field == field
		}
		if o.code != http.StatusBadRequest || !o.named || o.took > 2*time.Second {
			t.Errorf("POST %s: %d in %s, want 400 naming %s: %+v", name, o.code, o.took, field, got.Problems)
		}
		results = append(results, o)
	}
	for _, c := range badinput.Cases {
		post(c.Name, c.Field, c.Fill(sim, down))
	}
	post("empty body", "request", "")
	post("JSON null", "request", "null")
	post("deploy chosen by a caller", "deploy", `{"deploy": "kubernetes", "gpu_type": "H100"}`)
	post("vllm_args chosen by a caller", "vllm_args", `{"base_url": "`+sim+`", "vllm_args": ["--trust-remote-code"]}`)
	post("namespace chosen by a caller", "namespace", `{"deploy": "kubernetes", "gpu_type": "H100", "namespace": "kube-system"}`)

	if n := load.Load(); n != 0 {
		t.Errorf("the simulator was sent %d generation requests", n)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("Temporal was reached %d times: a workflow may have been started", n)
	}
	byEntry := map[string]int{}
	var slowest time.Duration
	for _, o := range results {
		if o.named && (o.code == 2 || o.code == http.StatusBadRequest) && o.took <= 2*time.Second {
			byEntry[o.entry]++
		}
		slowest = max(slowest, o.took)
	}
	t.Logf("refused at once naming the field: %d of %d (%v); slowest %s", byEntry["bench"]+byEntry["start"]+byEntry["POST /start-load"], len(results), byEntry, slowest)
}
