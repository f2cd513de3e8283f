package preflight_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/preflight"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

const model = "meta-llama/Llama-3.1-8B-Instruct"

// sim serves the project's simulator and counts generation requests.
func sim(t *testing.T, cfg vllmsim.Config) (string, *atomic.Int64) {
	t.Helper()
	cfg.Model = model
	s, err := vllmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var load atomic.Int64
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			load.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &load
}

func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestCheck(t *testing.T) {
	up, load := sim(t, vllmsim.Config{MaxModelLen: 4096})
	wrongPath := httptest.NewServer(http.NotFoundHandler())
	defer wrongPath.Close()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer silent.Close()
	down := closedURL(t)
	for _, tc := range []struct {
		name  string
		req   config.Request
		field string
		want  string
	}{
		{"served", config.Request{BaseURL: up, Model: model}, "", ""},
		{"no model named", config.Request{BaseURL: up}, "", ""},
		{"deploy waits", config.Request{Deploy: "kubernetes", GPUType: "H100"}, "", ""},
		{"down", config.Request{BaseURL: down}, "base_url", "connection refused"},
		{"down by host/port", config.Request{Host: "127.0.0.1", Port: 1}, "host", "GET http://127.0.0.1:1/health: connection refused"},
		{"one replica of two down", config.Request{ReplicasBaseURLs: config.List{up, down}}, "replicas_base_urls[1]", down},
		{"not vLLM", config.Request{BaseURL: wrongPath.URL}, "base_url", "answered 404 Not Found"},
		{"base_url with /v1", config.Request{BaseURL: up + "/v1"}, "base_url", `drop "/v1"`},
		{"no answer", config.Request{BaseURL: silent.URL}, "base_url", "no answer within 1.5s"},
		{"other model", config.Request{BaseURL: up, Model: "Qwen/Qwen3-8B"}, "model", `serves ["` + model + `"]`},
		{"other served name", config.Request{BaseURL: up, Model: model, ServedModelName: "llama"}, "served_model_name", "not served"},
		{"longer than the context", config.Request{BaseURL: up, RandomInputLen: 4000, RandomOutputLen: 200}, "random_input_len", "longer than the 4096 tokens"},
		{"sonnet longer than the context", config.Request{BaseURL: up, DatasetName: "sonnet", SonnetInputLen: 4000, SonnetOutputLen: 200}, "sonnet_input_len", "max_model_len"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := preflight.Check(context.Background(), tc.req.Defaults(), nil)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s", took)
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused a served request: %v", err)
				}
				return
			}
			v, ok := config.AsValidationError(err)
			if !ok {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, p := range v.Problems {
				if p.Field == tc.field && strings.Contains(p.Problem, tc.want) {
					return
				}
			}
			t.Errorf("want %s: ...%s..., got %v", tc.field, tc.want, v.Problems)
		})
	}
	if n := load.Load(); n != 0 {
		t.Errorf("the check sent %d generation requests", n)
	}
}
