package main

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

const llama = "meta-llama/Llama-3.1-8B-Instruct"

func startSim(t *testing.T, cfg vllmsim.Config) string {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = llama
	}
	sim, err := vllmsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// readStrict parses a saved result with encoding/json, which refuses
// anything RFC 8259 does not allow (Infinity, NaN, a missing value).
func readStrict(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not valid JSON: %v\n%s", path, err, b)
	}
	return m
}

// vLLM's default rate, inf, gives a file every strict parser reads, with
// the requested rate written as vLLM writes request_rate and the
// transport that timed the responses.
func TestBenchAtInfRateSavesStrictJSON(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 5 * time.Millisecond, ITL: time.Millisecond})
	dir := t.TempDir()
	_, errOut, code := starter(t, "", "bench", "--base-url", url, "--model", llama, "--dataset-name", "random",
		"--random-input-len", "32", "--random-output-len", "4", "--num-prompts", "20", "--save-result", "--result-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "openai-infqps-Llama-3.1-8B-Instruct-*.json"))
	if len(files) != 1 {
		t.Fatalf("result files %v", files)
	}
	res := readStrict(t, files[0])
	health, _ := res["client_health"].(map[string]any)
	if res["request_rate"] != "inf" || health["requested_rate"] != "inf" || res["completed"] != float64(20) {
		t.Errorf("request_rate %v, client_health %v, completed %v", res["request_rate"], health, res["completed"])
	}
	if tr, _ := health["transport"].(string); tr == "" {
		t.Errorf("client_health names no transport: %v", health)
	}
	if f, _ := res["failures"].(map[string]any); len(asList(f["replicas"])) != 1 {
		t.Errorf("failures %v, want one replica's account", res["failures"])
	}
	if acc, _ := res["run_accounting"].(map[string]any); acc["scheduled"] != float64(20) {
		t.Errorf("run_accounting %v", res["run_accounting"])
	}
	// --append-result adds the next run as a second JSON line.
	_, errOut, code = starter(t, "", "bench", "--base-url", url, "--model", llama, "--dataset-name", "random",
		"--random-input-len", "32", "--random-output-len", "4", "--num-prompts", "5", "--append-result", "--result-filename", filepath.Base(files[0]), "--result-dir", dir)
	if code != 0 {
		t.Fatalf("append: exit %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(files[0])
	lines := strings.Split(string(b), "\n")
	if len(lines) != 2 || !json.Valid([]byte(lines[0])) || !json.Valid([]byte(lines[1])) {
		t.Errorf("appended file is not two JSON lines:\n%s", b)
	}
}

// A closed port: every request fails. vLLM's warning and the reasons are
// printed, the exit status is 3, the saved file still parses, and the
// self-check does not blame the client for a run of milliseconds.
func TestAllFailedTellsWhyAndExits3(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	out, errOut, code := starter(t, "", "bench", "--base-url", "http://"+addr, "--model", llama, "--dataset-name", "random",
		"--random-input-len", "16", "--random-output-len", "2", "--num-prompts", "7", "--save-result", "--result-dir", dir)
	if code != exitAllFailed {
		t.Fatalf("exit %d, want %d: %s", code, exitAllFailed, errOut)
	}
	for _, want := range []string{
		"UserWarning: All requests failed. This is likely due to a misconfiguration on the benchmark arguments.",
		"Most frequent errors of the 7 failed requests:",
		"     7 x request failed: ",
		"connection refused",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "Successful requests:                     0") || strings.Contains(out, "WARNING: client CPU") || strings.Contains(out, "send lateness") {
		t.Errorf("stdout:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("result files %v", files)
	}
	if res := readStrict(t, files[0]); res["failed"] != float64(7) {
		t.Errorf("failed = %v", res["failed"])
	}
}

// A sharegpt run recomputes from its records after the dataset file is
// gone: recompute validates only what it reads.
func TestRecomputeShareGPTRunWithoutTheDatasetFile(t *testing.T) {
	url := startSim(t, vllmsim.Config{TTFT: 2 * time.Millisecond, ITL: time.Millisecond})
	data := filepath.Join(t.TempDir(), "sharegpt.json")
	var convs []map[string]any
	for i := range 12 {
		convs = append(convs, map[string]any{"id": i, "conversations": []map[string]string{
			{"from": "human", "value": strings.Repeat("Tell me about the weather in spring. ", 1+i%3)},
			{"from": "gpt", "value": "Spring weather is mild, with rain showers and longer days."},
		}})
	}
	b, _ := json.Marshal(convs)
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	records := t.TempDir()
	out, errOut, code := starter(t, "", "bench", "--base-url", url, "--model", llama, "--dataset-name", "sharegpt",
		"--dataset-path", data, "--num-prompts", "10", "--request-rate", "200", "--records-dir", records)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, errOut)
	}
	i := strings.Index(errOut, "--run ")
	if i < 0 {
		t.Fatalf("no run id in %s", errOut)
	}
	runID := strings.Fields(errOut[i+len("--run "):])[0]
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(starterBin, "recompute", "--run", runID)
	cmd.Env = append(os.Environ(), "BENCHMARK_RESULTS_DIRECTORY="+records)
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("recompute: %v\n%s", err, got)
	}
	table := out[strings.Index(out, "============ Serving Benchmark Result"):]
	if !strings.Contains(string(got), table[:strings.Index(table, "Benchmark duration")]) {
		t.Errorf("recomputed table differs:\n%s\nwant it to start like\n%s", got, table)
	}
}

// A model with no tokenizer at hand fails before anything is sent, with a
// message that names --tokenizer DIR and the file it needs.
func TestMissingTokenizerSaysWhatToGive(t *testing.T) {
	url := startSim(t, vllmsim.Config{Model: "Qwen/Qwen2.5-7B-Instruct"})
	_, errOut, code := starter(t, "", "bench", "--base-url", url, "--model", "Qwen/Qwen2.5-7B-Instruct", "--num-prompts", "3")
	if code == 0 || !strings.Contains(errOut, "--tokenizer DIR") || !strings.Contains(errOut, "tokenizer.json") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	_, errOut, code = starter(t, "", "bench", "--base-url", url, "--model", "Qwen/Qwen2.5-7B-Instruct", "--tokenizer", "Qwen/Qwen2.5-7B-Instruct", "--num-prompts", "3")
	if code == 0 || !strings.Contains(errOut, "--tokenizer DIR") || !strings.Contains(errOut, "tokenizer.json") {
		t.Errorf("a hub id as --tokenizer: exit %d: %s", code, errOut)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
