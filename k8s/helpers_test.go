package k8s

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// typed converts an apply configuration into the API type it describes.
func typed[T any](t *testing.T, ac any) T {
	t.Helper()
	var out T
	b, err := json.Marshal(ac)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func manifest(t *testing.T, opts Options) (corev1.Service, appsv1.StatefulSet) {
	t.Helper()
	m, err := Objects(opts)
	if err != nil {
		t.Fatal(err)
	}
	return typed[corev1.Service](t, m.Service), typed[appsv1.StatefulSet](t, m.StatefulSet)
}

// podIPs routes pod addresses (ip:8000) to test servers, as the pod
// network would.
type podIPs map[string]*httptest.Server

func (p podIPs) client() *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		srv, ok := p[host]
		if !ok {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errRefused}
		}
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	return &http.Client{Transport: tr, Timeout: 2 * time.Second}
}

type refused struct{}

func (refused) Error() string { return "connection refused" }

var errRefused = refused{}

// vllmServer answers /health and /v1/models like vLLM serving models.
func vllmServer(t *testing.T, models ...string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		var data []map[string]string
		for _, m := range models {
			data = append(data, map[string]string{"id": m, "object": "model"})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func pvc(ns, name string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
}

// deployed returns a fake cluster with the run applied by Deploy and the
// model-storage claim present.
func deployed(t *testing.T, opts Options) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset(pvc(opts.Namespace, "model-storage"))
	if _, err := Deploy(context.Background(), cs, opts); err != nil {
		t.Fatal(err)
	}
	return cs
}

// kubelet-style pod statuses.

func pendingPod(opts Options, i int) *corev1.Pod {
	name := ResourceName(opts.RunID)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name + "-" + itoa(i),
			Namespace: opts.Namespace,
			Labels:    runLabels(opts.RunID),
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func scheduled(p *corev1.Pod) *corev1.Pod {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	return p
}

func loadingPod(opts Options, i int, ip string) *corev1.Pod {
	p := scheduled(pendingPod(opts, i))
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	started := false
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse})
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "vllm", Started: &started,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
	}}
	return p
}

func readyPod(opts Options, i int, ip string) *corev1.Pod {
	p := loadingPod(opts, i, ip)
	started := true
	p.Status.Conditions[1].Status = corev1.ConditionTrue
	p.Status.ContainerStatuses[0].Started = &started
	p.Status.ContainerStatuses[0].Ready = true
	return p
}

var podGVR = corev1.SchemeGroupVersion.WithResource("pods")

func itoa(i int) string { return strconv.Itoa(i) }
