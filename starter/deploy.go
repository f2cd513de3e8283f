package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/k8s"
)

// deployCommand prints every Kubernetes object a run would create, without a
// cluster, so it can be reviewed before a run applies it: with HF_TOKEN
// exported, the token Secret `start` would create (without the token) and
// the pods' reference to it. How the flags were adapted to the image's vLLM
// release goes to stderr.
func deployCommand(fs *flag.FlagSet) runFunc {
	dryRun := fs.Bool("dry-run", false, "print the objects instead of applying them (the only mode: runs deploy through the workflow)")
	output := fs.String("o", "yaml", "output format: yaml")
	runID := fs.String("run-id", "dry-run", "run id the object names and labels derive from")
	return func(_ context.Context, args []string) error {
		reqs, err := parseRequests(fs, args, fullRequest)
		if err != nil {
			return err
		}
		return printDeploy(reqs, *dryRun, *output, *runID)
	}
}

func printDeploy(reqs []config.Request, dryRun bool, output, runID string) error {
	if !dryRun || output != "yaml" {
		return usageError{"deploy", "give --dry-run -o yaml (a run deploys through `starter start` with --deploy kubernetes)"}
	}
	for _, req := range reqs {
		req.Deploy = "kubernetes"
		if err := req.Validate(); err != nil {
			return err
		}
		opts := k8s.OptionsFromRequest(req, runID)
		createsSecret := createsTokenSecret(req)
		if createsSecret {
			opts.HFTokenSecret = k8s.TokenSecretName(runID)
		}
		if err := k8s.RenderYAML(os.Stdout, opts, createsSecret); err != nil {
			return err
		}
		m, _ := k8s.Objects(opts)
		for _, w := range m.Warnings {
			fmt.Fprintln(os.Stderr, "warning:", w)
		}
	}
	return nil
}

// ensureTokenSecret creates the run's Hugging Face token Secret from the
// HF_TOKEN of the person starting the run, with their kubeconfig, so the
// token never passes through Temporal; the request carries only its name.
func ensureTokenSecret(ctx context.Context, req *config.Request, runID string) error {
	if !createsTokenSecret(*req) {
		return nil
	}
	token := os.Getenv("HF_TOKEN")
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("HF_TOKEN is set but no kubeconfig to create its Secret with: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := req.Namespace
	if ns == "" {
		ns = "default"
	}
	name := k8s.TokenSecretName(runID)
	if err := k8s.EnsureTokenSecret(ctx, cs, ns, name, runID, token); err != nil {
		return fmt.Errorf("create the HF token Secret %s/%s: %w", ns, name, err)
	}
	req.HFTokenSecret = name
	return nil
}

// createsTokenSecret says whether `start` creates the run's token Secret:
// a Kubernetes run, HF_TOKEN exported, and no Secret of the operator's named.
func createsTokenSecret(req config.Request) bool {
	return req.Deploy == "kubernetes" && req.HFTokenSecret == "" && os.Getenv("HF_TOKEN") != ""
}
