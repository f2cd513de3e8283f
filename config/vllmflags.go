package config

import (
	"flag"
	"fmt"
	"slices"
)

// FlagStatus says what becomes of one `vllm bench serve` v0.20 flag here.
type FlagStatus string

const (
	// FlagWorks: the flag does what it does in vLLM.
	FlagWorks FlagStatus = "works"
	// FlagNoEffect: accepted; with the datasets and backends supported here
	// it changes nothing in vLLM either (Reason says why).
	FlagNoEffect FlagStatus = "works (no effect, as in vLLM)"
	// FlagDefaultOnly: vLLM's default value (and the values in Accept) work;
	// any other value is refused with Reason.
	FlagDefaultOnly FlagStatus = "default only"
	// FlagRefused: giving the flag is an error that says why (Reason).
	FlagRefused FlagStatus = "refused"
	// FlagCommand: the command defines it (starter bench saves results;
	// starter recompute takes --skip-tokenizer-init), see Reason.
	FlagCommand FlagStatus = "command"
)

// VLLMFlag is one flag of vLLM's parser and how it is handled.
type VLLMFlag struct {
	Name   string // without the leading "--"
	Status FlagStatus
	Bool   bool     // takes no value (argparse store_true)
	Accept []string // FlagDefaultOnly: the values that work
	Reason string   // why it is refused, or why it has no effect
}

// VLLMFlags are the flags of `vllm bench serve` v0.20 (serve.py's
// add_cli_args and the dataset parser), each with its status. Flags bound by
// BindFlags are FlagWorks; the rest are registered by BindFlags as values
// that accept what works and refuse the rest with the reason.
var VLLMFlags = []VLLMFlag{
	// Where the server is and what it serves.
	{Name: "backend", Status: FlagWorks, Reason: "openai, vllm and openai-chat; vLLM's other backends (audio, embeddings, rerank, ...) are refused by validation"},
	{Name: "base-url", Status: FlagWorks},
	{Name: "host", Status: FlagWorks},
	{Name: "port", Status: FlagWorks},
	{Name: "endpoint", Status: FlagWorks},
	{Name: "model", Status: FlagWorks},
	{Name: "served-model-name", Status: FlagWorks},
	{Name: "tokenizer", Status: FlagWorks, Reason: "a directory holding tokenizer.json (Hugging Face hub ids are not downloaded)"},
	{Name: "tokenizer-mode", Status: FlagDefaultOnly, Accept: []string{"auto", "hf"},
		Reason: "only the Hugging Face fast tokenizer (tokenizer.json) is implemented; slow, mistral, deepseek_v32 and plugin tokenizers count tokens differently"},
	{Name: "skip-tokenizer-init", Status: FlagRefused, Bool: true,
		Reason: "the sonnet, random and sharegpt datasets need a tokenizer to build their prompts (vLLM fails on them too); starter recompute accepts it"},
	{Name: "trust-remote-code", Status: FlagNoEffect, Bool: true, Reason: "reading tokenizer.json runs no model code"},
	{Name: "header", Status: FlagRefused, Reason: "extra request headers are not passed to the load engine"},
	{Name: "insecure", Status: FlagRefused, Bool: true, Reason: "TLS certificate verification cannot be turned off; use a certificate the system trusts or plain http"},
	{Name: "ready-check-timeout-sec", Status: FlagDefaultOnly, Accept: []string{"0"},
		Reason: "the endpoint ready check (re-sending the first prompt until it succeeds) is not implemented; starter start waits for /health and /v1/models instead"},

	// The load.
	{Name: "num-prompts", Status: FlagWorks},
	{Name: "request-rate", Status: FlagWorks},
	{Name: "burstiness", Status: FlagWorks},
	{Name: "max-concurrency", Status: FlagWorks},
	{Name: "seed", Status: FlagWorks},
	{Name: "ramp-up-strategy", Status: FlagWorks},
	{Name: "ramp-up-start-rps", Status: FlagWorks},
	{Name: "ramp-up-end-rps", Status: FlagWorks},
	{Name: "request-id-prefix", Status: FlagWorks},
	{Name: "num-warmups", Status: FlagDefaultOnly, Accept: []string{"0"},
		Reason: "warm-up requests are not sent; vLLM sends that many copies of the first prompt before timing, which warms the server's prefix cache"},
	{Name: "probe-request-rate", Status: FlagDefaultOnly, Accept: []string{"0", "0.0"}, Reason: "probe requests are not sent"},
	{Name: "self-timed", Status: FlagRefused, Bool: true, Reason: "only for the timed_trace dataset, which is not implemented"},
	{Name: "no-self-timed", Status: FlagRefused, Bool: true, Reason: "only for the timed_trace dataset, which is not implemented"},
	{Name: "lora-modules", Status: FlagRefused, Reason: "choosing a LoRA adapter per request is not implemented"},
	{Name: "lora-assignment", Status: FlagNoEffect, Reason: "it only picks among --lora-modules"},
	{Name: "profile", Status: FlagRefused, Bool: true, Reason: "starting vLLM's profiler (/start_profile) is not implemented"},
	{Name: "disable-tqdm", Status: FlagCommand, Bool: true, Reason: "starter bench: no progress bar (it is shown only on a terminal)"},

	// The requests.
	{Name: "ignore-eos", Status: FlagWorks},
	{Name: "logprobs", Status: FlagWorks},
	{Name: "temperature", Status: FlagWorks},
	{Name: "top-p", Status: FlagWorks},
	{Name: "top-k", Status: FlagWorks},
	{Name: "min-p", Status: FlagWorks},
	{Name: "frequency-penalty", Status: FlagWorks},
	{Name: "presence-penalty", Status: FlagWorks},
	{Name: "repetition-penalty", Status: FlagWorks},
	{Name: "extra-body", Status: FlagWorks},
	{Name: "use-beam-search", Status: FlagRefused, Bool: true, Reason: "beam search requests are not supported"},
	{Name: "chat-template-kwargs", Status: FlagRefused, Reason: "only client-side chat templates of the custom and speed_bench datasets use it, and those are not implemented"},

	// The datasets.
	{Name: "dataset-name", Status: FlagWorks, Reason: "sonnet, random and sharegpt; the others are refused by validation"},
	{Name: "dataset-path", Status: FlagWorks},
	{Name: "input-len", Status: FlagWorks},
	{Name: "output-len", Status: FlagWorks},
	{Name: "sonnet-input-len", Status: FlagWorks},
	{Name: "sonnet-output-len", Status: FlagWorks},
	{Name: "sonnet-prefix-len", Status: FlagWorks},
	{Name: "random-input-len", Status: FlagWorks},
	{Name: "random-output-len", Status: FlagWorks},
	{Name: "random-prefix-len", Status: FlagWorks},
	{Name: "random-range-ratio", Status: FlagWorks, Reason: "a number; the {\"input\": x, \"output\": y} form is refused"},
	{Name: "sharegpt-output-len", Status: FlagWorks},
	{Name: "disable-shuffle", Status: FlagRefused, Bool: true, Reason: "the sharegpt sampler always shuffles with --seed, vLLM's default"},
	{Name: "no-oversample", Status: FlagRefused, Bool: true, Reason: "the sharegpt sampler always oversamples to --num-prompts, vLLM's default"},
	{Name: "no-stream", Status: FlagNoEffect, Bool: true, Reason: "only Hugging Face hub datasets are streamed"},
	{Name: "skip-chat-template", Status: FlagNoEffect, Bool: true, Reason: "only the custom and hf datasets apply a chat template it could skip"},
	{Name: "enable-multimodal-chat", Status: FlagNoEffect, Bool: true, Reason: "only multimodal datasets use it"},
	{Name: "random-batch-size", Status: FlagDefaultOnly, Accept: []string{"1"}, Reason: "batched prompts are only for embedding benchmarks, which are not implemented"},
	{Name: "no-reranker", Status: FlagNoEffect, Bool: true, Reason: "only the random-rerank dataset uses it"},
	{Name: "random-mm-base-items-per-request", Status: FlagNoEffect, Reason: "only the random-mm dataset uses it"},
	{Name: "random-mm-num-mm-items-range-ratio", Status: FlagNoEffect, Reason: "only the random-mm dataset uses it"},
	{Name: "random-mm-limit-mm-per-prompt", Status: FlagNoEffect, Reason: "only the random-mm dataset uses it"},
	{Name: "random-mm-bucket-config", Status: FlagNoEffect, Reason: "only the random-mm dataset uses it"},
	{Name: "custom-output-len", Status: FlagNoEffect, Reason: "only the custom dataset uses it"},
	{Name: "spec-bench-output-len", Status: FlagNoEffect, Reason: "only the spec_bench dataset uses it"},
	{Name: "spec-bench-category", Status: FlagNoEffect, Reason: "only the spec_bench dataset uses it"},
	{Name: "blazedit-min-distance", Status: FlagNoEffect, Reason: "only the blazedit dataset uses it"},
	{Name: "blazedit-max-distance", Status: FlagNoEffect, Reason: "only the blazedit dataset uses it"},
	{Name: "hf-subset", Status: FlagNoEffect, Reason: "only the hf dataset uses it"},
	{Name: "hf-split", Status: FlagNoEffect, Reason: "only the hf dataset uses it"},
	{Name: "hf-name", Status: FlagNoEffect, Reason: "only the hf dataset uses it"},
	{Name: "hf-output-len", Status: FlagNoEffect, Reason: "only the hf dataset uses it"},
	{Name: "prefix-repetition-prefix-len", Status: FlagNoEffect, Reason: "only the prefix_repetition dataset uses it"},
	{Name: "prefix-repetition-suffix-len", Status: FlagNoEffect, Reason: "only the prefix_repetition dataset uses it"},
	{Name: "prefix-repetition-num-prefixes", Status: FlagNoEffect, Reason: "only the prefix_repetition dataset uses it"},
	{Name: "prefix-repetition-output-len", Status: FlagNoEffect, Reason: "only the prefix_repetition dataset uses it"},

	// The result.
	{Name: "percentile-metrics", Status: FlagWorks},
	{Name: "metric-percentiles", Status: FlagWorks},
	{Name: "goodput", Status: FlagWorks},
	{Name: "label", Status: FlagWorks},
	{Name: "metadata", Status: FlagWorks},
	{Name: "save-detailed", Status: FlagWorks},
	{Name: "save-result", Status: FlagCommand, Bool: true, Reason: "starter bench writes vLLM's result JSON"},
	{Name: "append-result", Status: FlagCommand, Bool: true, Reason: "starter bench appends the result as a JSON line"},
	{Name: "result-dir", Status: FlagCommand, Reason: "starter bench and starter recompute"},
	{Name: "result-filename", Status: FlagCommand, Reason: "starter bench and starter recompute"},
	{Name: "plot-timeline", Status: FlagRefused, Bool: true, Reason: "the HTML timeline plot is not drawn; report.html charts the run"},
	{Name: "timeline-itl-thresholds", Status: FlagNoEffect, Reason: "it only colours --plot-timeline"},
	{Name: "plot-dataset-stats", Status: FlagRefused, Bool: true, Reason: "the dataset statistics figure is not drawn"},
}

// unsupportedFlag is a vLLM flag BindFlags does not bind to a field: it
// accepts the values that behave as in vLLM and refuses the rest with the
// reason.
type unsupportedFlag struct{ f VLLMFlag }

func (u unsupportedFlag) String() string   { return "" }
func (u unsupportedFlag) IsBoolFlag() bool { return u.f.Bool }

func (u unsupportedFlag) Set(s string) error {
	switch u.f.Status {
	case FlagNoEffect:
		return nil
	case FlagDefaultOnly:
		if slices.Contains(u.f.Accept, s) {
			return nil
		}
		return fmt.Errorf("only %q is supported: %s", u.f.Accept, u.f.Reason)
	case FlagCommand:
		return fmt.Errorf("not a flag of this command (%s)", u.f.Reason)
	}
	return fmt.Errorf("not supported: %s", u.f.Reason)
}

// bindUnsupported registers the vLLM flags that BindFlags does not bind,
// except those the command defines itself.
func bindUnsupported(fs *flag.FlagSet) {
	for _, f := range VLLMFlags {
		if f.Status == FlagWorks || fs.Lookup(f.Name) != nil {
			continue
		}
		fs.Var(unsupportedFlag{f}, f.Name, "vLLM flag ("+string(f.Status)+"): "+f.Reason)
	}
}
