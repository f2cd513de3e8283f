package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// runFunc runs a command with its positional arguments (raw commands: all
// their arguments).
type runFunc func(ctx context.Context, args []string) error

// requestKind says which benchmark request flags a command takes.
type requestKind int

const (
	noRequest   requestKind = iota
	vllmRequest             // vLLM's bench serve flags and this tool's load flags
	fullRequest             // those and the Kubernetes deployment flags
)

// command is one subcommand. Help, completion and parsing all read it.
type command struct {
	name, group, summary string
	synopsis             string // after "starter NAME"
	minArgs, maxArgs     int    // positional arguments; maxArgs -1: any number
	// raw commands parse their arguments themselves (the request flags
	// are parsed once per request of a --config file).
	raw      bool
	request  requestKind
	groups   []flagGroup // titled groups of the command's own flags
	notes    string      // printed after the flags
	examples []string
	// setup registers the command's own flags and returns its run.
	setup func(fs *flag.FlagSet) runFunc
}

type flagGroup struct {
	title string
	names []string
}

const (
	groupVLLM     = "vLLM bench serve flags"
	groupLoad     = "Load (beyond vLLM)"
	groupKube     = "Kubernetes (with --deploy kubernetes)"
	groupTemporal = "Temporal"
	groupOther    = "Flags"
	groupIgnored  = "vLLM flags refused, or accepted without effect as in vLLM (see README)"
)

// commandGroups is the order of the top-level usage.
var commandGroups = []string{"Run a benchmark", "Durable runs on Temporal", "Results", "Kubernetes", "This tool"}

// kubeFlags are the request flags that only act when the run deploys vLLM.
var kubeFlags = map[string]bool{"deploy": true, "gpu-type": true, "replica-count": true, "namespace": true, "k8s-namespace": true,
	"image": true, "vllm-args": true, "hf-token-secret": true, "model-storage-pvc": true, "keep-deployment": true, "ready-timeout": true}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// usageError is a command line that cannot be run; it exits 2 with a hint
// to the command's help.
type usageError struct {
	cmd, msg string
}

func (e usageError) Error() string {
	if e.cmd == "" {
		return fmt.Sprintf("starter: %s; run \"starter -h\" for the commands", e.msg)
	}
	return fmt.Sprintf("starter %s: %s; run \"starter %s -h\" for the flags", e.cmd, e.msg, e.cmd)
}

var flagNameInError = regexp.MustCompile(`(defined: |argument: |flag |for )-([A-Za-z0-9][\w-]*)`)

// flagError turns a flag package error into a usageError that names the
// flag as it is written, --name.
func flagError(cmd string, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag --" + name
		if name == "namespace" && cmd != "" {
			msg += " (--namespace is the Temporal namespace, on the commands that talk to Temporal; the Kubernetes namespace is --k8s-namespace)"
		}
		return usageError{cmd, msg}
	}
	if loc := flagNameInError.FindStringSubmatchIndex(msg); loc != nil {
		msg = msg[:loc[4]] + "-" + msg[loc[4]:]
	}
	return usageError{cmd, msg}
}

// newFlagSet never prints: errors are returned short, help is printed
// from the command table.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// allFlags is every flag the command takes, for help and completion.
func (c command) allFlags() *flag.FlagSet {
	fs := newFlagSet(c.name)
	c.setup(fs)
	if c.request != noRequest {
		bindRequestFlags(fs, &config.Request{}, c.request == fullRequest)
	}
	return fs
}

// wantsHelp: -h, -help or --help anywhere before "--", or "help" first.
func wantsHelp(args []string) bool {
	if len(args) > 0 && args[0] == "help" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// dispatch runs the command line args (without the program name).
func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, topUsage())
		return exitError{2, errors.New("no command given")}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Print(topUsage())
		return nil
	case "--version", "-version":
		fmt.Println("starter", version())
		return nil
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return usageError{"", fmt.Sprintf("unknown command %q", args[0])}
	}
	args = args[1:]
	if wantsHelp(args) {
		printHelp(os.Stdout, c)
		return nil
	}
	fs := newFlagSet(c.name)
	run := c.setup(fs)
	if c.raw {
		return run(ctx, args)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(c.name, err)
	}
	if len(pos) < c.minArgs || c.maxArgs >= 0 && len(pos) > c.maxArgs {
		return usageError{c.name, fmt.Sprintf("want %s, got %d argument(s)", strings.TrimSpace(strings.ReplaceAll(c.synopsis, "[flags]", "")), len(pos))}
	}
	return run(ctx, pos)
}

// parseInterspersed parses flags before, between and after the positional
// arguments, as Temporal's and kubectl's CLIs do; after "--" everything is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func topUsage() string {
	var b strings.Builder
	b.WriteString("starter runs vLLM benchmarks, here or as durable runs on Temporal.\n\nUsage:\n  starter COMMAND [flags] [args]\n")
	cmds := commands()
	for _, g := range commandGroups {
		fmt.Fprintf(&b, "\n%s:\n", g)
		for _, c := range cmds {
			if c.group == g {
				fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
			}
		}
	}
	b.WriteString(`
Flags go before or after the arguments: "starter result ID --json" is "starter result --json ID".
The commands that talk to Temporal take --address and --namespace (or TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE).

Examples:
  starter bench --base-url http://10.0.0.5:8000 --dataset-name sonnet --request-rate 12 --num-prompts 600
  starter start --config specs.yaml --wait
  starter watch stress-20260102-030405-ab12cd34
  starter compare RUN_A RUN_B

Run "starter COMMAND -h" for a command's flags, "starter completion bash" for shell completion.
`)
	return b.String()
}

// printHelp writes a command's help: usage, its flags by group, examples.
func printHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "starter %s: %s\n\nUsage:\n  starter %s %s\n", c.name, c.summary, c.name, c.synopsis)
	fs := c.allFlags()
	byGroup := map[string][]*flag.Flag{}
	fs.VisitAll(func(f *flag.Flag) {
		g := flagGroupOf(c, f.Name)
		byGroup[g] = append(byGroup[g], f)
	})
	order := []string{groupVLLM, groupLoad, groupKube}
	for _, g := range c.groups {
		order = append(order, g.title)
	}
	order = append(order, groupOther, groupTemporal)
	for _, g := range order {
		if len(byGroup[g]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, f := range byGroup[g] {
			printFlag(w, f)
		}
	}
	if ignored := byGroup[groupIgnored]; len(ignored) > 0 {
		names := make([]string, len(ignored))
		for i, f := range ignored {
			names[i] = "--" + f.Name
		}
		fmt.Fprintf(w, "\n%s:\n%s", groupIgnored, wrap(strings.Join(names, " "), 76, "  "))
	}
	if c.notes != "" {
		fmt.Fprintf(w, "\n%s", wrap(c.notes, 76, ""))
	}
	if len(c.examples) > 0 {
		fmt.Fprint(w, "\nExamples:\n")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

func flagGroupOf(c command, name string) string {
	for _, g := range c.groups {
		if slices.Contains(g.names, name) {
			return g.title
		}
	}
	if name == "address" || name == "namespace" {
		return groupTemporal
	}
	if c.request == noRequest {
		return groupOther
	}
	if kubeFlags[name] {
		return groupKube
	}
	for _, f := range config.VLLMFlags {
		if f.Name == name {
			if f.Status == config.FlagWorks {
				return groupVLLM
			}
			return groupIgnored
		}
	}
	return groupLoad
}

func printFlag(w io.Writer, f *flag.Flag) {
	kind, usage := flag.UnquoteUsage(f)
	left := "  --" + f.Name
	if kind != "" {
		left += " " + kind
	}
	if len(left) > 28 {
		fmt.Fprintf(w, "%s\n%30s%s\n", left, "", usage)
		return
	}
	fmt.Fprintf(w, "%-30s%s\n", left, usage)
}

// wrap breaks text into lines of at most width, each starting with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
	return b.String()
}
