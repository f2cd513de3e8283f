// Package engine puts the load engine together: from a request it builds
// the tokenizer, dataset, schedule and client (a Plan), runs any range of
// the schedule against a server while recording to the results store, and
// aggregates stored records into vLLM's result. It has no Temporal inside:
// `starter bench` and the LoadSlice activity both call it.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/loadgen"
	"github.com/vibench/vllm-inference-benchmark/loadgen/schedule"
	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

// ModelStorage is where a deployment keeps its weights; a tokenizer.json
// found there is preferred.
const ModelStorage = "/model-storage"

// Plan is everything derived from a request that sending load needs. It is
// a pure function of the request (and the tokenizer), so any worker can
// rebuild it and send exactly the same prompts at the same offsets.
type Plan struct {
	Request   config.Request
	Model     string // model id, as vLLM's model_id
	Tokenizer datasets.Tokenizer
	Dataset   datasets.Dataset
	Offsets   []float64 // arrival offsets from T0, seconds, per replica
}

// NewPlan resolves the model (asking the server when the request names
// none), loads the tokenizer, builds the dataset and the arrival schedule.
// baseURL is a server root used to resolve the model and, lacking tokenizer
// files, to tokenize through /tokenize.
func NewPlan(ctx context.Context, req config.Request, baseURL string) (*Plan, error) {
	if req.Model == "" {
		served, root, err := ServerModel(ctx, baseURL)
		if err != nil {
			return nil, fmt.Errorf("model: none given and the server did not list one: %w", err)
		}
		req.Model = root
		if req.ServedModelName == "" {
			req.ServedModelName = served
		}
	}
	tok, err := ResolveTokenizer(req, baseURL)
	if err != nil {
		return nil, err
	}
	ds, err := datasets.New(datasetConfig(req), tok)
	if err != nil {
		return nil, &InputError{err}
	}
	offsets, err := schedule.Offsets(scheduleParams(req))
	if err != nil {
		return nil, &InputError{err}
	}
	return &Plan{Request: req, Model: req.Model, Tokenizer: tok, Dataset: ds, Offsets: offsets}, nil
}

func datasetConfig(req config.Request) datasets.Config {
	path := req.DatasetPath
	if req.DatasetName == "sonnet" && config.IsBundledSonnet(path) {
		path = ""
	}
	return datasets.Config{
		DatasetName: req.DatasetName, DatasetPath: path, NumPrompts: req.NumPrompts, Seed: req.Seed,
		Backend:        req.Backend,
		SonnetInputLen: req.SonnetInputLen, SonnetPrefixLen: req.SonnetPrefixLen, SonnetOutputLen: req.SonnetOutputLen,
		RandomInputLen: req.RandomInputLen, RandomOutputLen: req.RandomOutputLen, RandomPrefixLen: req.RandomPrefixLen,
		RandomRangeRatio: req.RandomRangeRatio, SharegptOutputLen: req.SharegptOutputLen,
	}
}

func scheduleParams(req config.Request) schedule.Params {
	return schedule.Params{
		N: req.NumPrompts, RequestRate: float64(*req.RequestRate), Burstiness: *req.Burstiness, Seed: req.Seed,
		RampUpStrategy: req.RampUpStrategy, RampUpStartRPS: req.RampUpStartRPS, RampUpEndRPS: req.RampUpEndRPS,
	}
}

// NumSlices is how many slices of slice_seconds the schedule spans.
func (p *Plan) NumSlices() int { return schedule.NumSlices(p.Offsets, p.Request.SliceSeconds) }

// SliceArrivals are the arrivals of slice k.
func (p *Plan) SliceArrivals(k int) []loadgen.Arrival {
	lo, hi := schedule.SliceBounds(p.Offsets, p.Request.SliceSeconds, k)
	return p.arrivals(lo, hi)
}

// AllArrivals is the whole schedule.
func (p *Plan) AllArrivals() []loadgen.Arrival { return p.arrivals(0, len(p.Offsets)) }

func (p *Plan) arrivals(lo, hi int) []loadgen.Arrival {
	out := make([]loadgen.Arrival, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, loadgen.Arrival{Index: i, Offset: p.Offsets[i]})
	}
	return out
}

// LastOffset is when the last request is due, seconds after T0.
func (p *Plan) LastOffset() float64 {
	if len(p.Offsets) == 0 {
		return 0
	}
	return p.Offsets[len(p.Offsets)-1]
}

// Client builds the HTTP client for one server root. The API key comes from
// the worker's own OPENAI_API_KEY, never from the request.
func (p *Plan) Client(baseURL string) (*loadgen.Client, error) {
	r := p.Request
	return loadgen.NewClient(loadgen.ClientOptions{
		Backend: r.Backend, URL: strings.TrimRight(baseURL, "/") + r.Endpoint, Model: r.ServedModel(),
		IgnoreEOS:   r.IgnoreEOS || r.DatasetName == "random",
		Temperature: r.Temperature, TopP: r.TopP, TopK: r.TopK, MinP: r.MinP,
		FrequencyPenalty: r.FrequencyPenalty, PresencePenalty: r.PresencePenalty, RepetitionPenalty: r.RepetitionPenalty,
		Logprobs: r.Logprobs, ExtraBody: r.ExtraBody, APIKey: os.Getenv("OPENAI_API_KEY"),
		MaxConcurrency: r.MaxConcurrency,
		StallTimeout:   seconds(r.StallTimeoutSeconds), RequestTimeout: seconds(r.RequestTimeoutSeconds),
	})
}

// RequestIDPrefix is the x-request-id prefix of a run: the request's, or
// "bench-" + 8 hex digits derived from the run id (stable across retries),
// with the replica when there are several.
func RequestIDPrefix(req config.Request, runID string, replica int) string {
	prefix := req.RequestIDPrefix
	if prefix == "" {
		sum := sha256.Sum256([]byte(runID))
		prefix = "bench-" + hex.EncodeToString(sum[:4]) + "-"
	}
	if req.Replicas() > 1 {
		prefix += fmt.Sprintf("r%d-", replica)
	}
	return prefix
}

// ResolveTokenizer picks the tokenizer as a user would expect: the
// request's directory; else tokenizer files next to the weights in
// /model-storage/<model>; else the bundled Llama 3.1 tokenizer for Llama 3
// models (the 405B models share it); else the server's /tokenize.
func ResolveTokenizer(req config.Request, baseURL string) (datasets.Tokenizer, error) {
	if dir := req.Tokenizer; dir != "" {
		if isDir(dir) {
			return tokenizer.Load(dir)
		}
		if !isLlama3(dir) {
			return nil, fmt.Errorf("tokenizer: %q is not a directory here; give --tokenizer DIR, a directory holding the model's tokenizer.json (it ships next to the weights, e.g. %s/<model>/tokenizer.json), or leave it out to use the server's /tokenize", dir, ModelStorage)
		}
	}
	if dir := filepath.Join(ModelStorage, req.Model); req.Model != "" && fileExists(filepath.Join(dir, "tokenizer.json")) {
		return tokenizer.Load(dir)
	}
	if isLlama3(req.Model) || isLlama3(req.Tokenizer) {
		return tokenizer.Llama31()
	}
	return tokenizer.NewRemote(baseURL, req.ServedModel(), &http.Client{Timeout: time.Minute}), nil
}

func isLlama3(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "llama-3") || strings.Contains(n, "llama3")
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// ServerModel asks a server's /v1/models for its first model: the served
// name (id) and the model it was loaded from (root).
func ServerModel(ctx context.Context, baseURL string) (served, root string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/v1/models", nil)
	if err != nil {
		return "", "", err
	}
	if key := os.Getenv("OPENAI_API_KEY"); key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("GET /v1/models: %s", resp.Status)
	}
	var body struct {
		Data []struct {
			ID   string `json:"id"`
			Root string `json:"root"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", "", fmt.Errorf("GET /v1/models: %w", err)
	}
	if len(body.Data) == 0 {
		return "", "", fmt.Errorf("GET /v1/models: no models listed")
	}
	m := body.Data[0]
	if m.Root == "" {
		m.Root = m.ID
	}
	return m.ID, m.Root, nil
}

func seconds(s float64) time.Duration {
	if math.IsInf(s, 1) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// InputError is a problem with the request itself (the dataset or the
// schedule cannot be built from it): retrying cannot help.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }
