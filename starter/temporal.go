package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/preflight"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// temporalFlags are where Temporal is, as Temporal's CLI names them.
type temporalFlags struct {
	address, namespace string
}

func bindTemporalFlags(fs *flag.FlagSet) *temporalFlags {
	t := &temporalFlags{}
	fs.StringVar(&t.address, "address", envOr("TEMPORAL_ADDRESS", client.DefaultHostPort), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fs.StringVar(&t.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", client.DefaultNamespace), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	return t
}

func (t *temporalFlags) dial(ctx context.Context) (client.Client, error) {
	opts := client.Options{HostPort: t.address, Namespace: t.namespace}
	if key := os.Getenv("TEMPORAL_API_KEY"); key != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (--address, TEMPORAL_ADDRESS): %w", opts.HostPort, err)
	}
	return c, nil
}

// namespaceHint explains a namespace Temporal does not know: before
// --k8s-namespace, --namespace was the Kubernetes namespace.
func (t *temporalFlags) namespaceHint(err error) error {
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w (--namespace %s is the Temporal namespace; the Kubernetes namespace to deploy into is --k8s-namespace)", err, t.namespace)
	}
	return err
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// startRun validates a request and starts its workflow; nothing is started
// when the request is invalid.
func startRun(ctx context.Context, c client.Client, req config.Request, id string) (client.WorkflowRun, error) {
	req = req.Defaults()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if id == "" {
		id = "stress-" + time.Now().UTC().Format("20060102-150405") + "-" + uuid.NewString()[:8]
	}
	if err := ensureTokenSecret(ctx, &req, id); err != nil {
		return nil, err
	}
	return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.OrchestrationTaskQueue,
		StaticSummary:         staticSummary(req),
		StaticDetails:         staticDetails(req),
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.WorkflowName, req)
}

// staticSummary is the one line the Web UI shows for a run, e.g.
// "Llama-3.1-405B-Instruct-FP8 x2 replicas, 12 req/s, 11h 34m".
func staticSummary(req config.Request) string {
	model := req.Model
	if i := strings.LastIndex(model, "/"); i >= 0 {
		model = model[i+1:]
	}
	if model == "" {
		model = "server's model"
	}
	s := fmt.Sprintf("%s x%d replica(s), %s req/s, %d prompts, %s", model, req.Replicas(), req.RequestRate.String(), req.NumPrompts, req.DatasetName)
	if !req.RequestRate.IsInf() {
		d := time.Duration(float64(req.NumPrompts) / float64(*req.RequestRate) * float64(time.Second))
		s += ", ~" + roughDuration(d)
	}
	return s
}

// roughDuration reads like "11h34m", "2m", "45s".
func roughDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	out := d.Round(time.Minute).String()
	out = strings.TrimSuffix(out, "0s")
	return strings.TrimSuffix(out, "h0m")
}

// staticDetails is the markdown the Web UI shows under the summary.
func staticDetails(req config.Request) string {
	var b strings.Builder
	b.WriteString("| setting | value |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" && v != "0" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, v)
		}
	}
	row("model", req.Model)
	row("backend", req.Backend+" "+req.Endpoint)
	row("dataset", req.DatasetName)
	if req.DatasetName == "sonnet" {
		row("sonnet input/prefix/output", fmt.Sprintf("%d/%d/%d", req.SonnetInputLen, req.SonnetPrefixLen, req.SonnetOutputLen))
	}
	row("request rate (per replica)", req.RequestRate.String()+" req/s")
	row("prompts (per replica)", strconv.Itoa(req.NumPrompts))
	row("replicas", strconv.Itoa(req.Replicas()))
	row("slice", fmt.Sprintf("%gs", req.SliceSeconds))
	row("deploy", req.Deploy)
	row("gpu type", req.GPUType)
	row("label", req.Label)
	return b.String()
}

// checkRequest is what every entry does before anything is created:
// Validate, then (unless skipped) ask every server whether it is up and
// serves the model.
func checkRequest(ctx context.Context, req config.Request, checkServers bool) error {
	if err := req.Validate(); err != nil {
		return err
	}
	if checkServers {
		return preflight.Check(ctx, req, nil)
	}
	return nil
}

func startCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	wait := fs.Bool("wait", false, "follow the run and exit 0 only when it completed")
	id := fs.String("id", "", "workflow id (default stress-<time>-<random>)")
	sequential := fs.Bool("sequential", false, "with a list of specs: run them one after another (each waits for the previous)")
	noPreflight := fs.Bool("no-preflight", false, "start without asking the servers for /health and /v1/models first (when only the workers reach them)")
	return func(ctx context.Context, args []string) error {
		reqs, err := parseRequests(fs, args, fullRequest)
		if err != nil {
			return err
		}
		// Check all first: a bad spec starts nothing.
		for i, r := range reqs {
			if err := checkRequest(ctx, r, !*noPreflight); err != nil {
				if len(reqs) == 1 {
					return err
				}
				return fmt.Errorf("spec %d: %w", i, err)
			}
		}
		c, err := t.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		for i, r := range reqs {
			wid := *id
			if wid != "" && len(reqs) > 1 {
				wid = fmt.Sprintf("%s-%d", wid, i)
			}
			run, err := startRun(ctx, c, r, wid)
			if err != nil {
				return t.namespaceHint(err)
			}
			fmt.Printf("started %s\n  Web UI: %s\n", run.GetID(), webURL(t.namespace, run.GetID()))
			if *wait || *sequential {
				if err := follow(ctx, c, run.GetID(), viewOn(os.Stderr, false)); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func webURL(namespace, id string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", envOr("TEMPORAL_UI", "http://localhost:8233"), namespace, id)
}

func queryProgress(ctx context.Context, c client.Client, id string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
	if err != nil {
		return p, err
	}
	return p, v.Get(&p)
}

func resultCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	asJSON := fs.Bool("json", false, "print the result JSON")
	return func(ctx context.Context, args []string) error {
		id := args[0]
		store, err := results.FromEnv(ctx, os.Getenv)
		if err != nil {
			return err
		}
		key := results.TableKey(id)
		if *asJSON {
			key = results.ResultKey(id)
		}
		body, err := store.Get(ctx, key)
		if err != nil {
			// Still running: show its live progress instead.
			c, derr := t.dial(ctx)
			if derr != nil {
				return err
			}
			defer c.Close()
			p, qerr := queryProgress(ctx, c, id)
			if qerr != nil {
				return fmt.Errorf("no result for %s yet (%v) and no progress (%v)", id, err, qerr)
			}
			if *asJSON {
				b, _ := json.MarshalIndent(p, "", "  ")
				fmt.Println(string(b))
			} else {
				fmt.Println(strings.Join(liveLines(p, time.Now()), "\n")) // watch's view, not the Web UI's markdown
			}
			return nil
		}
		os.Stdout.Write(body)
		if *asJSON {
			fmt.Println()
		}
		return nil
	}
}

func stopCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	return func(ctx context.Context, args []string) error {
		c, err := t.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		reason := strings.Join(args[1:], " ")
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: args[0], UpdateName: workflows.StopUpdate,
			Args: []any{reason}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return err
		}
		var p workflows.Progress
		if err := h.Get(ctx, &p); err != nil {
			return err
		}
		fmt.Printf("stopping %s after slice %d/%d; what ran is aggregated\n", args[0], p.SlicesStarted, p.SlicesTotal)
		return nil
	}
}

func cancelCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	return func(ctx context.Context, args []string) error {
		c, err := t.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.CancelWorkflow(ctx, args[0], ""); err != nil {
			return err
		}
		fmt.Printf("cancelling %s: it tears down and writes the partial result\n", args[0])
		return nil
	}
}
