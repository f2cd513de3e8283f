package config_test

import (
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// Limits, fields that do not belong, given zeros and URL credentials, each
// refused naming the field with the figure or the fix.
func TestRulesRefuseWithTheFigure(t *testing.T) {
	for _, tc := range []struct {
		name, input, field, want string
	}{
		{"a trillion prompts", `{"num_prompts": 500000000000}`, "num_prompts", "500,000,000,000 prompts need ~32,000 GB of plan (64 bytes each) on every load worker; the most one run schedules is 2,147,483,647"},
		{"plan over max_plan_gib", `{"num_prompts": 200000000}`, "num_prompts", "200,000,000 prompts need ~12.8 GB of plan (64 bytes each)"},
		{"plan from duration", `{"request_rate": 5000, "duration_seconds": 172800}`, "duration_seconds", "864,000,000 prompts need"},
		{"run too long", `{"num_prompts": 1000000, "request_rate": 1}`, "request_rate", "1,000,000 prompts at 1.0 req/s take ~12 days"},
		{"second request months away", `{"num_prompts": 2, "request_rate": 1e-7}`, "request_rate", "one request every ~116 days"},
		{"duration too long", `{"request_rate": 1, "duration_seconds": 360000}`, "duration_seconds", "the most a run may take is max_run_hours 48"},
		{"ramp too long", `{"ramp_up_strategy": "linear", "ramp_up_start_rps": 0.001, "ramp_up_end_rps": 0.002, "num_prompts": 1000}`, "ramp_up_start_rps", "take ~"},
		{"raised limit is honoured", `{"num_prompts": 1000000, "request_rate": 1, "max_run_hours": 1}`, "request_rate", "max_run_hours 1 (1h00m)"},
		{"too many slices", `{"num_prompts": 432000, "request_rate": 10, "slice_seconds": 0.1}`, "slice_seconds", "432,000 slices"},
		{"huge prompt", `{"random_input_len": 2000000000}`, "random_input_len", "longer than any served model's context"},
		{"slice_seconds 0", `{"slice_seconds": 0}`, "slice_seconds", "leave it out for the default 300"},
		{"num_prompts 0", `{"num_prompts": 0}`, "num_prompts", "got 0"},
		{"port 0", `{"port": 0}`, "port", "got 0"},
		{"empty replica list", `{"replicas_base_urls": []}`, "replicas_base_urls", "is empty"},
		{"empty replica string", `{"replicas_base_urls": ","}`, "replicas_base_urls", "is empty"},
		{"sonnet field with random", `{"sonnet_input_len": 512}`, "sonnet_input_len", `dataset is "random" (the default); set dataset_name "sonnet"`},
		{"random field with sonnet", `{"dataset_name": "sonnet", "random_range_ratio": 0.5}`, "random_range_ratio", `belongs to dataset_name "random"`},
		{"dataset_path with random", `{"dataset_name": "random", "dataset_path": "/x.json"}`, "dataset_path", "reads no file"},
		{"logprobs with chat", `{"backend": "openai-chat", "logprobs": 5}`, "logprobs", "sends no logprobs"},
		{"burstiness with inf", `{"burstiness": 0.5}`, "burstiness", `request_rate is "inf" (the default)`},
		{"image without deploy", `{"image": "evil/miner:latest"}`, "image", `deploy is "existing" (the default)`},
		{"both duration and count", `{"num_prompts": 100, "request_rate": 10, "duration_seconds": 60}`, "duration_seconds", "give one of them"},
		{"credentials in base_url", `{"base_url": "http://alice:s3cret@10.0.0.5:8000"}`, "base_url", "OPENAI_API_KEY"},
		{"credentials in a replica", `{"replicas_base_urls": ["http://a:8000", "http://u:p@b:8000"]}`, "replicas_base_urls[1]", "user:password@"},
		{"URL without scheme", `{"base_url": "localhost:8000"}`, "base_url", `did you mean "http://localhost:8000"`},
		{"host with scheme", `{"host": "http://localhost"}`, "host", "base_url"},
		{"base_url and replicas", `{"base_url": "http://a:1", "replicas_base_urls": "http://b:1"}`, "base_url", "give replicas_base_urls alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.DecodeWorkflowInput([]byte(tc.input))
			got := problemsOf(t, err)
			if !strings.Contains(got[tc.field], tc.want) {
				t.Errorf("%s: want %q, got %q (all %v)", tc.field, tc.want, got[tc.field], got)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the password is echoed: %v", err)
			}
		})
	}
}

// A given 0 that means something is accepted: num_prompts 0 with a duration
// means "from the duration"; a seed, a cap or a temperature may be 0.
func TestMeaningfulZerosAreAccepted(t *testing.T) {
	for _, in := range []string{
		`{"num_prompts": 0, "request_rate": 2, "duration_seconds": 60}`,
		`{"seed": 0, "max_concurrency": 0, "random_prefix_len": 0, "temperature": 0}`,
		`{"num_prompts": 120, "request_rate": 2, "duration_seconds": 60}`,
	} {
		if _, err := config.DecodeWorkflowInput([]byte(in)); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}
