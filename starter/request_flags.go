package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// parseRequests reads requests from --config FILE (JSON or YAML: one
// request, a list, or benchmarkSpecs) with vLLM's flags applied on top of
// each, defaults filled. fs holds the command's own flags; they are set by
// the same parse.
func parseRequests(fs *flag.FlagSet, args []string, kind requestKind) ([]config.Request, error) {
	args = config.NormalizeArgs(args)
	configPath := ""
	for i, a := range args {
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				configPath = args[i+1]
			}
		case strings.HasPrefix(a, "--config="):
			configPath = strings.TrimPrefix(a, "--config=")
		}
	}
	reqs := []config.Request{{}}
	if configPath != "" {
		var err error
		if reqs, err = config.LoadFile(configPath); err != nil {
			return nil, fmt.Errorf("--config %s: %w", configPath, err)
		}
	}
	out := make([]config.Request, 0, len(reqs))
	for i := range reqs {
		set := newFlagSet(fs.Name())
		fs.VisitAll(func(f *flag.Flag) { set.Var(f.Value, f.Name, f.Usage) })
		bindRequestFlags(set, &reqs[i], kind == fullRequest)
		if err := set.Parse(args); err != nil {
			return nil, flagError(fs.Name(), err)
		}
		if set.NArg() > 0 {
			return nil, usageError{fs.Name(), fmt.Sprintf("unexpected argument %q", set.Arg(0))}
		}
		// NoteFlagsGiven reads flag names as the request's field names: the
		// command's own flags are none, --k8s-namespace is namespace.
		given := flag.NewFlagSet("", flag.ContinueOnError)
		set.Visit(func(f *flag.Flag) {
			if fs.Lookup(f.Name) != nil {
				return
			}
			name := f.Name
			if name == "k8s-namespace" {
				name = "namespace"
			}
			given.Var(noValue{}, name, "")
			_ = given.Set(name, "")
		})
		reqs[i].NoteFlagsGiven(given)
		out = append(out, reqs[i].Defaults())
	}
	return out, nil
}

// bindRequestFlags registers the request flags on fs, writing into r: with
// kube, the Kubernetes flags too, the namespace one as --k8s-namespace
// (--namespace is Temporal's). A flag fs already has is the command's own.
func bindRequestFlags(fs *flag.FlagSet, r *config.Request, kube bool) {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	config.BindFlags(all, r)
	all.String("config", "", "JSON or YAML file with the request, a list of them, or benchmarkSpecs")
	all.VisitAll(func(f *flag.Flag) {
		name := f.Name
		if name == "namespace" {
			name = "k8s-namespace"
		}
		if kubeFlags[name] && !kube || fs.Lookup(name) != nil {
			return
		}
		fs.Var(f.Value, name, f.Usage)
	})
}

type noValue struct{}

func (noValue) String() string   { return "" }
func (noValue) Set(string) error { return nil }
