package main

import (
	"os"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// Every flag of `vllm bench serve` v0.20 (serve.py add_cli_args and the
// dataset parser), first in the arguments a user would give, and what
// starter bench does with them: run as vLLM does, or refuse saying why.
var vllmCommandLine = []struct {
	args   []string
	status config.FlagStatus
}{
	{[]string{"--backend", "openai-chat", "--endpoint", "/v1/chat/completions"}, config.FlagWorks},
	{[]string{"--base-url", "http://10.0.0.5:8000"}, config.FlagWorks},
	{[]string{"--host", "10.0.0.5"}, config.FlagWorks},
	{[]string{"--port", "8001"}, config.FlagWorks},
	{[]string{"--endpoint", "/v1/completions"}, config.FlagWorks},
	{[]string{"--model", "meta-llama/Llama-3.1-8B-Instruct"}, config.FlagWorks},
	{[]string{"--served-model-name", "llama"}, config.FlagWorks},
	{[]string{"--tokenizer", "meta-llama/Llama-3.1-8B-Instruct"}, config.FlagWorks},
	{[]string{"--tokenizer-mode", "slow"}, config.FlagDefaultOnly},
	{[]string{"--skip-tokenizer-init"}, config.FlagRefused},
	{[]string{"--trust-remote-code"}, config.FlagNoEffect},
	{[]string{"--header", "x-a=1", "x-b=2"}, config.FlagRefused},
	{[]string{"--insecure"}, config.FlagRefused},
	{[]string{"--ready-check-timeout-sec", "600"}, config.FlagDefaultOnly},
	{[]string{"--num-prompts", "10"}, config.FlagWorks},
	{[]string{"--request-rate", "12"}, config.FlagWorks},
	{[]string{"--burstiness", "0.5", "--request-rate", "10"}, config.FlagWorks}, // with inf rate it is refused (issue 13)
	{[]string{"--max-concurrency", "8"}, config.FlagWorks},
	{[]string{"--seed", "7"}, config.FlagWorks},
	{[]string{"--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1", "--ramp-up-end-rps", "5"}, config.FlagWorks},
	{[]string{"--ramp-up-start-rps", "1", "--ramp-up-strategy", "linear", "--ramp-up-end-rps", "5"}, config.FlagWorks},
	{[]string{"--ramp-up-end-rps", "5", "--ramp-up-strategy", "exponential", "--ramp-up-start-rps", "1"}, config.FlagWorks},
	{[]string{"--request-id-prefix", "run7-"}, config.FlagWorks},
	{[]string{"--num-warmups", "3"}, config.FlagDefaultOnly},
	{[]string{"--probe-request-rate", "2"}, config.FlagDefaultOnly},
	{[]string{"--self-timed"}, config.FlagRefused},
	{[]string{"--no-self-timed"}, config.FlagRefused},
	{[]string{"--lora-modules", "a", "b"}, config.FlagRefused},
	{[]string{"--lora-assignment", "round-robin"}, config.FlagNoEffect},
	{[]string{"--profile"}, config.FlagRefused},
	{[]string{"--disable-tqdm"}, config.FlagCommand},
	{[]string{"--ignore-eos"}, config.FlagWorks},
	{[]string{"--logprobs", "2"}, config.FlagWorks},
	{[]string{"--temperature", "0"}, config.FlagWorks},
	{[]string{"--top-p", "0.9"}, config.FlagWorks},
	{[]string{"--top-k", "40"}, config.FlagWorks},
	{[]string{"--min-p", "0.1"}, config.FlagWorks},
	{[]string{"--frequency-penalty", "0.5"}, config.FlagWorks},
	{[]string{"--presence-penalty", "0.5"}, config.FlagWorks},
	{[]string{"--repetition-penalty", "1.1"}, config.FlagWorks},
	{[]string{"--extra-body", `{"min_tokens": 2}`}, config.FlagWorks},
	{[]string{"--use-beam-search"}, config.FlagRefused},
	{[]string{"--chat-template-kwargs", `{"thinking": true}`}, config.FlagRefused},
	{[]string{"--dataset-name", "sonnet"}, config.FlagWorks},
	{[]string{"--dataset-path", "benchmarks/sonnet.txt", "--dataset-name", "sonnet"}, config.FlagWorks},
	{[]string{"--input-len", "100"}, config.FlagWorks},
	{[]string{"--output-len", "10"}, config.FlagWorks},
	{[]string{"--sonnet-input-len", "300", "--dataset-name", "sonnet"}, config.FlagWorks},
	{[]string{"--sonnet-output-len", "20", "--dataset-name", "sonnet"}, config.FlagWorks},
	{[]string{"--sonnet-prefix-len", "100", "--dataset-name", "sonnet"}, config.FlagWorks},
	{[]string{"--random-input-len", "64"}, config.FlagWorks},
	{[]string{"--random-output-len", "8"}, config.FlagWorks},
	{[]string{"--random-prefix-len", "16"}, config.FlagWorks},
	{[]string{"--random-range-ratio", "0.5"}, config.FlagWorks},
	{[]string{"--sharegpt-output-len", "64", "--dataset-name", "sharegpt", "--dataset-path", "sharegpt.json"}, config.FlagWorks}, // with another dataset it is refused
	{[]string{"--disable-shuffle"}, config.FlagRefused},
	{[]string{"--no-oversample"}, config.FlagRefused},
	{[]string{"--no-stream"}, config.FlagNoEffect},
	{[]string{"--skip-chat-template"}, config.FlagNoEffect},
	{[]string{"--enable-multimodal-chat"}, config.FlagNoEffect},
	{[]string{"--random-batch-size", "4"}, config.FlagDefaultOnly},
	{[]string{"--no-reranker"}, config.FlagNoEffect},
	{[]string{"--random-mm-base-items-per-request", "2"}, config.FlagNoEffect},
	{[]string{"--random-mm-num-mm-items-range-ratio", "0.5"}, config.FlagNoEffect},
	{[]string{"--random-mm-limit-mm-per-prompt", `{"image": 3}`}, config.FlagNoEffect},
	{[]string{"--random-mm-bucket-config", "{(256, 256, 1): 1.0}"}, config.FlagNoEffect},
	{[]string{"--custom-output-len", "64"}, config.FlagNoEffect},
	{[]string{"--spec-bench-output-len", "64"}, config.FlagNoEffect},
	{[]string{"--spec-bench-category", "coding"}, config.FlagNoEffect},
	{[]string{"--blazedit-min-distance", "0.1"}, config.FlagNoEffect},
	{[]string{"--blazedit-max-distance", "0.9"}, config.FlagNoEffect},
	{[]string{"--hf-subset", "default"}, config.FlagNoEffect},
	{[]string{"--hf-split", "train"}, config.FlagNoEffect},
	{[]string{"--hf-name", "lmarena-ai/VisionArena-Chat"}, config.FlagNoEffect},
	{[]string{"--hf-output-len", "64"}, config.FlagNoEffect},
	{[]string{"--prefix-repetition-prefix-len", "128"}, config.FlagNoEffect},
	{[]string{"--prefix-repetition-suffix-len", "128"}, config.FlagNoEffect},
	{[]string{"--prefix-repetition-num-prefixes", "4"}, config.FlagNoEffect},
	{[]string{"--prefix-repetition-output-len", "64"}, config.FlagNoEffect},
	{[]string{"--percentile-metrics", "ttft,e2el"}, config.FlagWorks},
	{[]string{"--metric-percentiles", "50,90,99"}, config.FlagWorks},
	{[]string{"--goodput", "ttft:500", "tpot:50"}, config.FlagWorks},
	{[]string{"--label", "stress"}, config.FlagWorks},
	{[]string{"--metadata", "gpu=H100", "tp=8"}, config.FlagWorks},
	{[]string{"--save-detailed"}, config.FlagWorks},
	{[]string{"--save-result"}, config.FlagCommand},
	{[]string{"--append-result"}, config.FlagCommand},
	{[]string{"--result-dir", "out"}, config.FlagCommand},
	{[]string{"--result-filename", "r.json"}, config.FlagCommand},
	{[]string{"--plot-timeline"}, config.FlagRefused},
	{[]string{"--timeline-itl-thresholds", "25,50"}, config.FlagNoEffect},
	{[]string{"--plot-dataset-stats"}, config.FlagRefused},
}

func benchParse(args []string) error {
	fs := newFlagSet("bench")
	bindBenchFlags(fs)
	reqs, err := parseRequests(fs, args, vllmRequest)
	if err != nil {
		return err
	}
	return reqs[0].ValidateFields()
}

// Each v0.20 flag, given as a user gives it, either parses and validates
// (works) or fails naming the flag and the reason from config.VLLMFlags; a
// flag that only accepts vLLM's default takes the default.
func TestEveryVLLMFlag(t *testing.T) {
	table := map[string]config.VLLMFlag{}
	for _, f := range config.VLLMFlags {
		table[f.Name] = f
	}
	counts := map[config.FlagStatus]int{}
	seen := map[string]bool{}
	for _, c := range vllmCommandLine {
		name := strings.TrimPrefix(c.args[0], "--")
		f, ok := table[name]
		if !ok {
			t.Errorf("--%s is not in config.VLLMFlags", name)
			continue
		}
		if f.Status != c.status {
			t.Errorf("--%s: status %q, want %q", name, f.Status, c.status)
		}
		if !seen[name] {
			counts[f.Status]++
		}
		seen[name] = true
		err := benchParse(c.args)
		switch f.Status {
		case config.FlagWorks, config.FlagNoEffect, config.FlagCommand:
			if err != nil {
				t.Errorf("%v: %v", c.args, err)
			}
		case config.FlagRefused, config.FlagDefaultOnly:
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), f.Reason) {
				t.Errorf("%v: want a refusal naming --%s and saying %q, got %v", c.args, name, f.Reason, err)
			}
			if f.Status == config.FlagDefaultOnly {
				if err := benchParse([]string{c.args[0], f.Accept[0]}); err != nil {
					t.Errorf("--%s %s (vLLM's default): %v", name, f.Accept[0], err)
				}
			}
		}
	}
	for name := range table {
		if !seen[name] {
			t.Errorf("config.VLLMFlags lists --%s, which is not in vLLM v0.20's parser", name)
		}
	}
	t.Logf("%d flags: %d work as in vLLM, %d accepted with no effect (as in vLLM), %d command flags, %d only with vLLM's default, %d refused",
		len(seen), counts[config.FlagWorks], counts[config.FlagNoEffect], counts[config.FlagCommand], counts[config.FlagDefaultOnly], counts[config.FlagRefused])
}

// --input-len and --output-len set every dataset's length and win over
// the dataset flags in either order, as v0.20 maps them after parsing.
func TestGeneralLengthsWinOverDatasetLengths(t *testing.T) {
	for _, args := range [][]string{
		{"--input-len", "100", "--random-input-len", "50", "--output-len", "9", "--sonnet-output-len", "3"},
		{"--random-input-len", "50", "--input-len", "100", "--sonnet-output-len", "3", "--output-len", "9"},
	} {
		reqs, err := parseRequests(newFlagSet("bench"), args, vllmRequest)
		if err != nil {
			t.Fatal(err)
		}
		r := reqs[0]
		if r.RandomInputLen != 100 || r.SonnetInputLen != 100 || r.RandomOutputLen != 9 || r.SonnetOutputLen != 9 || r.SharegptOutputLen != 9 {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// The README lists every flag that is refused or takes only vLLM's default.
func TestREADMEListsTheRefusedFlags(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range config.VLLMFlags {
		if (f.Status == config.FlagRefused || f.Status == config.FlagDefaultOnly) && !strings.Contains(string(readme), "`--"+f.Name) {
			t.Errorf("README does not list --%s (%s)", f.Name, f.Status)
		}
	}
}
