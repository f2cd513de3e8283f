package k8s

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// GPUProductLabel is set on GPU nodes by NVIDIA's GPU feature discovery,
// e.g. NVIDIA-H100-80GB-HBM3 or NVIDIA-H200.
const GPUProductLabel = "nvidia.com/gpu.product"

// ResolveGPUType turns gpu_type auto into H100 or H200 from the nodes'
// GPU product labels, and pins the pods to the chosen product with a node
// selector (unless the options already select on that label). Other GPU
// types are returned unchanged. It needs get/list on nodes.
func ResolveGPUType(ctx context.Context, cs kubernetes.Interface, opts Options) (Options, error) {
	if opts.GPUType != GPUAuto {
		return opts, nil
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: GPUProductLabel})
	if err != nil {
		return opts, fmt.Errorf("k8s: gpu_type auto: list nodes: %w", err)
	}
	// Count nodes per type and per exact product name.
	count := map[string]int{}
	products := map[string]map[string]int{}
	var other []string
	for _, n := range nodes.Items {
		product := n.Labels[GPUProductLabel]
		typ := gpuTypeOf(product)
		if typ == "" {
			other = append(other, product)
			continue
		}
		count[typ]++
		if products[typ] == nil {
			products[typ] = map[string]int{}
		}
		products[typ][product]++
	}
	if len(count) == 0 {
		if len(other) == 0 {
			return opts, fmt.Errorf("k8s: gpu_type auto: no GPU nodes (no node has the %s label); set gpu_type to H100 or H200", GPUProductLabel)
		}
		sort.Strings(other)
		return opts, fmt.Errorf("k8s: gpu_type auto: no H100 or H200 nodes (found %s); set gpu_type and model explicitly", strings.Join(other, ", "))
	}
	// The type with more nodes wins; a tie goes to H200 (the full model).
	typ := GPUH200
	if count[GPUH100] > count[GPUH200] {
		typ = GPUH100
	}
	opts.GPUType = typ
	if _, set := opts.NodeSelector[GPUProductLabel]; !set {
		selector := map[string]string{GPUProductLabel: mostCommon(products[typ])}
		for k, v := range opts.NodeSelector {
			selector[k] = v
		}
		opts.NodeSelector = selector
	}
	return opts, nil
}

func gpuTypeOf(product string) string {
	p := strings.ToUpper(product)
	switch {
	case strings.Contains(p, "H200"):
		return GPUH200
	case strings.Contains(p, "H100"):
		return GPUH100
	}
	return ""
}

func mostCommon(m map[string]int) string {
	best := ""
	for k, n := range m {
		if best == "" || n > m[best] || n == m[best] && k < best {
			best = k
		}
	}
	return best
}
