package main

import (
	"github.com/vibench/vllm-inference-benchmark/internal/testtools"

	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.uber.org/zap"

	"github.com/vibench/vllm-inference-benchmark/internal/freeport"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// A namespace set up for an older release has only some of the search
// attributes: the worker adds the missing ones with their types, so the
// workflow may set them all. One registered with another type makes it
// set none (an unregistered or mistyped one would fail the workflow task).
func TestWorkerCompletesTheNamespacesSearchAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	c := startDevServer(t, "--search-attribute", "VibModel=Keyword", "--namespace", "mistyped")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for range 2 { // the second time, nothing is missing
		if !registerSearchAttributes(ctx, c, "default", zap.NewNop()) {
			t.Fatal("the worker could not complete the default namespace's search attributes")
		}
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range workflows.SearchAttributes {
		if got := have.GetCustomAttributes()[k.GetName()]; got != k.GetValueType() {
			t.Errorf("%s registered as %v, want %v", k.GetName(), got, k.GetValueType())
		}
	}

	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: "mistyped",
		SearchAttributes: map[string]enumspb.IndexedValueType{workflows.HealthAttr.GetName(): enumspb.INDEXED_VALUE_TYPE_TEXT}}); err != nil {
		t.Fatal(err)
	}
	if registerSearchAttributes(ctx, c, "mistyped", zap.NewNop()) {
		t.Error("a namespace with VibHealth as Text must leave the run without search attributes")
	}
}

// startDevServer runs `temporal server start-dev` with extra flags and
// returns a client of its default namespace.
func startDevServer(t *testing.T, flags ...string) client.Client {
	t.Helper()
	bin := testtools.Bin(t, "temporal", "scripts/tools.sh temporal")
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Port(t))
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"server", "start-dev", "--headless", "--ip", host, "--port", port,
		"--log-level", "error"}, flags...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: log.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			t.Cleanup(c.Close)
			return c
		}
		if ctx.Err() != nil {
			t.Fatalf("Temporal dev server on %s: %v", addr, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
