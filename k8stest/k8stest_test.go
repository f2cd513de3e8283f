package k8stest_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vibench/vllm-inference-benchmark/k8stest"
)

// One control plane: a pod that fits a fake GPU node runs with a loopback
// IP and its claim mounted, one that does not fit is Unschedulable, and a
// ServiceAccount's kubeconfig has exactly the RBAC applied for it.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := k8stest.Start(t)
	cs := c.Clientset()
	c.AddGPUNode(t, "gpu-0", "NVIDIA-H100-80GB-HBM3", 8)
	c.CreateNamespace(t, "work")
	c.AddPVC(t, "work", "models")

	fits := gpuPod("fits", 8)
	fits.Spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "models"}}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, p := range []*corev1.Pod{fits, gpuPod("too-big", 9)} {
		if _, err := cs.CoreV1().Pods("work").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running := waitPod(ctx, t, cs, "fits", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
	if ip := net.ParseIP(running.Status.PodIP); ip == nil || !ip.IsLoopback() || running.Spec.NodeName != "gpu-0" {
		t.Errorf("pod runs on %q with IP %q, want gpu-0 and a loopback IP", running.Spec.NodeName, running.Status.PodIP)
	}
	pending := waitPod(ctx, t, cs, "too-big", func(p *corev1.Pod) bool {
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Reason == corev1.PodReasonUnschedulable {
				return true
			}
		}
		return false
	})
	if !slices.ContainsFunc(pending.Status.Conditions, func(cond corev1.PodCondition) bool {
		return strings.Contains(cond.Message, "Insufficient nvidia.com/gpu")
	}) {
		t.Errorf("unschedulable pod conditions %+v do not name the GPUs", pending.Status.Conditions)
	}

	applied := c.Apply(t, "work", "testdata/pod-reader.yaml")
	if want := []string{"ServiceAccount/pod-reader", "Role/pod-reader", "RoleBinding/pod-reader"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.ServiceAccountKubeconfig(t, "work", "pod-reader"))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := reader.CoreV1().Pods("work").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("list pods as the ServiceAccount: %v", err)
	} else if len(pods.Items) != 2 {
		t.Errorf("the ServiceAccount lists %d pods, want 2", len(pods.Items))
	}
	if _, err := reader.CoreV1().Pods("work").Get(ctx, "fits", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("get pod as the ServiceAccount: %v, want Forbidden (only list is granted)", err)
	}
	if _, err := reader.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list pods in another namespace: %v, want Forbidden", err)
	}
}

func gpuPod(name string, gpus int64) *corev1.Pod {
	n := *resource.NewQuantity(gpus, resource.DecimalSI)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "server", Image: "example.invalid/server:1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{k8stest.GPUResource: n}},
		}}},
	}
}

func waitPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	for {
		p, err := cs.CoreV1().Pods("work").Get(ctx, name, metav1.GetOptions{})
		if err == nil && ok(p) {
			return p
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s: condition not reached (last: %+v, err %v)", name, p, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
