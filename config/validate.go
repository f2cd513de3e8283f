package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationError lists every problem found in a request.
type ValidationError struct {
	Problems []FieldError `json:"problems"`
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = "  - " + p.Error()
	}
	return fmt.Sprintf("invalid benchmark request (%d problem(s)):\n%s", len(e.Problems), strings.Join(lines, "\n"))
}

// AsValidationError returns the ValidationError inside err, if any.
func AsValidationError(err error) (*ValidationError, bool) {
	var v *ValidationError
	ok := errors.As(err, &v)
	return v, ok
}

type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Validate checks a request that went through Defaults and returns every
// problem at once, each naming the field and what is allowed. Files named by
// dataset_path are checked for existence. It does not touch the network;
// checks that need a tokenizer (such as sonnet_input_len against the base
// prompt) happen when the dataset is built.
func (r Request) Validate() error { return r.validate(true) }

// ValidateFields is Validate without looking at files: deterministic, for
// workflow code. The worker that builds the dataset checks the files.
func (r Request) ValidateFields() error { return r.validate(false) }

func (r Request) validate(files bool) error {
	p := problems(slices.Clone(r.decodeProblems))
	for _, f := range r.unknownFields {
		if guess := closestField(f); guess != "" {
			p.add(f, "unknown field; did you mean %q?", guess)
		} else {
			p.add(f, "unknown field; see the README for the request fields")
		}
	}
	r.checkGivenZeros(&p)
	r.checkBelonging(&p)
	r.checkCount(&p)
	rate := float64(*r.RequestRate)
	if math.IsNaN(rate) || rate <= 0 {
		p.add("request_rate", "must be a positive number of requests per second or \"inf\", got %v", rate)
	}
	if b := *r.Burstiness; math.IsNaN(b) || b <= 0 {
		p.add("burstiness", "must be positive (1 = Poisson, <1 burstier, >1 smoother, \"inf\" = evenly spaced), got %v", b)
	}
	if !slices.Contains(Backends, r.Backend) {
		p.add("backend", "unknown backend %q; allowed: %s", r.Backend, quoteAll(Backends))
	} else {
		r.checkEndpoint(&p)
	}
	if r.BaseURL != "" {
		checkHTTPURL(&p, "base_url", r.BaseURL)
	} else {
		if r.Host == "" {
			p.add("host", "must name the server, e.g. \"localhost\"")
		} else if strings.ContainsAny(r.Host, "/@?#") {
			p.add("host", "must be a host name or address such as \"localhost\", got %q; give a whole URL as base_url instead", r.Host)
		}
		if r.Port < 1 || r.Port > 65535 {
			p.add("port", "must be in 1..65535, got %d", r.Port)
		}
	}
	for i, u := range r.ReplicasBaseURLs {
		checkHTTPURL(&p, fmt.Sprintf("replicas_base_urls[%d]", i), u)
	}
	r.checkDataset(&p, files)
	if r.MaxConcurrency < 0 {
		p.add("max_concurrency", "must be a positive cap on requests in flight, or 0/absent for no cap; got %d", r.MaxConcurrency)
	}
	if r.Seed < 0 {
		p.add("seed", "must be 0 or positive, got %d", r.Seed)
	}
	r.checkSampling(&p)
	r.checkMetrics(&p)
	r.checkRampUp(&p)
	if r.SliceSeconds <= 0 {
		p.add("slice_seconds", "must be positive, got %g", r.SliceSeconds)
	}
	if r.StallTimeoutSeconds < 0 {
		p.add("stall_timeout_seconds", "must be positive, got %g", r.StallTimeoutSeconds)
	}
	if r.RequestTimeoutSeconds < 0 {
		p.add("request_timeout_seconds", "must be positive, got %g", r.RequestTimeoutSeconds)
	}
	if len(r.ReplicasBaseURLs) > 0 && r.BaseURL != "" {
		p.add("base_url", "and replicas_base_urls both name the servers; give replicas_base_urls alone (each URL is one replica)")
	}
	if r.ContinueAsNewEach < 1 {
		p.add("continue_as_new_every_slices", "must be at least 1, got %d", r.ContinueAsNewEach)
	}
	r.checkDeploy(&p)
	r.checkLimits(&p)
	p = p.withoutFollowOns(len(r.decodeProblems))
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// withoutFollowOns drops problems about a field that already has a decoding
// problem among the first n: its value was not taken, so what the checks
// saw is the default, not what the user wrote.
func (p problems) withoutFollowOns(n int) problems {
	bad := map[string]bool{}
	for _, e := range p[:n] {
		bad[e.Field] = true
	}
	out := p[:n:n]
	for _, e := range p[n:] {
		if !bad[e.Field] {
			out = append(out, e)
		}
	}
	return out
}

// checkCount checks num_prompts and duration_seconds, which set it.
func (r Request) checkCount(p *problems) {
	rate := r.RequestRate
	switch {
	case math.IsNaN(r.DurationSeconds) || r.DurationSeconds < 0 || math.IsInf(r.DurationSeconds, 0):
		p.add("duration_seconds", "must be a positive number of seconds, got %g", r.DurationSeconds)
	case r.DurationSeconds > 0 && rate.IsInf():
		p.add("duration_seconds", "needs a finite request_rate (num_prompts = request_rate x duration_seconds); set request_rate or give num_prompts instead")
	case r.DurationSeconds > 0 && r.Given("num_prompts") && r.NumPrompts > 0 && float64(r.NumPrompts) != math.Round(float64(*rate)*r.DurationSeconds):
		p.add("duration_seconds", "and num_prompts %d both set the run's length (request_rate x duration_seconds = %g prompts); give one of them", r.NumPrompts, math.Round(float64(*rate)*r.DurationSeconds))
	case r.DurationSeconds > 0 && r.NumPrompts <= 0 && float64(*rate)*r.DurationSeconds <= MaxPrompts && !r.given0("num_prompts"):
		p.add("duration_seconds", "%g seconds at %s req/s schedules no request; give a longer duration or a higher rate", r.DurationSeconds, rate)
	case r.DurationSeconds == 0 && r.NumPrompts < 0:
		p.add("num_prompts", "must be a positive number of requests, got %d; or give duration_seconds with a finite request_rate", r.NumPrompts)
	}
}

func (r Request) checkEndpoint(p *problems) {
	if !strings.HasPrefix(r.Endpoint, "/") {
		p.add("endpoint", "must be a path starting with '/', got %q", r.Endpoint)
		return
	}
	chat := strings.HasSuffix(r.Endpoint, "chat/completions")
	switch {
	case r.Backend == "openai-chat" && !chat && !strings.HasSuffix(r.Endpoint, "profile"):
		p.add("endpoint", "backend \"openai-chat\" needs a Chat Completions endpoint ending in \"chat/completions\" (e.g. \"/v1/chat/completions\"), got %q", r.Endpoint)
	case r.Backend != "openai-chat" && chat:
		p.add("endpoint", "backend %q sends Completions requests but %q is the Chat Completions API; use \"/v1/completions\" or backend \"openai-chat\"", r.Backend, r.Endpoint)
	case r.Backend != "openai-chat" && !strings.HasSuffix(r.Endpoint, "completions") && !strings.HasSuffix(r.Endpoint, "profile"):
		p.add("endpoint", "backend %q needs a Completions endpoint ending in \"completions\" (e.g. \"/v1/completions\"), got %q", r.Backend, r.Endpoint)
	}
}

func (r Request) checkDataset(p *problems, files bool) {
	if !slices.Contains(DatasetNames, r.DatasetName) {
		p.add("dataset_name", "unknown dataset %q; allowed: %s", r.DatasetName, quoteAll(DatasetNames))
		return
	}
	switch r.DatasetName {
	case "sonnet":
		if r.SonnetInputLen <= 0 {
			p.add("sonnet_input_len", "must be positive, got %d", r.SonnetInputLen)
		}
		if r.SonnetOutputLen <= 0 {
			p.add("sonnet_output_len", "must be at least 1, got %d", r.SonnetOutputLen)
		}
		if r.SonnetPrefixLen < 0 || r.SonnetPrefixLen > r.SonnetInputLen {
			p.add("sonnet_prefix_len", "must be between 0 and sonnet_input_len (%d), got %d", r.SonnetInputLen, r.SonnetPrefixLen)
		}
		if files && r.DatasetPath != "" && !IsBundledSonnet(r.DatasetPath) {
			checkFile(p, r.DatasetPath)
		}
	case "random":
		if r.RandomInputLen <= 0 {
			p.add("random_input_len", "must be positive, got %d", r.RandomInputLen)
		}
		if r.RandomOutputLen <= 0 {
			p.add("random_output_len", "must be positive, got %d", r.RandomOutputLen)
		}
		if r.RandomPrefixLen < 0 {
			p.add("random_prefix_len", "must be 0 or positive, got %d", r.RandomPrefixLen)
		}
		if r.RandomRangeRatio < 0 || r.RandomRangeRatio >= 1 {
			p.add("random_range_ratio", "must be in [0, 1), got %g", r.RandomRangeRatio)
		}
	case "sharegpt":
		if r.DatasetPath == "" {
			p.add("dataset_path", "the sharegpt dataset needs the path of its JSON file (e.g. ShareGPT_V3_unfiltered_cleaned_split.json)")
		} else if files {
			checkFile(p, r.DatasetPath)
		}
		if r.SharegptOutputLen < 0 {
			p.add("sharegpt_output_len", "must be positive, got %d", r.SharegptOutputLen)
		}
	}
}

// IsBundledSonnet says whether a sonnet dataset_path means the sonnet.txt
// that ships with the project: empty, or a path ending in sonnet.txt that
// does not exist here (such as "app/sonnet.txt" from the old container).
func IsBundledSonnet(path string) bool {
	if path == "" {
		return true
	}
	if filepath.Base(path) != "sonnet.txt" {
		return false
	}
	_, err := os.Stat(path)
	return err != nil
}

func checkFile(p *problems, path string) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		p.add("dataset_path", "cannot read %q: %v; give the path of an existing file", path, errors.Unwrap(err))
	case st.IsDir():
		p.add("dataset_path", "%q is a directory; give the path of the dataset file", path)
	}
}

func checkHTTPURL(p *problems, field, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.User != nil:
		p.add(field, "holds credentials (%s); they would be kept in the workflow history and the results. Remove the user:password@ part: the load workers send their own OPENAI_API_KEY from their environment as the bearer token", u.Redacted())
	case err == nil && u.Host == "" && !strings.Contains(raw, "://"):
		p.add(field, "must be an http(s) URL with its scheme, got %q; did you mean \"http://%s\"?", raw, raw)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.add(field, "must be an http(s) URL such as \"http://10.0.0.5:8000\", got %q", raw)
	case u.RawQuery != "" || u.Fragment != "":
		p.add(field, "must be the server's root URL, without ?query or #fragment, got %q", raw)
	}
}

func (r Request) checkSampling(p *problems) {
	if t := r.Temperature; t != nil && (*t < 0 || math.IsNaN(*t)) {
		p.add("temperature", "must be 0 or positive, got %v", *t)
	}
	if v := r.TopP; v != nil && !(*v > 0 && *v <= 1) {
		p.add("top_p", "must be in (0, 1], got %v", *v)
	}
	if v := r.TopK; v != nil && *v < -1 {
		p.add("top_k", "must be -1 (all tokens) or a positive count, got %d", *v)
	}
	if v := r.MinP; v != nil && !(*v >= 0 && *v <= 1) {
		p.add("min_p", "must be in [0, 1], got %v", *v)
	}
	if v := r.Logprobs; v != nil && *v < 0 {
		p.add("logprobs", "must be 0 or positive, got %d", *v)
	}
}

func (r Request) checkMetrics(p *problems) {
	for _, m := range r.PercentileMetrics {
		if !slices.Contains(PercentileMetrics, m) {
			p.add("percentile_metrics", "unknown metric %q; allowed: %s", m, quoteAll(PercentileMetrics))
		}
	}
	for _, s := range r.MetricPercentiles {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
			p.add("metric_percentiles", "%q is not a percentile; give numbers in [0, 100] such as \"50,90,99\"", s)
		}
	}
	for _, item := range r.Goodput {
		name, val, ok := cutPair(item, ":=")
		if !ok {
			p.add("goodput", "%q must be NAME:MILLISECONDS such as \"ttft:500\"", item)
			continue
		}
		if !slices.Contains(GoodputMetrics, name) {
			p.add("goodput", "unknown SLO %q in %q; allowed: %s", name, item, quoteAll(GoodputMetrics))
		}
		if f, err := strconv.ParseFloat(val, 64); err != nil || f < 0 || math.IsNaN(f) {
			p.add("goodput", "%q: the value must be a non-negative number of milliseconds", item)
		}
	}
	for _, item := range r.Metadata {
		if k, _, ok := strings.Cut(item, "="); !ok || strings.TrimSpace(k) == "" {
			p.add("metadata", "%q must be KEY=VALUE", item)
		}
	}
}

func (r Request) checkRampUp(p *problems) {
	if r.RampUpStrategy == "" {
		if r.RampUpStartRPS != 0 || r.RampUpEndRPS != 0 {
			p.add("ramp_up_strategy", "ramp_up_start_rps/ramp_up_end_rps need ramp_up_strategy %s", quoteAll(RampUpStrategies))
		}
		return
	}
	if !slices.Contains(RampUpStrategies, r.RampUpStrategy) {
		p.add("ramp_up_strategy", "unknown strategy %q; allowed: %s", r.RampUpStrategy, quoteAll(RampUpStrategies))
	}
	if !r.RequestRate.IsInf() {
		p.add("request_rate", "must be left at \"inf\" when ramp_up_strategy is set (the ramp sets the rate)")
	}
	if r.RampUpStartRPS <= 0 || r.RampUpEndRPS <= 0 {
		p.add("ramp_up_start_rps", "ramp-up needs ramp_up_start_rps > 0 and ramp_up_end_rps > 0 (every request's rate must be positive), got %g and %g", r.RampUpStartRPS, r.RampUpEndRPS)
	}
	if r.RampUpStartRPS > r.RampUpEndRPS {
		p.add("ramp_up_start_rps", "must not exceed ramp_up_end_rps (%g), got %g", r.RampUpEndRPS, r.RampUpStartRPS)
	}
	if r.DurationSeconds > 0 {
		p.add("duration_seconds", "cannot be combined with ramp-up; give num_prompts")
	}
}

// Deploy targets and GPU types.
var (
	DeployTargets = []string{"existing", "kubernetes"}
	GPUTypes      = []string{"H100", "H200", "auto"}
)

func (r Request) checkDeploy(p *problems) {
	if !slices.Contains(DeployTargets, r.Deploy) {
		p.add("deploy", "unknown target %q; allowed: %s", r.Deploy, quoteAll(DeployTargets))
		return
	}
	if r.ReadyTimeoutSeconds < 0 {
		p.add("ready_timeout_seconds", "must be positive, got %g", r.ReadyTimeoutSeconds)
	}
	if r.ReplicaGoneLimitSeconds < 0 {
		p.add("replica_gone_limit_seconds", "must be positive, got %g", r.ReplicaGoneLimitSeconds)
	}
	r.checkKubernetes(p)
	if r.Deploy != "kubernetes" {
		return
	}
	if r.GPUType != "" && !slices.Contains(GPUTypes, r.GPUType) {
		p.add("gpu_type", "unknown GPU type %q; allowed: %s", r.GPUType, quoteAll(GPUTypes))
	}
	if r.GPUType == "" && r.Model == "" {
		p.add("gpu_type", "deploy \"kubernetes\" needs gpu_type (H100 serves Llama-3.1-405B-Instruct-FP8, H200 Llama-3.1-405B-Instruct, auto reads the nodes) or a model")
	}
	if r.ReplicaCount < 0 {
		p.add("replica_count", "must be at least 1, got %d", r.ReplicaCount)
	}
	if len(r.ReplicasBaseURLs) > 0 {
		p.add("replicas_base_urls", "targets existing servers; leave it out when deploy is \"kubernetes\"")
	}
}
