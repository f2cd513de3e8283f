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

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:])
	if err == nil {
		return
	}
	if ue, ok := err.(usageError); ok {
		fmt.Fprintln(os.Stderr, ue.Error()) // names the command itself
	} else {
		fmt.Fprintln(os.Stderr, "starter:", err)
	}
	var ee exitError
	var ue usageError
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.As(err, &ue), errors.As(err, &ve):
		os.Exit(2)
	}
	os.Exit(1)
}
