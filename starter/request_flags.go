package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// parseRequests reads requests from --config FILE (JSON or YAML: one
// request, a list, or benchmarkSpecs) with vLLM's flags applied on top of
// each, defaults filled. fs holds the command's own flags; they are set by
// the same parse.
func parseRequests(fs *flag.FlagSet, args []string) ([]config.Request, error) {
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
		set := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		set.Usage = func() {
			fmt.Fprintf(os.Stderr, "usage: starter %s [flags]\n", fs.Name())
			set.PrintDefaults()
		}
		fs.VisitAll(func(f *flag.Flag) { set.Var(f.Value, f.Name, f.Usage) })
		set.String("config", "", "JSON or YAML file with the request, a list of them, or benchmarkSpecs")
		config.BindFlags(set, &reqs[i])
		if err := set.Parse(args); err != nil {
			return nil, exitError{2, err}
		}
		if set.NArg() > 0 {
			return nil, exitError{2, fmt.Errorf("unexpected argument %q", set.Arg(0))}
		}
		reqs[i].NoteFlagsGiven(set)
		out = append(out, reqs[i].Defaults())
	}
	return out, nil
}
