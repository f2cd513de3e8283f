package config_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/internal/badinput"
)

func problemsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	v, ok := config.AsValidationError(err)
	if !ok {
		t.Fatalf("want a *ValidationError, got %T %v", err, err)
	}
	out := map[string]string{}
	for _, p := range v.Problems {
		out[p.Field] += p.Problem + "|"
	}
	return out
}

// The workflow's decoder names the field, what it got, what it takes and
// how to write it, for every problem at once.
func TestDecodeWorkflowInputNamesEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        map[string]string // field -> substring of its problem
	}{
		{"quoted integer", `{"num_prompts": "500000"}`,
			map[string]string{"num_prompts": `got a string "500000", want an integer; write 500000 without quotes`}},
		{"fraction for an integer", `{"num_prompts": 1.5}`, map[string]string{"num_prompts": "want a whole number"}},
		{"quoted bool", `{"ignore_eos": "true"}`, map[string]string{"ignore_eos": "write true without quotes"}},
		{"number for a string", `{"model": 405}`, map[string]string{"model": "got a number 405, want a string"}},
		{"object for a list", `{"vllm_args": {"a": 1}}`, map[string]string{"vllm_args": "want a list of strings"}},
		{"string for an object", `{"extra_body": "min_tokens=2"}`, map[string]string{"extra_body": "want a JSON object"}},
		{"bad rate", `{"request_rate": "fast"}`, map[string]string{"request_rate": `"inf"`}},
		{"quoted float", `{"temperature": "0.5"}`, map[string]string{"temperature": "write 0.5 without quotes"}},
		{"several at once", `{"num_prompts": "x", "port": true, "backend": "tgi", "num_prompt": 3}`, map[string]string{
			"num_prompts": "want an integer", "port": "got a boolean true", "backend": "allowed", "num_prompt": `did you mean "num_prompts"`}},
		{"array", `[{"num_prompts": 10}]`, map[string]string{config.RequestField: "got an array"}},
		{"trailing text", `{"num_prompts": 10} {"num_prompts": 20}`, map[string]string{config.RequestField: "text after the JSON object at byte 20"}},
		{"trailing garbage", `{"num_prompts": 10}x`, map[string]string{config.RequestField: "after the JSON object"}},
		{"empty", "  \n", map[string]string{config.RequestField: "empty"}},
		{"null", "null", map[string]string{config.RequestField: "empty"}},
		{"string", `"num_prompts=10"`, map[string]string{config.RequestField: "must be a JSON object"}},
		{"broken JSON", `{"num_prompts": 10,}`, map[string]string{config.RequestField: "not valid JSON"}},
		{"zero prompts", `{"num_prompts": 0, "duration_seconds": -5}`, map[string]string{"duration_seconds": "positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.DecodeWorkflowInput([]byte(tc.input))
			got := problemsOf(t, err)
			for field, want := range tc.want {
				if !strings.Contains(got[field], want) {
					t.Errorf("%s: want a problem containing %q, got %q (all: %v)", field, want, got[field], got)
				}
			}
		})
	}
}

// A field whose value was not taken is reported once, for its type, not
// again for the default the checks then saw.
func TestDecodeProblemHasNoFollowOn(t *testing.T) {
	_, err := config.DecodeWorkflowInput([]byte(`{"slice_seconds": "5m"}`))
	got := problemsOf(t, err)
	if n := strings.Count(got["slice_seconds"], "|"); n != 1 {
		t.Errorf("slice_seconds reported %d times: %q", n, got["slice_seconds"])
	}
}

func TestDecodeWorkflowInputAcceptsAGoodRequest(t *testing.T) {
	r, err := config.DecodeWorkflowInput([]byte(`{"host": "localhost", "port": 8000, "num_prompts": 1e3, "request_rate": "12",
	  "model": "m", "dataset_name": "sonnet", "dataset_path": "app/sonnet.txt", "sonnet_output_len": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.NumPrompts != 1000 || float64(*r.RequestRate) != 12 || r.Backend != "openai" || r.SonnetInputLen != 550 {
		t.Errorf("not decoded with defaults: %+v", r)
	}
}

// Determinism: the same input gives the same problems in the same order
// (the workflow replays it).
func TestDecodeWorkflowInputIsDeterministic(t *testing.T) {
	in := []byte(`{"zz": 1, "aa": 2, "num_prompts": "x", "port": "y", "backend": "b", "seed": -1, "mm": 3}`)
	_, first := config.DecodeWorkflowInput(in)
	for range 20 {
		_, err := config.DecodeWorkflowInput(in)
		if err.Error() != first.Error() {
			t.Fatalf("differs:\n%v\n%v", err, first)
		}
	}
}

// Temporal decodes the old workflow signature with json.Unmarshal: the
// problems it finds reach Validate instead of failing the workflow task.
func TestUnmarshalKeepsProblemsForValidate(t *testing.T) {
	var r config.Request
	if err := json.Unmarshal([]byte(`{"num_prompts": "10", "request_rate": -1}`), &r); err != nil {
		t.Fatalf("decoding must not fail the task: %v", err)
	}
	got := problemsOf(t, r.Defaults().ValidateFields())
	if !strings.Contains(got["num_prompts"], "without quotes") || !strings.Contains(got["request_rate"], "positive") {
		t.Errorf("problems %v", got)
	}
	var empty config.Request
	if err := json.Unmarshal([]byte(`null`), &empty); err != nil {
		t.Fatal(err)
	}
	if got := problemsOf(t, empty.Defaults().Validate()); got[config.RequestField] == "" {
		t.Errorf("an empty request (an empty config file) must be refused: %v", got)
	}
}

// What `starter start` sends (a request after Defaults, as JSON) passes the
// workflow's decoder: nothing Defaults fills is refused as not belonging,
// given zero, or conflicting.
func TestDefaultedRequestsPassTheWorkflowDecoder(t *testing.T) {
	rate := config.Rate(12)
	for _, r := range []config.Request{
		{},
		{DatasetName: "sonnet", Backend: "openai-chat", Model: "m", NumPrompts: 10, RequestRate: &rate},
		{DatasetName: "sharegpt", DatasetPath: "/data/sg.json", SharegptOutputLen: 5},
		{RequestRate: &rate, DurationSeconds: 11 * 3600, ReplicasBaseURLs: config.List{"http://a:8000", "http://b:8000"}},
		{Deploy: "kubernetes", GPUType: "H100", ReplicaCount: 2, Namespace: "bench", Image: "vllm/vllm-openai:v0.10.0", VLLMArgs: []string{"--max-model-len=8192"}},
		{RampUpStrategy: "linear", RampUpStartRPS: 1, RampUpEndRPS: 10, NumPrompts: 100},
	} {
		b, err := json.Marshal(r.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.DecodeWorkflowInput(b); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// The entry tests' cases, as the workflow's first task decodes them: each
// is refused naming its field (the ones only a server shows are left to
// the preflight and the first activity).
func TestDecodeWorkflowInputRefusesEveryEntryCase(t *testing.T) {
	n := 0
	for _, c := range badinput.Cases {
		if c.Servers {
			continue
		}
		_, err := config.DecodeWorkflowInput([]byte(c.Fill("http://127.0.0.1:8000", "http://127.0.0.1:1")))
		if got := problemsOf(t, err); got[c.Field] == "" {
			t.Errorf("%s: %s not named: %v", c.Name, c.Field, got)
		}
		n++
	}
	t.Logf("%d cases refused", n)
}

// Workflows started before Defaults filled only the chosen dataset's
// lengths carry every dataset's defaults; replaying their first task must
// still validate.
func TestInputsOfEarlierStartersStillValidate(t *testing.T) {
	for _, in := range []string{
		`{"host":"127.0.0.1","port":8000,"num_prompts":60,"request_rate":12,"backend":"openai-chat","endpoint":"/v1/chat/completions","dataset_name":"sonnet","sonnet_input_len":512,"sonnet_prefix_len":2,"sonnet_output_len":128,"burstiness":1,"random_input_len":1024,"random_output_len":128,"percentile_metrics":["ttft","tpot","itl"],"metric_percentiles":["99"],"stall_timeout_seconds":300,"request_timeout_seconds":21600,"slice_seconds":300,"continue_as_new_every_slices":48,"deploy":"existing","ready_timeout_seconds":3600,"replica_gone_limit_seconds":600}`,
		`{"num_prompts":60,"dataset_name":"random","sonnet_input_len":550,"sonnet_prefix_len":200,"sonnet_output_len":150,"random_input_len":1024,"random_output_len":128,"replicas_base_urls":["http://replica-0:8000"],"hf_token_secret":"hf-token"}`,
	} {
		if _, err := config.DecodeWorkflowInput([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}
