package k8s

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func gpuNode(name, product string) *corev1.Node {
	labels := map[string]string{"kubernetes.io/hostname": name}
	if product != "" {
		labels[GPUProductLabel] = product
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestResolveGPUType(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    []*corev1.Node
		selector map[string]string
		gpu      string
		want     map[string]string
	}{
		{"h100", []*corev1.Node{gpuNode("a", "NVIDIA-H100-80GB-HBM3"), gpuNode("cpu", "")}, nil,
			"H100", map[string]string{GPUProductLabel: "NVIDIA-H100-80GB-HBM3"}},
		{"h200", []*corev1.Node{gpuNode("a", "NVIDIA-H200")}, map[string]string{"pool": "x"},
			"H200", map[string]string{GPUProductLabel: "NVIDIA-H200", "pool": "x"}},
		{"majority", []*corev1.Node{gpuNode("a", "NVIDIA-H200"), gpuNode("b", "NVIDIA-H100-80GB-HBM3"), gpuNode("c", "NVIDIA-H100-80GB-HBM3")}, nil,
			"H100", map[string]string{GPUProductLabel: "NVIDIA-H100-80GB-HBM3"}},
		{"tie prefers H200", []*corev1.Node{gpuNode("a", "NVIDIA-H200"), gpuNode("b", "NVIDIA-H100-NVL")}, nil,
			"H200", map[string]string{GPUProductLabel: "NVIDIA-H200"}},
		{"selector kept", []*corev1.Node{gpuNode("a", "NVIDIA-H200")}, map[string]string{GPUProductLabel: "mine"},
			"H200", map[string]string{GPUProductLabel: "mine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, n := range tc.nodes {
				objs = append(objs, n)
			}
			cs := fake.NewClientset(objs...)
			got, err := ResolveGPUType(context.Background(), cs, Options{RunID: "r", GPUType: "auto", NodeSelector: tc.selector})
			if err != nil {
				t.Fatal(err)
			}
			if got.GPUType != tc.gpu || !reflect.DeepEqual(got.NodeSelector, tc.want) {
				t.Errorf("got %s %v, want %s %v", got.GPUType, got.NodeSelector, tc.gpu, tc.want)
			}
			if _, sts := manifest(t, got); sts.Spec.Template.Spec.NodeSelector[GPUProductLabel] != tc.want[GPUProductLabel] {
				t.Errorf("pods not pinned to the product: %v", sts.Spec.Template.Spec.NodeSelector)
			}
		})
	}
}

func TestResolveGPUTypeErrors(t *testing.T) {
	ctx := context.Background()
	_, err := ResolveGPUType(ctx, fake.NewClientset(gpuNode("cpu", "")), Options{GPUType: "auto"})
	if err == nil || !strings.Contains(err.Error(), "no GPU nodes") {
		t.Errorf("no GPU nodes: %v", err)
	}
	_, err = ResolveGPUType(ctx, fake.NewClientset(gpuNode("a", "NVIDIA-A100-SXM4-80GB")), Options{GPUType: "auto"})
	if err == nil || !strings.Contains(err.Error(), "NVIDIA-A100-SXM4-80GB") {
		t.Errorf("other GPUs: %v", err)
	}
	// Deploy resolves auto too, and the model follows the nodes.
	cs := fake.NewClientset(gpuNode("a", "NVIDIA-H100-80GB-HBM3"))
	d, err := Deploy(ctx, cs, Options{RunID: "r", GPUType: "auto"})
	if err != nil || d.GPUType != "H100" || d.Model != ModelH100 || d.ServedModelName != ModelH100 {
		t.Errorf("deploy auto: %+v, %v", d, err)
	}
	// Explicit types never read nodes.
	got, err := ResolveGPUType(ctx, fake.NewClientset(), Options{GPUType: "H200"})
	if err != nil || got.GPUType != "H200" || got.NodeSelector != nil {
		t.Errorf("explicit: %+v %v", got, err)
	}
}
