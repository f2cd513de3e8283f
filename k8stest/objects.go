package k8stest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GPUResource and GPUProductLabel are what NVIDIA's device plugin and GPU
// feature discovery put on a GPU node.
const (
	GPUResource     corev1.ResourceName = "nvidia.com/gpu"
	GPUProductLabel                     = "nvidia.com/gpu.product"
)

// KWOK manages the nodes with this annotation (and only those).
const kwokAnnotation = "kwok.x-k8s.io/node"

// pollEvery is how often the helpers look again while waiting.
const pollEvery = 200 * time.Millisecond

// AddGPUNode adds a fake node with gpus GPUs of the given product (e.g.
// NVIDIA-H100-80GB-HBM3) and waits until KWOK reports it Ready.
func (c *Cluster) AddGPUNode(t testing.TB, name, product string, gpus int) {
	t.Helper()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("192"),
		corev1.ResourceMemory: resource.MustParse("2Ti"),
		corev1.ResourcePods:   resource.MustParse("110"),
		GPUResource:           *resource.NewQuantity(int64(gpus), resource.DecimalSI),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", GPUProductLabel: product,
			},
		},
		// KWOK takes pod IPs from the node's CIDR: one loopback /24 per node
		// (127.0.1.0/24, 127.0.2.0/24, ...), so pods on different nodes never
		// share an address.
		Spec:   corev1.NodeSpec{PodCIDR: fmt.Sprintf("127.0.%d.0/24", c.nodes+1)},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	c.nodes++
	ctx := context.Background()
	if _, err := c.clientset.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: add node %s: %v", name, err)
	}
	c.waitFor(t, 30*time.Second, "node "+name+" Ready", func() (bool, error) {
		n, err := c.clientset.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// CreateNamespace creates a namespace and waits for its default
// ServiceAccount (pods cannot be created before it exists).
func (c *Cluster) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("k8stest: create namespace %s: %v", name, err)
	}
	c.waitFor(t, 30*time.Second, "ServiceAccount "+name+"/default", func() (bool, error) {
		_, err := c.clientset.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// AddPVC creates claim ns/name bound to a hostPath volume made for it (an
// unbound claim would leave its pods Unschedulable) and waits until the
// claim is Bound.
func (c *Cluster) AddPVC(t testing.TB, ns, name string) {
	t.Helper()
	ctx := context.Background()
	pvName := "k8stest-" + ns + "-" + name
	size := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Ti")}
	modes := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	noClass := ""
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      size,
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(c.dir, "volumes", pvName)},
			},
			ClaimRef:         &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name},
			StorageClassName: noClass,
		},
	}
	if _, err := c.clientset.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: create volume %s: %v", pvName, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      modes,
			Resources:        corev1.VolumeResourceRequirements{Requests: size},
			VolumeName:       pvName,
			StorageClassName: &noClass,
		},
	}
	if _, err := c.clientset.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("k8stest: create claim %s/%s: %v", ns, name, err)
	}
	c.waitFor(t, 30*time.Second, "claim "+ns+"/"+name+" Bound", func() (bool, error) {
		got, err := c.clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.Phase == corev1.ClaimBound, nil
	})
}

// ServiceAccountKubeconfig writes a kubeconfig that authenticates as
// ServiceAccount ns/name (which must exist, e.g. from Apply) with a token
// from the TokenRequest API, so a client gets exactly the permissions the
// cluster's RBAC grants that account.
func (c *Cluster) ServiceAccountKubeconfig(t testing.TB, ns, name string) string {
	t.Helper()
	expiry := int64(3600)
	tr, err := c.clientset.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("k8stest: token for ServiceAccount %s/%s: %v", ns, name, err)
	}
	path := filepath.Join(c.dir, fmt.Sprintf("sa-%s-%s.kubeconfig", ns, name))
	c.writeKubeconfig(t, path, "system:serviceaccount:"+ns+":"+name, tr.Status.Token)
	return path
}

// waitFor polls cond until it holds, failing t after timeout.
func (c *Cluster) waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("k8stest: %s not reached after %s (last error: %v)", what, timeout, err)
		}
		time.Sleep(pollEvery)
	}
}
