package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// A bad /start-load payload is answered 400 with every problem, before
// anything is started (the handler never reaches Temporal).
func TestStartLoadRejectsBadPayload(t *testing.T) {
	h := apiHandler(nil, serveOptions{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/start-load",
		strings.NewReader(`{"host": "localhost", "port": 8000, "request_rate": 0, "dataset_name": "sonet"}`)))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var body struct {
		Problems []struct{ Field, Problem string } `json:"problems"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, p := range body.Problems {
		fields[p.Field] = true
	}
	if !fields["request_rate"] || !fields["dataset_name"] {
		t.Errorf("problems %+v must name request_rate and dataset_name", body.Problems)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/start-load", strings.NewReader(`not json`)))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d for a non-JSON body", rec.Code)
	}
}

func TestStaticSummaryReadsLikeTheRun(t *testing.T) {
	rate := config.Rate(12)
	req := config.Request{Model: "meta-llama/Llama-3.1-405B-Instruct-FP8", NumPrompts: 500000, RequestRate: &rate,
		ReplicasBaseURLs: config.List{"http://a:8000", "http://b:8000"}, DatasetName: "sonnet"}.Defaults()
	if got := staticSummary(req); got != "Llama-3.1-405B-Instruct-FP8 x2 replica(s), 12.0 req/s, 500000 prompts, sonnet, ~11h34m" {
		t.Errorf("summary %q", got)
	}
	if d := staticDetails(req); !strings.Contains(d, "| sonnet input/prefix/output | 550/200/150 |") {
		t.Errorf("details %q", d)
	}
}
