// Command starter runs benchmarks directly (bench), recomputes results
// (recompute), shows token counts (tokenize), and starts, follows and
// controls durable stress-test workflows on Temporal.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vibench/vllm-inference-benchmark/config"
)

const usage = `usage: starter COMMAND [flags]

Commands:
  bench       run one benchmark now, in this process (vllm bench serve's flags)
  recompute   recompute vLLM's table and JSON from stored records or a golden case
  tokenize    print the token ids of stdin's text
  start       start a durable stress-test workflow on Temporal
  watch       follow a running workflow's progress
  result      print a run's vLLM table (--json: its result JSON)
  stop        stop a run early; what ran is aggregated
  cancel      cancel a run; it tears down and writes the partial result
  serve       the old HTTP API: POST /start-load, GET /runs/ID
  deploy      print the Kubernetes objects a run would create (--dry-run -o yaml)
  report      write report.html for a finished run

Run "starter COMMAND -h" for a command's flags.
`

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds := map[string]func(context.Context, []string) error{
		"bench":     runBench,
		"recompute": runRecompute,
		"tokenize":  runTokenize,
	}
	for name, fn := range temporalCommands() {
		cmds[name] = fn
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
			fmt.Print(usage)
			return
		}
		fmt.Fprintf(os.Stderr, "starter: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := cmd(ctx, os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		var ee exitError
		var ve *config.ValidationError
		switch {
		case errors.As(err, &ee):
			os.Exit(ee.code)
		case errors.As(err, &ve):
			os.Exit(2)
		}
		os.Exit(1)
	}
}
