package config_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
)

const oldPayload = `{"host": "localhost", "port": 8000, "num_prompts": 1000, "request_rate": 12,
 "model": "meta-llama/Llama-3.1-405B-Instruct-FP8", "backend": "openai-chat",
 "endpoint": "/v1/chat/completions", "dataset_path": "app/sonnet.txt",
 "dataset_name": "sonnet", "sonnet_input_len": 512, "sonnet_prefix_len": 128,
 "sonnet_output_len": 2}`

func TestOldStartLoadPayloadIsValid(t *testing.T) {
	reqs, err := config.Parse([]byte(oldPayload))
	if err != nil {
		t.Fatal(err)
	}
	r := reqs[0].Defaults()
	if err := r.Validate(); err != nil {
		t.Fatalf("old payload rejected: %v", err)
	}
	if got := r.URL(); got != "http://localhost:8000/v1/chat/completions" {
		t.Errorf("URL = %q", got)
	}
	if float64(*r.RequestRate) != 12 || r.NumPrompts != 1000 || r.SonnetPrefixLen != 128 {
		t.Errorf("fields not carried: %+v", r)
	}
	if !config.IsBundledSonnet(r.DatasetPath) {
		t.Errorf("app/sonnet.txt must resolve to the bundled sonnet.txt")
	}
}

func TestDefaultsAreVLLMs(t *testing.T) {
	r := config.Request{}.Defaults()
	if r.Backend != "openai" || r.Endpoint != "/v1/completions" || r.DatasetName != "random" ||
		r.NumPrompts != 1000 || !r.RequestRate.IsInf() || *r.Burstiness != 1 || r.Seed != 0 ||
		r.SonnetInputLen != 0 || r.RandomInputLen != 1024 || r.RandomOutputLen != 128 || r.PercentileMetrics.String() != "ttft,tpot,itl" ||
		r.MetricPercentiles.String() != "99" || r.URL() != "http://127.0.0.1:8000/v1/completions" {
		t.Errorf("defaults differ from vLLM's: %+v", r)
	}
	// Only the chosen dataset's lengths are filled: another's would be
	// refused as not belonging when the request is decoded again.
	s := config.Request{DatasetName: "sonnet"}.Defaults()
	if s.SonnetInputLen != 550 || s.SonnetOutputLen != 150 || s.SonnetPrefixLen != 200 || s.RandomInputLen != 0 {
		t.Errorf("sonnet defaults differ from vLLM's: %+v", s)
	}
}

func TestValidationListsEveryProblemWithFieldAndFix(t *testing.T) {
	body := `{"request_rate": -1, "backend": "tgi", "dataset_name": "sharegpt", "dataset_path": "/nope/sg.json",
	  "goodput": ["ttft:fast", "latency:5"], "percentile_metrics": "ttft,foo", "metric_percentiles": "99,abc",
	  "max_concurrency": -2, "burstiness": 0, "num_prompt": 10, "port": 70000}`
	r, err := config.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Defaults().Validate()
	v, ok := config.AsValidationError(err)
	if !ok {
		t.Fatalf("want a ValidationError, got %v", err)
	}
	fields := map[string]string{}
	for _, p := range v.Problems {
		fields[p.Field] += p.Problem + "|"
	}
	for field, want := range map[string]string{
		"request_rate":       "positive",
		"backend":            `"openai", "vllm", "openai-chat"`,
		"dataset_path":       "/nope/sg.json",
		"goodput":            "milliseconds",
		"percentile_metrics": `"foo"`,
		"metric_percentiles": `"abc"`,
		"max_concurrency":    "cap",
		"burstiness":         "Poisson",
		"num_prompt":         `did you mean "num_prompts"`,
		"port":               "1..65535",
	} {
		if !strings.Contains(fields[field], want) {
			t.Errorf("field %s: want a problem mentioning %q, got %q", field, want, fields[field])
		}
	}
	if !strings.Contains(fields["goodput"], `unknown SLO "latency"`) {
		t.Errorf("goodput: unknown SLO name not reported: %q", fields["goodput"])
	}
}

func TestEndpointMustFitBackend(t *testing.T) {
	for _, tc := range []struct {
		backend, endpoint string
		ok                bool
	}{
		{"openai-chat", "/v1/chat/completions", true},
		{"openai-chat", "/v1/completions", false},
		{"openai", "/v1/completions", true},
		{"vllm", "/v1/chat/completions", false},
		{"openai", "/v1/embeddings", false},
	} {
		r := config.Request{Backend: tc.backend, Endpoint: tc.endpoint}.Defaults()
		err := r.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: err = %v, want ok=%v", tc.backend, tc.endpoint, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "endpoint:") {
			t.Errorf("error does not name the endpoint field: %v", err)
		}
	}
}

func TestRateJSONRoundTrip(t *testing.T) {
	var r config.Request
	if err := json.Unmarshal([]byte(`{"request_rate": "inf"}`), &r); err != nil {
		t.Fatal(err)
	}
	if !r.RequestRate.IsInf() {
		t.Fatalf("want inf")
	}
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"request_rate":"inf"`) {
		t.Errorf("inf must marshal as the string \"inf\": %s", b)
	}
	for rate, want := range map[float64]string{12: "12.0", 12.5: "12.5", 0.25: "0.25"} {
		if got := config.Rate(rate).String(); got != want {
			t.Errorf("Rate(%v) = %q, want %q (Python str)", rate, got, want)
		}
	}
}

func TestDurationGivesNumPrompts(t *testing.T) {
	rate := config.Rate(12)
	r := config.Request{RequestRate: &rate, DurationSeconds: 11 * 3600}.Defaults()
	if r.NumPrompts != 475200 {
		t.Errorf("num_prompts = %d, want 12 x 39600", r.NumPrompts)
	}
	inf := config.Inf
	err := config.Request{RequestRate: &inf, DurationSeconds: 60}.Defaults().Validate()
	if err == nil || !strings.Contains(err.Error(), "duration_seconds") {
		t.Errorf("duration with an infinite rate must be rejected naming duration_seconds, got %v", err)
	}
}

func TestVLLMCommandLineParses(t *testing.T) {
	args := strings.Fields(`--backend openai-chat --base-url http://10.0.0.5:8000 --endpoint /v1/chat/completions
	  --model meta-llama/Llama-3.1-8B-Instruct --dataset-name sonnet --num-prompts 50 --request-rate 20
	  --burstiness 0.5 --max-concurrency 32 --seed 7 --sonnet-input-len 512 --sonnet-prefix-len 128
	  --sonnet-output-len 2 --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99
	  --goodput ttft:500 tpot:50 --metadata gpu=H100 tp=8 --label stress --ignore-eos --trust-remote-code
	  --ready-check-timeout-sec 0 --temperature 0 --extra-body {"min_tokens":2}`)
	norm := config.NormalizeArgs(args)
	var r config.Request
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	config.BindFlags(fs, &r)
	if err := fs.Parse(norm); err != nil {
		t.Fatal(err)
	}
	r = r.Defaults()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Goodput.String() != "ttft:500 tpot:50" || r.Metadata.String() != "gpu=H100 tp=8" ||
		*r.Burstiness != 0.5 || *r.Temperature != 0 || r.ExtraBody["min_tokens"] != float64(2) ||
		r.URL() != "http://10.0.0.5:8000/v1/chat/completions" || r.Seed != 7 || !r.IgnoreEOS {
		t.Errorf("flags not applied: %+v", r)
	}
	if got := r.GoodputSLOs(); got["ttft"] != 500 || got["tpot"] != 50 {
		t.Errorf("GoodputSLOs = %v", got)
	}
	if got := r.Percentiles(); len(got) != 3 || got[2] != 99 {
		t.Errorf("Percentiles = %v", got)
	}
}

func TestYAMLListOfSpecs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "specs.yaml")
	yml := "benchmarkSpecs:\n- request_rate: 12\n  num_prompts: 500000\n  dataset_name: sonnet\n- request_rate: inf\n  num_prompts: 10\n"
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	reqs, err := config.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || float64(*reqs[0].RequestRate) != 12 || !reqs[1].RequestRate.IsInf() || reqs[0].NumPrompts != 500000 {
		t.Errorf("specs = %+v", reqs)
	}
}

func TestRampUpRules(t *testing.T) {
	rate := config.Rate(5)
	r := config.Request{RampUpStrategy: "exponential", RampUpStartRPS: 0, RampUpEndRPS: 10, RequestRate: &rate}.Defaults()
	err := r.Validate()
	if err == nil || !strings.Contains(err.Error(), "request_rate: must be left at \"inf\"") || !strings.Contains(err.Error(), "ramp_up_start_rps") {
		t.Errorf("got %v", err)
	}
}

// The examples the README points to are requests the tool takes.
func TestExamplesAreValidRequests(t *testing.T) {
	files, err := filepath.Glob("../examples/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		reqs, err := config.Parse(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, r := range reqs {
			if err := r.Defaults().Validate(); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}
