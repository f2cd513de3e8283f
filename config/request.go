// Package config holds the benchmark request: one struct, JSON-tagged in
// snake_case, that accepts the old /start-load payload unchanged, vLLM's
// `bench serve` options, and the stress-test and deployment settings. It
// fills vLLM's defaults and validates everything before anything runs.
package config

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Request describes one benchmark or stress-test run. Zero values mean
// "vLLM's default" and are filled by Defaults.
type Request struct {
	// The old /start-load payload.
	Host            string `json:"host,omitempty"`
	Port            int    `json:"port,omitempty"`
	NumPrompts      int    `json:"num_prompts,omitempty"`
	RequestRate     *Rate  `json:"request_rate,omitempty"`
	Model           string `json:"model,omitempty"`
	Backend         string `json:"backend,omitempty"`
	Endpoint        string `json:"endpoint,omitempty"`
	DatasetPath     string `json:"dataset_path,omitempty"`
	DatasetName     string `json:"dataset_name,omitempty"`
	SonnetInputLen  int    `json:"sonnet_input_len,omitempty"`
	SonnetPrefixLen int    `json:"sonnet_prefix_len,omitempty"`
	SonnetOutputLen int    `json:"sonnet_output_len,omitempty"`

	// vLLM bench serve options.
	BaseURL           string         `json:"base_url,omitempty"`
	ServedModelName   string         `json:"served_model_name,omitempty"`
	Tokenizer         string         `json:"tokenizer,omitempty"`
	Burstiness        *float64       `json:"burstiness,omitempty"`
	MaxConcurrency    int            `json:"max_concurrency,omitempty"`
	Seed              int64          `json:"seed,omitempty"`
	IgnoreEOS         bool           `json:"ignore_eos,omitempty"`
	Temperature       *float64       `json:"temperature,omitempty"`
	TopP              *float64       `json:"top_p,omitempty"`
	TopK              *int           `json:"top_k,omitempty"`
	MinP              *float64       `json:"min_p,omitempty"`
	FrequencyPenalty  *float64       `json:"frequency_penalty,omitempty"`
	PresencePenalty   *float64       `json:"presence_penalty,omitempty"`
	RepetitionPenalty *float64       `json:"repetition_penalty,omitempty"`
	Logprobs          *int           `json:"logprobs,omitempty"`
	ExtraBody         map[string]any `json:"extra_body,omitempty"`
	PercentileMetrics List           `json:"percentile_metrics,omitempty"`
	MetricPercentiles List           `json:"metric_percentiles,omitempty"`
	Goodput           Pairs          `json:"goodput,omitempty"`
	Label             string         `json:"label,omitempty"`
	Metadata          Pairs          `json:"metadata,omitempty"`
	RampUpStrategy    string         `json:"ramp_up_strategy,omitempty"`
	RampUpStartRPS    float64        `json:"ramp_up_start_rps,omitempty"`
	RampUpEndRPS      float64        `json:"ramp_up_end_rps,omitempty"`
	RandomInputLen    int            `json:"random_input_len,omitempty"`
	RandomOutputLen   int            `json:"random_output_len,omitempty"`
	RandomPrefixLen   int            `json:"random_prefix_len,omitempty"`
	RandomRangeRatio  float64        `json:"random_range_ratio,omitempty"`
	SharegptOutputLen int            `json:"sharegpt_output_len,omitempty"`
	SaveDetailed      bool           `json:"save_detailed,omitempty"`
	RequestIDPrefix   string         `json:"request_id_prefix,omitempty"`

	// Client limits.
	StallTimeoutSeconds   float64 `json:"stall_timeout_seconds,omitempty"`
	RequestTimeoutSeconds float64 `json:"request_timeout_seconds,omitempty"`

	// Limits that protect the machine and the run; a user may raise them.
	MaxRunHours float64 `json:"max_run_hours,omitempty"`
	MaxPlanGiB  float64 `json:"max_plan_gib,omitempty"`

	// The durable stress test.
	DurationSeconds   float64 `json:"duration_seconds,omitempty"`
	SliceSeconds      float64 `json:"slice_seconds,omitempty"`
	ReplicasBaseURLs  List    `json:"replicas_base_urls,omitempty"`
	ContinueAsNewEach int     `json:"continue_as_new_every_slices,omitempty"`

	// Where the servers come from: "existing" (default: base_url, host/port
	// or replicas_base_urls) or "kubernetes" (deployed for the run).
	Deploy              string            `json:"deploy,omitempty"`
	ReplicaCount        int               `json:"replica_count,omitempty"`
	GPUType             string            `json:"gpu_type,omitempty"`
	Namespace           string            `json:"namespace,omitempty"`
	Image               string            `json:"image,omitempty"`
	VLLMArgs            []string          `json:"vllm_args,omitempty"`
	HFTokenSecret       string            `json:"hf_token_secret,omitempty"`
	ModelStoragePVC     string            `json:"model_storage_pvc,omitempty"`
	NodeSelector        map[string]string `json:"node_selector,omitempty"`
	KeepDeployment      bool              `json:"keep_deployment,omitempty"`
	ReadyTimeoutSeconds float64           `json:"ready_timeout_seconds,omitempty"`
	// How long a replica may be gone (restarting) during the run before the
	// run fails.
	ReplicaGoneLimitSeconds float64 `json:"replica_gone_limit_seconds,omitempty"`

	// Kubernetes pod sizing and the image's vLLM release (deploy
	// "kubernetes"; checked in kubernetes.go).
	VLLMVersion string `json:"vllm_version,omitempty"`
	CPU         string `json:"cpu,omitempty"`
	Memory      string `json:"memory,omitempty"`
	ShmSize     string `json:"shm_size,omitempty"`

	// What decoding saw, for Validate: names it could not take, values of
	// the wrong type, and the fields that were given (JSON or flags).
	unknownFields  []string
	decodeProblems []FieldError
	given          []string
	givenZero      []string
}

// Known values.
var (
	Backends          = []string{"openai", "vllm", "openai-chat"}
	DatasetNames      = []string{"sonnet", "random", "sharegpt"}
	PercentileMetrics = []string{"ttft", "tpot", "itl", "e2el"}
	GoodputMetrics    = []string{"ttft", "tpot", "e2el"}
	RampUpStrategies  = []string{"linear", "exponential"}
)

// Defaults returns a copy with vLLM's defaults (v0.20) filled in where the
// request left a field unset.
func (r Request) Defaults() Request {
	if r.Host == "" {
		r.Host = "127.0.0.1"
	}
	if r.Port == 0 {
		r.Port = 8000
	}
	if r.Backend == "" {
		r.Backend = "openai"
	}
	if r.Endpoint == "" {
		r.Endpoint = "/v1/completions"
		if r.Backend == "openai-chat" {
			r.Endpoint = "/v1/chat/completions"
		}
	}
	if r.DatasetName == "" {
		r.DatasetName = "random"
	}
	if r.NumPrompts == 0 && r.DurationSeconds == 0 {
		r.NumPrompts = 1000
	}
	if r.RequestRate == nil {
		inf := Inf
		r.RequestRate = &inf
	}
	if r.Burstiness == nil {
		one := 1.0
		r.Burstiness = &one
	}
	// Only the chosen dataset's lengths: another dataset's would be
	// refused as not belonging when the request is decoded again.
	switch r.DatasetName {
	case "sonnet":
		if r.SonnetInputLen == 0 {
			r.SonnetInputLen = 550
		}
		if r.SonnetOutputLen == 0 {
			r.SonnetOutputLen = 150
		}
		if r.SonnetPrefixLen == 0 {
			r.SonnetPrefixLen = 200
		}
	case "random":
		if r.RandomInputLen == 0 {
			r.RandomInputLen = 1024
		}
		if r.RandomOutputLen == 0 {
			r.RandomOutputLen = 128
		}
	}
	if len(r.PercentileMetrics) == 0 {
		r.PercentileMetrics = List{"ttft", "tpot", "itl"}
	}
	if len(r.MetricPercentiles) == 0 {
		r.MetricPercentiles = List{"99"}
	}
	if r.SliceSeconds == 0 {
		r.SliceSeconds = 300
	}
	if r.StallTimeoutSeconds == 0 {
		r.StallTimeoutSeconds = 300
	}
	if r.RequestTimeoutSeconds == 0 {
		r.RequestTimeoutSeconds = 6 * 3600
	}
	if r.ContinueAsNewEach == 0 {
		// Continuing as new waits for the slices in flight, so the next one
		// starts late: the 139-slice, 11.5-hour shape (~1,600 events) runs in
		// one history, and longer runs continue when the server suggests it.
		r.ContinueAsNewEach = 1000
	}
	if r.Deploy == "" {
		r.Deploy = "existing"
	}
	if r.ReadyTimeoutSeconds == 0 {
		r.ReadyTimeoutSeconds = 3600
	}
	if r.ReplicaGoneLimitSeconds == 0 {
		r.ReplicaGoneLimitSeconds = 600
	}
	if r.MaxRunHours == 0 {
		r.MaxRunHours = DefaultMaxRunHours
	}
	if r.MaxPlanGiB == 0 {
		r.MaxPlanGiB = DefaultMaxPlanGiB
	}
	// Past MaxPrompts the count is refused by Validate, naming duration_seconds.
	if n := float64(*r.RequestRate) * r.DurationSeconds; r.DurationSeconds > 0 && r.NumPrompts == 0 && !r.RequestRate.IsInf() && n <= MaxPrompts {
		r.NumPrompts = int(math.Round(n))
	}
	return r
}

// URL is the endpoint URL vLLM would use: base_url + endpoint, else
// http://host:port + endpoint (IPv6 hosts bracketed).
func (r Request) URL() string {
	if r.BaseURL != "" {
		return strings.TrimRight(r.BaseURL, "/") + r.Endpoint
	}
	return "http://" + net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) + r.Endpoint
}

// ServerBaseURL is the server's root (for /v1/models, /health, /metrics).
func (r Request) ServerBaseURL() string {
	if r.BaseURL != "" {
		return strings.TrimRight(r.BaseURL, "/")
	}
	return "http://" + net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
}

// ServedModel is the name sent in request bodies.
func (r Request) ServedModel() string {
	if r.ServedModelName != "" {
		return r.ServedModelName
	}
	return r.Model
}

// Percentiles parses metric_percentiles (validated by Validate).
func (r Request) Percentiles() []float64 {
	out := make([]float64, 0, len(r.MetricPercentiles))
	for _, s := range r.MetricPercentiles {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// GoodputSLOs parses goodput into metric -> milliseconds (validated by
// Validate); nil when no goodput was asked for.
func (r Request) GoodputSLOs() map[string]float64 {
	if len(r.Goodput) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, item := range r.Goodput {
		name, val, _ := cutPair(item, ":=")
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// MetadataPairs splits metadata items at the first '=' with both sides
// stripped, in the order given.
func (r Request) MetadataPairs() [][2]string {
	out := make([][2]string, 0, len(r.Metadata))
	for _, item := range r.Metadata {
		k, v, _ := strings.Cut(item, "=")
		out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out
}

// Replicas is the number of separate servers that each get the full load.
func (r Request) Replicas() int {
	if r.Deploy == "kubernetes" && r.ReplicaCount > 0 {
		return r.ReplicaCount
	}
	if n := len(r.ReplicasBaseURLs); n > 0 {
		return n
	}
	return 1
}

// ReplicaBaseURL is replica i's server root.
func (r Request) ReplicaBaseURL(i int) string {
	if len(r.ReplicasBaseURLs) > 0 {
		return strings.TrimRight(r.ReplicasBaseURLs[i], "/")
	}
	return r.ServerBaseURL()
}

// JSON renders the request (for request.json and logs).
func (r Request) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return b
}

func cutPair(s, seps string) (string, string, bool) {
	i := strings.IndexAny(s, seps)
	if i < 0 {
		return strings.TrimSpace(s), "", false
	}
	return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:]), true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func quoteAll(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
