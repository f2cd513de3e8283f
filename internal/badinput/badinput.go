// Package badinput lists plausible mistakes in a benchmark request, each
// with the field its refusal must name. The entry tests send every one
// through `starter bench`, `starter start`, POST /start-load and `temporal
// workflow start --input`, and check that it is refused at once, naming the
// field, before anything runs.
package badinput

import "strings"

// Case is one bad request.
type Case struct {
	Name string
	// JSON is the request; SERVER stands for the base URL of a simulator
	// that is up, DOWN for one where nothing listens.
	JSON string
	// Field is the field the refusal must name.
	Field string
	// Text is set when the mistake is in the JSON text itself (an array,
	// trailing text, broken syntax): a --config file reads YAML and lists,
	// so these go only through the entries that take one JSON object.
	Text bool
	// Servers is set when only asking the server shows the mistake (down,
	// another model, too long for its context): entries that check the
	// servers refuse it; a worker-side validation cannot.
	Servers bool
}

// Fill puts the servers' URLs into the JSON.
func (c Case) Fill(server, down string) string {
	return strings.NewReplacer("SERVER", server, "DOWN", down).Replace(c.JSON)
}

// Cases are the mistakes, each on an otherwise valid request.
var Cases = []Case{
	{Name: "array instead of object", JSON: `[{"base_url": "SERVER", "num_prompts": 5}]`, Field: "request", Text: true},
	{Name: "trailing text", JSON: `{"base_url": "SERVER", "num_prompts": 5} {"num_prompts": 6}`, Field: "request", Text: true},
	{Name: "trailing comma", JSON: `{"base_url": "SERVER", "num_prompts": 5,}`, Field: "request", Text: true},
	{Name: "a string instead of an object", JSON: `"base_url=SERVER"`, Field: "request"},
	{Name: "quoted number", JSON: `{"base_url": "SERVER", "num_prompts": "500000"}`, Field: "num_prompts"},
	{Name: "num_prompts 0", JSON: `{"base_url": "SERVER", "num_prompts": 0}`, Field: "num_prompts"},
	{Name: "num_prompts 1e12", JSON: `{"base_url": "SERVER", "num_prompts": 1000000000000}`, Field: "num_prompts"},
	{Name: "plan larger than a worker holds", JSON: `{"base_url": "SERVER", "num_prompts": 300000000, "request_rate": 5000}`, Field: "num_prompts"},
	{Name: "negative rate", JSON: `{"base_url": "SERVER", "num_prompts": 5, "request_rate": -1}`, Field: "request_rate"},
	{Name: "rate as a word", JSON: `{"base_url": "SERVER", "num_prompts": 5, "request_rate": "fast"}`, Field: "request_rate"},
	{Name: "second request months away", JSON: `{"base_url": "SERVER", "num_prompts": 2, "request_rate": 1e-7}`, Field: "request_rate"},
	{Name: "run longer than max_run_hours", JSON: `{"base_url": "SERVER", "request_rate": 1, "duration_seconds": 1000000}`, Field: "duration_seconds"},
	{Name: "slice_seconds 0", JSON: `{"base_url": "SERVER", "num_prompts": 5, "slice_seconds": 0}`, Field: "slice_seconds"},
	{Name: "unknown field", JSON: `{"base_url": "SERVER", "num_prompt": 5}`, Field: "num_prompt"},
	{Name: "unknown backend", JSON: `{"base_url": "SERVER", "num_prompts": 5, "backend": "tgi"}`, Field: "backend"},
	{Name: "chat endpoint with completions backend", JSON: `{"base_url": "SERVER", "num_prompts": 5, "endpoint": "/v1/chat/completions"}`, Field: "endpoint"},
	{Name: "misspelt dataset", JSON: `{"base_url": "SERVER", "num_prompts": 5, "dataset_name": "sonet"}`, Field: "dataset_name"},
	{Name: "sonnet lengths with random", JSON: `{"base_url": "SERVER", "num_prompts": 5, "sonnet_input_len": 512}`, Field: "sonnet_input_len"},
	{Name: "random lengths with sonnet", JSON: `{"base_url": "SERVER", "num_prompts": 5, "dataset_name": "sonnet", "random_input_len": 64}`, Field: "random_input_len"},
	{Name: "sharegpt without a file", JSON: `{"base_url": "SERVER", "num_prompts": 5, "dataset_name": "sharegpt"}`, Field: "dataset_path"},
	{Name: "URL without scheme", JSON: `{"base_url": "localhost:8000", "num_prompts": 5}`, Field: "base_url"},
	{Name: "credentials in base_url", JSON: `{"base_url": "http://bench:hunter2@127.0.0.1:8000", "num_prompts": 5}`, Field: "base_url"},
	{Name: "empty replica list", JSON: `{"base_url": "SERVER", "num_prompts": 5, "replicas_base_urls": []}`, Field: "replicas_base_urls"},
	{Name: "credentials in a replica", JSON: `{"replicas_base_urls": ["SERVER", "http://u:p@127.0.0.1:8000"], "num_prompts": 5}`, Field: "replicas_base_urls[1]"},
	{Name: "port out of range", JSON: `{"host": "127.0.0.1", "port": 70000, "num_prompts": 5}`, Field: "port"},
	{Name: "bool as a string", JSON: `{"base_url": "SERVER", "num_prompts": 5, "ignore_eos": "yes"}`, Field: "ignore_eos"},
	{Name: "negative temperature", JSON: `{"base_url": "SERVER", "num_prompts": 5, "temperature": -1}`, Field: "temperature"},
	{Name: "goodput without a number", JSON: `{"base_url": "SERVER", "num_prompts": 5, "goodput": "ttft:soon"}`, Field: "goodput"},
	{Name: "image without a deployment", JSON: `{"base_url": "SERVER", "num_prompts": 5, "image": "vllm/vllm-openai:latest"}`, Field: "image"},
	{Name: "prompt longer than any context", JSON: `{"base_url": "SERVER", "num_prompts": 5, "random_input_len": 2000000000}`, Field: "random_input_len"},
	{Name: "percentile over 100", JSON: `{"base_url": "SERVER", "num_prompts": 5, "metric_percentiles": "99,101"}`, Field: "metric_percentiles"},
	{Name: "extra_body not an object", JSON: `{"base_url": "SERVER", "num_prompts": 5, "extra_body": "min_tokens=2"}`, Field: "extra_body"},
	{Name: "unknown ramp", JSON: `{"base_url": "SERVER", "num_prompts": 5, "ramp_up_strategy": "sigmoid", "ramp_up_start_rps": 1, "ramp_up_end_rps": 2}`, Field: "ramp_up_strategy"},
	{Name: "burstiness with an unlimited rate", JSON: `{"base_url": "SERVER", "num_prompts": 5, "burstiness": 0.5}`, Field: "burstiness"},
	{Name: "server down", JSON: `{"base_url": "DOWN", "num_prompts": 5}`, Field: "base_url", Servers: true},
	{Name: "one replica down", JSON: `{"replicas_base_urls": ["SERVER", "DOWN"], "num_prompts": 5}`, Field: "replicas_base_urls[1]", Servers: true},
	{Name: "model not served", JSON: `{"base_url": "SERVER", "num_prompts": 5, "model": "Qwen/Qwen3-8B"}`, Field: "model", Servers: true},
	{Name: "prompts longer than the server's context", JSON: `{"base_url": "SERVER", "num_prompts": 5, "random_input_len": 200000}`, Field: "random_input_len", Servers: true},
}
