package config

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// multiValueFlags take several values after one flag, as vLLM's argparse
// nargs flags do (`--goodput ttft:100 tpot:50`, `--metadata a=1 b=2`).
var multiValueFlags = map[string]bool{"goodput": true, "metadata": true, "replicas-base-urls": true,
	"header": true, "lora-modules": true}

// NormalizeArgs rewrites vLLM-style arguments into what Go's flag package
// reads: a multi-value flag is repeated once per value.
func NormalizeArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasInline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" || !multiValueFlags[name] || hasInline {
			out = append(out, a)
			continue
		}
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			i++
			out = append(out, "--"+name+"="+args[i])
		}
	}
	return out
}

// BindFlags registers vLLM's `bench serve` flag names on fs, writing into r.
// Values already in r (from a --config file) stay unless a flag is given.
func BindFlags(fs *flag.FlagSet, r *Request) {
	fs.StringVar(&r.Host, "host", r.Host, "server host (default 127.0.0.1)")
	fs.IntVar(&r.Port, "port", r.Port, "server port (default 8000)")
	fs.StringVar(&r.BaseURL, "base-url", r.BaseURL, "server base URL; overrides --host/--port")
	fs.StringVar(&r.Endpoint, "endpoint", r.Endpoint, "API path (default /v1/completions; /v1/chat/completions for openai-chat)")
	fs.StringVar(&r.Backend, "backend", r.Backend, "openai | vllm | openai-chat (default openai)")
	fs.StringVar(&r.Model, "model", r.Model, "model id (default: the server's first /v1/models entry)")
	fs.StringVar(&r.ServedModelName, "served-model-name", r.ServedModelName, "model name sent in requests (default --model)")
	fs.StringVar(&r.Tokenizer, "tokenizer", r.Tokenizer, "directory with tokenizer.json (default: bundled Llama 3.1 for Llama models, else the server's /tokenize)")
	fs.StringVar(&r.DatasetName, "dataset-name", r.DatasetName, "sonnet | random | sharegpt (default random)")
	fs.StringVar(&r.DatasetPath, "dataset-path", r.DatasetPath, "dataset file (sonnet: bundled sonnet.txt by default)")
	fs.IntVar(&r.NumPrompts, "num-prompts", r.NumPrompts, "number of requests (default 1000)")
	fs.Var(rateFlag{&r.RequestRate}, "request-rate", "requests per second, or inf (default inf)")
	fs.Var(floatPtr{&r.Burstiness}, "burstiness", "gamma shape of arrivals: 1 = Poisson (default 1)")
	fs.IntVar(&r.MaxConcurrency, "max-concurrency", r.MaxConcurrency, "cap on requests in flight (default none)")
	fs.Int64Var(&r.Seed, "seed", r.Seed, "random seed (default 0)")
	fs.BoolVar(&r.IgnoreEOS, "ignore-eos", r.IgnoreEOS, "send ignore_eos")
	fs.Var(floatPtr{&r.Temperature}, "temperature", "sampling temperature (default: server's)")
	fs.Var(floatPtr{&r.TopP}, "top-p", "top_p")
	fs.Var(intPtr{&r.TopK}, "top-k", "top_k")
	fs.Var(floatPtr{&r.MinP}, "min-p", "min_p")
	fs.Var(floatPtr{&r.FrequencyPenalty}, "frequency-penalty", "frequency_penalty")
	fs.Var(floatPtr{&r.PresencePenalty}, "presence-penalty", "presence_penalty")
	fs.Var(floatPtr{&r.RepetitionPenalty}, "repetition-penalty", "repetition_penalty")
	fs.Var(intPtr{&r.Logprobs}, "logprobs", "logprobs (completions)")
	fs.Var(jsonObject{&r.ExtraBody}, "extra-body", "JSON object merged last into every request body")
	fs.Var(&r.PercentileMetrics, "percentile-metrics", "comma list of ttft,tpot,itl,e2el (default ttft,tpot,itl)")
	fs.Var(&r.MetricPercentiles, "metric-percentiles", "comma list of percentiles (default 99)")
	fs.Var(&r.Goodput, "goodput", "SLOs as NAME:MS ... (ttft, tpot, e2el)")
	fs.StringVar(&r.Label, "label", r.Label, "label for the result and its file name")
	fs.Var(&r.Metadata, "metadata", "KEY=VALUE ... saved in the result")
	fs.StringVar(&r.RampUpStrategy, "ramp-up-strategy", r.RampUpStrategy, "linear | exponential")
	fs.Float64Var(&r.RampUpStartRPS, "ramp-up-start-rps", r.RampUpStartRPS, "ramp-up start rate")
	fs.Float64Var(&r.RampUpEndRPS, "ramp-up-end-rps", r.RampUpEndRPS, "ramp-up end rate")
	// v0.20 maps --input-len and --output-len onto the datasets' own
	// lengths after parsing: given, they win over the dataset flags
	// whatever the order.
	in := &generalLen{targets: []*int{&r.RandomInputLen, &r.SonnetInputLen}}
	out := &generalLen{targets: []*int{&r.RandomOutputLen, &r.SonnetOutputLen, &r.SharegptOutputLen}}
	fs.Var(in, "input-len", "prompt tokens for every dataset: sets --random-input-len and --sonnet-input-len")
	fs.Var(out, "output-len", "output tokens for every dataset: sets --random-output-len, --sonnet-output-len and --sharegpt-output-len")
	fs.Var(specificLen{&r.SonnetInputLen, in}, "sonnet-input-len", "sonnet prompt tokens (default 550)")
	fs.Var(specificLen{&r.SonnetOutputLen, out}, "sonnet-output-len", "sonnet output tokens (default 150)")
	fs.IntVar(&r.SonnetPrefixLen, "sonnet-prefix-len", r.SonnetPrefixLen, "sonnet shared prefix tokens (default 200)")
	fs.Var(specificLen{&r.RandomInputLen, in}, "random-input-len", "random prompt tokens (default 1024)")
	fs.Var(specificLen{&r.RandomOutputLen, out}, "random-output-len", "random output tokens (default 128)")
	fs.IntVar(&r.RandomPrefixLen, "random-prefix-len", r.RandomPrefixLen, "random shared prefix tokens (default 0)")
	fs.Float64Var(&r.RandomRangeRatio, "random-range-ratio", r.RandomRangeRatio, "random length spread in [0,1) (default 0)")
	fs.Var(specificLen{&r.SharegptOutputLen, out}, "sharegpt-output-len", "fixed output length for sharegpt")
	fs.BoolVar(&r.SaveDetailed, "save-detailed", r.SaveDetailed, "save per-request arrays in the result JSON")
	fs.StringVar(&r.RequestIDPrefix, "request-id-prefix", r.RequestIDPrefix, "x-request-id prefix (default bench-<random>-)")
	fs.Float64Var(&r.StallTimeoutSeconds, "stall-timeout", r.StallTimeoutSeconds, "fail a request after this many seconds without bytes (default 300)")
	fs.Float64Var(&r.RequestTimeoutSeconds, "request-timeout", r.RequestTimeoutSeconds, "fail a request after this many seconds in all (default 21600)")
	fs.Float64Var(&r.DurationSeconds, "duration-seconds", r.DurationSeconds, "run for this long at --request-rate instead of --num-prompts")
	fs.Float64Var(&r.SliceSeconds, "slice-seconds", r.SliceSeconds, "length of one load slice (default 300)")
	fs.Var(&r.ReplicasBaseURLs, "replicas-base-urls", "comma list of server URLs; each gets the full load as its own replica")
	fs.StringVar(&r.Deploy, "deploy", r.Deploy, "existing (default: the servers above) | kubernetes (deploy vLLM for the run)")
	fs.StringVar(&r.GPUType, "gpu-type", r.GPUType, "H100 | H200 | auto (kubernetes: picks the model)")
	fs.IntVar(&r.ReplicaCount, "replica-count", r.ReplicaCount, "vLLM replicas to deploy (kubernetes)")
	fs.StringVar(&r.Namespace, "namespace", r.Namespace, "namespace to deploy into (kubernetes; default default)")
	fs.StringVar(&r.Image, "image", r.Image, "vLLM image (kubernetes)")
	fs.Var((*stringList)(&r.VLLMArgs), "vllm-args", "extra or overriding vllm serve argument, e.g. --vllm-args=--max-model-len=8192 (repeatable)")
	fs.StringVar(&r.HFTokenSecret, "hf-token-secret", r.HFTokenSecret, "Secret holding the Hugging Face token (default: created from $HF_TOKEN)")
	fs.StringVar(&r.ModelStoragePVC, "model-storage-pvc", r.ModelStoragePVC, "PVC with the weights, mounted at /model-storage (default model-storage)")
	fs.BoolVar(&r.KeepDeployment, "keep-deployment", r.KeepDeployment, "leave the deployed servers up after the run")
	fs.Float64Var(&r.ReadyTimeoutSeconds, "ready-timeout", r.ReadyTimeoutSeconds, "seconds to wait for every replica to serve (default 3600)")
	bindUnsupported(fs)
}

// generalLen is --input-len or --output-len: it sets every dataset's
// length, and once given, the dataset-specific flags no longer change them.
type generalLen struct {
	targets []*int
	given   bool
}

func (g *generalLen) String() string { return "" }
func (g *generalLen) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want an integer, got %q", s)
	}
	g.given = true
	for _, p := range g.targets {
		*p = n
	}
	return nil
}

// specificLen is a dataset's own length flag, overridden by its generalLen.
type specificLen struct {
	p       *int
	general *generalLen
}

func (f specificLen) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}
func (f specificLen) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want an integer, got %q", s)
	}
	if !f.general.given {
		*f.p = n
	}
	return nil
}

// stringList is a repeatable flag whose values are kept whole.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// LoadFile reads a JSON or YAML file holding one request or a list of
// requests (like the old chart's benchmarkSpecs).
func LoadFile(path string) ([]Request, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse reads JSON or YAML holding one request, a list of them, or an
// object with a "benchmarkSpecs" list.
func Parse(b []byte) ([]Request, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not JSON or YAML: %w", err)
	}
	trimmed := strings.TrimSpace(string(j))
	if strings.HasPrefix(trimmed, "[") {
		var list []json.RawMessage
		if err := json.Unmarshal(j, &list); err != nil {
			return nil, err
		}
		return decodeAll(list)
	}
	var wrapper struct {
		BenchmarkSpecs []json.RawMessage `json:"benchmarkSpecs"`
	}
	if json.Unmarshal(j, &wrapper) == nil && len(wrapper.BenchmarkSpecs) > 0 {
		return decodeAll(wrapper.BenchmarkSpecs)
	}
	r, err := Decode(j)
	if err != nil {
		return nil, err
	}
	return []Request{r}, nil
}

// Decode reads one JSON request; unknown fields are reported by Validate.
func Decode(b []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("benchmark request: %w", err)
	}
	return r, nil
}

func decodeAll(items []json.RawMessage) ([]Request, error) {
	out := make([]Request, 0, len(items))
	for i, it := range items {
		r, err := Decode(it)
		if err != nil {
			return nil, fmt.Errorf("spec %d: %w", i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

type rateFlag struct{ p **Rate }

func (f rateFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return (*f.p).String()
}

func (f rateFlag) Set(s string) error {
	var r Rate
	if err := r.Set(s); err != nil {
		return err
	}
	*f.p = &r
	return nil
}

type floatPtr struct{ p **float64 }

func (f floatPtr) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.FormatFloat(**f.p, 'g', -1, 64)
}

func (f floatPtr) Set(s string) error {
	var v float64
	if strings.EqualFold(s, "inf") {
		v = float64(Inf)
	} else {
		var err error
		if v, err = strconv.ParseFloat(s, 64); err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
	}
	*f.p = &v
	return nil
}

type intPtr struct{ p **int }

func (f intPtr) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.Itoa(**f.p)
}

func (f intPtr) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want an integer, got %q", s)
	}
	*f.p = &v
	return nil
}

type jsonObject struct{ p *map[string]any }

func (f jsonObject) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	b, err := json.Marshal(*f.p)
	if err != nil { // a map decoded from JSON always marshals; say so if not
		return err.Error()
	}
	return string(b)
}

func (f jsonObject) Set(s string) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return fmt.Errorf("want a JSON object, got %q", s)
	}
	*f.p = m
	return nil
}
