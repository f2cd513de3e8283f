package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
)

var starterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "starter-test-")
	if err != nil {
		panic(err)
	}
	starterBin = filepath.Join(dir, "starter")
	if out, err := exec.Command("go", "build", "-o", starterBin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func starter(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, nil, stdin, args...)
}

// run runs the built command with env added to this process's and stdin;
// a command that hangs is killed after a minute.
func run(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, starterBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

const golden = "../metrics/testdata/golden"

// recompute on a golden case prints exactly what vLLM printed and writes
// the JSON vLLM saved, byte for byte, under vLLM's file name.
func TestRecomputeGoldenCases(t *testing.T) {
	cases, _ := filepath.Glob(filepath.Join(golden, "cases", "*.input.json"))
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".input.json")
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out, errOut, code := starter(t, "", "recompute", "--golden", c, "--result-dir", dir, "--date", "20260102-030405")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			want, err := os.ReadFile(filepath.Join(golden, "expected", name+".expected_stdout.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("stdout differs from vLLM's:\n--- got\n%s\n--- want\n%s", out, want)
			}
			var exp struct {
				Name string `json:"saved_result_file_name"`
			}
			b, _ := os.ReadFile(filepath.Join(golden, "expected", name+".expected.json"))
			if err := json.Unmarshal(b, &exp); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, exp.Name))
			if err != nil {
				t.Fatalf("no file under vLLM's name %s: %v", exp.Name, err)
			}
			saved, _ := os.ReadFile(filepath.Join(golden, "expected", "saved_results", exp.Name))
			if !bytes.Equal(got, saved) {
				t.Errorf("saved JSON differs:\n%s\nwant\n%s", got, saved)
			}
		})
	}
}

func TestBadInputNamesTheFieldsAndExits2(t *testing.T) {
	_, errOut, code := starter(t, "", "bench", "--request-rate", "-3", "--backend", "tgi", "--dataset-name", "sharegpt", "--goodput", "ttft:soon")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{"request_rate:", "backend:", "dataset_path:", "goodput:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name %s:\n%s", want, errOut)
		}
	}
	_, errOut, code = starter(t, "", "start", "--config", "/nonexistent.json")
	if code == 0 || !strings.Contains(errOut, "/nonexistent.json") {
		t.Errorf("start with a missing config: exit %d, %s", code, errOut)
	}
}

// The old /start-load payload as --config runs against the simulator; the
// table is printed and vLLM's JSON saved under vLLM's file name.
func TestBenchOldPayloadAgainstSimulator(t *testing.T) {
	sim, err := vllmsim.New(vllmsim.Config{Model: "meta-llama/Llama-3.1-405B-Instruct-FP8", TTFT: 10 * time.Millisecond, ITL: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	u := strings.TrimPrefix(srv.URL, "http://")
	host, port, _ := strings.Cut(u, ":")
	payload := `{"host": "` + host + `", "port": ` + port + `, "num_prompts": 30, "request_rate": 50,
	 "model": "meta-llama/Llama-3.1-405B-Instruct-FP8", "backend": "openai-chat",
	 "endpoint": "/v1/chat/completions", "dataset_path": "app/sonnet.txt",
	 "dataset_name": "sonnet", "sonnet_input_len": 512, "sonnet_prefix_len": 128,
	 "sonnet_output_len": 2}`
	cfg := filepath.Join(t.TempDir(), "payload.json")
	if err := os.WriteFile(cfg, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, errOut, code := starter(t, "", "bench", "--config", cfg, "--save-result", "--result-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Traffic request rate: 50.0", "Successful requests:                     30", "Mean TTFT (ms):"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "openai-chat-50.0qps-Llama-3.1-405B-Instruct-FP8-*.json"))
	if len(files) != 1 {
		t.Fatalf("result files %v", files)
	}
	var res map[string]any
	b, _ := os.ReadFile(files[0])
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res["completed"] != float64(30) || res["run_accounting"] == nil || res["client_health"] == nil {
		t.Errorf("result JSON: %v", res)
	}
}

func TestTokenize(t *testing.T) {
	out, errOut, code := starter(t, "Hello world", "tokenize")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.TrimSpace(out) != "[9906,1917]" {
		t.Errorf("ids %s", out)
	}
	out, _, _ = starter(t, "Hello world", "tokenize", "--chat")
	if !strings.HasPrefix(out, "[128000,128006,882,128007,271,9906,1917,128009,128006,78191,128007,271]") {
		t.Errorf("chat ids %s", out)
	}
}
