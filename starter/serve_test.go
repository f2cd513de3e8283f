package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

func TestServeListensOnLoopbackUnlessGivenAToken(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "bench.example.com:8080": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v", addr, got)
		}
	}
	for _, addr := range []string{":0", "0.0.0.0:0"} {
		start := time.Now()
		_, errOut, code := starter(t, "", "serve", "--addr", addr)
		if code != 2 || !strings.Contains(errOut, "STARTER_SERVE_TOKEN") || time.Since(start) > 2*time.Second {
			t.Errorf("serve --addr %s without a token: exit %d in %s: %s", addr, code, time.Since(start), errOut)
		}
	}
	_, errOut, code := starter(t, "", "serve", "--allow-fields", "image,base_url")
	if code != 2 || !strings.Contains(errOut, `"base_url" is not one of`) {
		t.Errorf("--allow-fields base_url: exit %d: %s", code, errOut)
	}
}

func post(t *testing.T, h http.Handler, body string, header http.Header) (int, map[string]string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/start-load", strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var got struct {
		Problems []config.FieldError `json:"problems"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	fields := map[string]string{}
	for _, p := range got.Problems {
		fields[p.Field] = p.Problem
	}
	return rec.Code, fields
}

func TestServeNeedsTheBearerToken(t *testing.T) {
	h := apiHandler(nil, serveOptions{token: "s3cret"})
	bad := `{"num_prompts": 0}`
	for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic czNjcmV0"} {
		if code, _ := post(t, h, bad, http.Header{"Authorization": {auth}}); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, code)
		}
	}
	if code, fields := post(t, h, bad, http.Header{"Authorization": {"Bearer s3cret"}}); code != http.StatusBadRequest || fields["num_prompts"] == "" {
		t.Errorf("with the token: status %d %v, want 400 naming num_prompts", code, fields)
	}
}

// Fields that choose what runs on the cluster are refused unless the
// operator allows them, together with every other problem.
func TestServeRefusesOperatorFieldsUnlessAllowed(t *testing.T) {
	body := `{"deploy": "kubernetes", "gpu_type": "H100", "image": "evil/miner:1", "vllm_args": ["--x"], "namespace": "kube-system", "num_prompts": 0}`
	code, fields := post(t, apiHandler(nil, serveOptions{}), body, nil)
	for _, f := range []string{"deploy", "image", "vllm_args", "namespace", "num_prompts"} {
		if code != http.StatusBadRequest || fields[f] == "" {
			t.Errorf("status %d, %s not refused: %v", code, f, fields)
		}
	}
	if !strings.Contains(fields["image"], "--allow-fields image") {
		t.Errorf("the fix is not named: %q", fields["image"])
	}
	allowed := serveOptions{allowed: map[string]bool{"deploy": true, "image": true, "vllm_args": true, "namespace": true}}
	code, fields = post(t, apiHandler(nil, allowed), body, nil)
	if code != http.StatusBadRequest || len(fields) != 1 || fields["num_prompts"] == "" {
		t.Errorf("allowed fields still refused: %d %v", code, fields)
	}
}

// A body too large is answered 413, a body that stops coming is answered
// within the read timeout: nothing holds the server.
func TestServeNeverHangs(t *testing.T) {
	o := serveOptions{readTimeout: 500 * time.Millisecond}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newServer("", apiHandler(nil, o), o)
	srv.Start()
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/start-load", "application/json", strings.NewReader(`{"label": "`+strings.Repeat("x", 2<<20)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB body: status %d, want 413", resp.StatusCode)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /start-load HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"num_prompts\":")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if took := time.Since(start); err != nil && took > 2*time.Second {
		t.Fatalf("a body that stops coming held the connection %s: %v", took, err)
	}
	if err == nil && !strings.Contains(status, "400") {
		t.Errorf("a body that stops coming: %q, want 400", status)
	}
}
