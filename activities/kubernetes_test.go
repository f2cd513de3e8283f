package activities

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// The Deployment a run records says which image and exact arguments the
// pods run with, and how the arguments were adapted to the image.
func TestKubernetesDeployRecordsImageArgsAndWarnings(t *testing.T) {
	d := Kubernetes{Client: fake.NewClientset()}
	req := config.Request{Deploy: "kubernetes", GPUType: "H100", Namespace: "bench", Image: "vllm/vllm-openai:v0.10.1"}
	dep, err := d.Deploy(context.Background(), "run-1", req)
	if err != nil {
		t.Fatal(err)
	}
	if dep.Kind != "kubernetes" || dep.Namespace != "bench" || dep.Image != req.Image {
		t.Errorf("deployment %+v", dep)
	}
	if slices.Contains(dep.Args, "--num-scheduler-steps=16") || !slices.Contains(dep.Args, "--no-enable-chunked-prefill") {
		t.Errorf("args %q", dep.Args)
	}
	if len(dep.Warnings) != 2 || !strings.Contains(dep.Warnings[0], "dropped --num-scheduler-steps=16") {
		t.Errorf("warnings %q", dep.Warnings)
	}
}

// What cannot be rendered fails for good, before anything is applied.
func TestKubernetesDeployRefusesWhatCannotRender(t *testing.T) {
	cs := fake.NewClientset()
	d := Kubernetes{Client: cs}
	for _, req := range []config.Request{
		{Deploy: "kubernetes", GPUType: "H100", Memory: "16Gi", ShmSize: "32Gi"},
		{Deploy: "kubernetes", GPUType: "H100", Image: "vllm/vllm-openai:v0.5.4"},
	} {
		_, err := d.Deploy(context.Background(), "run-1", req)
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || !ae.NonRetryable() || ae.Type() != ErrInvalidRequest {
			t.Errorf("%+v: err %v, want a non-retryable %s", req, err, ErrInvalidRequest)
		}
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("%d API calls for requests that cannot deploy", n)
	}
}
