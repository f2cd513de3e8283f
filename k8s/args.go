package k8s

import (
	"fmt"
	"strconv"
	"strings"
)

// ServerCommand starts vLLM's OpenAI-compatible server (the image's own
// entrypoint in v0.10.0; `vllm serve` takes the model positionally instead).
var ServerCommand = []string{"python3", "-m", "vllm.entrypoints.openai.api_server"}

// DefaultArgs are the server flags of a run, before vllm_args.
func DefaultArgs(model, servedName string) []string {
	return []string{
		"--model=" + ModelStorageMount + "/" + model,
		"--served-model-name=" + servedName,
		"--tensor-parallel-size=8",
		"--max-num-batched-tokens=16384",
		"--max-model-len=16384",
		"--num-scheduler-steps=16",
		"--enable-chunked-prefill=False",
		"--seed=42",
	}
}

// MergeArgs applies extra flags to defaults: a flag whose name matches a
// default replaces it in place (so does its --no- form for a boolean),
// anything else is appended in order. "--flag value" pairs are joined into
// "--flag=value".
func MergeArgs(defaults, extra []string) []string {
	out := append([]string(nil), defaults...)
	index := map[string]int{}
	for i, a := range out {
		index[flagName(a)] = i
	}
	for _, a := range joinPairs(extra) {
		name := flagName(a)
		i, ok := index[name]
		if !ok {
			i, ok = index[strings.TrimPrefix(name, "no-")]
		}
		if ok && strings.HasPrefix(a, "--") {
			out[i] = a
			continue
		}
		out = append(out, a)
	}
	return out
}

// ArgValue is the value of --name=value (or "--name value") in args.
func ArgValue(args []string, name string) (string, bool) {
	for _, a := range joinPairs(args) {
		if flagName(a) == name {
			_, v, ok := strings.Cut(a, "=")
			return v, ok
		}
	}
	return "", false
}

// TensorParallelSize is the GPU count each replica needs, from the final
// server args (1 when the flag is absent, as vLLM defaults).
func TensorParallelSize(args []string) (int, error) {
	v, ok := ArgValue(args, "tensor-parallel-size")
	if !ok {
		v, ok = ArgValue(args, "tp")
	}
	if !ok {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--tensor-parallel-size=%q: want a positive integer", v)
	}
	return n, nil
}

// flagName is a flag's name without dashes or value, with '_' read as '-'
// as vLLM's parser does; a non-flag is its own name.
func flagName(a string) string {
	if !strings.HasPrefix(a, "-") {
		return a
	}
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return strings.ReplaceAll(name, "_", "-")
}

func joinPairs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && !strings.Contains(a, "=") &&
			i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			a += "=" + args[i+1]
			i++
		}
		out = append(out, a)
	}
	return out
}
