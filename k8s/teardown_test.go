package k8s

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// collectGarbage makes deleting a StatefulSet delete its pods and the
// Secrets it owns, as the garbage collector does.
func collectGarbage(cs *fake.Clientset) {
	cs.PrependReactor("delete", "statefulsets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		ns := action.GetNamespace()
		name := action.(k8stesting.DeleteAction).GetName()
		pods, _ := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), ns)
		for _, p := range pods.(*corev1.PodList).Items {
			if strings.HasPrefix(p.Name, name+"-") {
				cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), ns, p.Name)
			}
		}
		secrets, _ := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("secrets"), corev1.SchemeGroupVersion.WithKind("Secret"), ns)
		for _, s := range secrets.(*corev1.SecretList).Items {
			for _, o := range s.OwnerReferences {
				if o.Kind == "StatefulSet" && o.Name == name {
					cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("secrets"), ns, s.Name)
				}
			}
		}
		return false, nil, nil
	})
}

func count(t *testing.T, cs *fake.Clientset, selector string) map[string]int {
	t.Helper()
	ctx := context.Background()
	opts := metav1.ListOptions{LabelSelector: selector}
	sts, err1 := cs.AppsV1().StatefulSets("bench").List(ctx, opts)
	svc, err2 := cs.CoreV1().Services("bench").List(ctx, opts)
	sec, err3 := cs.CoreV1().Secrets("bench").List(ctx, opts)
	pods, err4 := cs.CoreV1().Pods("bench").List(ctx, opts)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return map[string]int{"statefulsets": len(sts.Items), "services": len(svc.Items), "secrets": len(sec.Items), "pods": len(pods.Items)}
}

func TestTeardown(t *testing.T) {
	defer func(p time.Duration) { teardownPoll = p }(teardownPoll)
	teardownPoll = 5 * time.Millisecond
	ctx := context.Background()
	run1 := Options{RunID: "run-1", Namespace: "bench", Replicas: 2, GPUType: "H100", HFTokenSecret: TokenSecretName("run-1")}
	run2 := Options{RunID: "run-2", Namespace: "bench", GPUType: "H200"}
	cs := fake.NewClientset()
	collectGarbage(cs)
	for _, run := range []string{"run-1", "never-deployed"} {
		if err := EnsureTokenSecret(ctx, cs, "bench", TokenSecretName(run), run, "hf_x"); err != nil {
			t.Fatal(err)
		}
	}
	for _, run := range []Options{run1, run2} {
		if _, err := Deploy(ctx, cs, run); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := cs.CoreV1().Secrets("bench").Get(ctx, TokenSecretName("run-1"), metav1.GetOptions{}); len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "vllm-run-1" {
		t.Errorf("token secret owners %+v, want the run's StatefulSet", s.OwnerReferences)
	}
	users := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "bench", Labels: map[string]string{LabelRunID: "run-1"}}}
	addPods(t, cs, users, readyPod(run1, 0, "127.0.1.1"), readyPod(run1, 1, "127.0.1.2"), readyPod(run2, 0, "127.0.1.3"))

	if err := Teardown(ctx, cs, "bench", "run-1"); err != nil {
		t.Fatal(err)
	}
	if got := count(t, cs, runSelector("run-1")); got["statefulsets"]+got["services"]+got["pods"] != 0 || got["secrets"] != 1 {
		t.Errorf("left of run-1: %v (only the user's own secret should stay)", got)
	}
	if _, err := cs.CoreV1().Secrets("bench").Get(ctx, "users", metav1.GetOptions{}); err != nil {
		t.Errorf("user's secret deleted: %v", err)
	}
	if got := count(t, cs, runSelector("run-2")); got["statefulsets"] != 1 || got["services"] != 1 || got["pods"] != 1 {
		t.Errorf("run-2 touched: %v", got)
	}
	// Idempotent, and fine for a run that never deployed.
	if err := Teardown(ctx, cs, "bench", "run-1"); err != nil {
		t.Errorf("second teardown: %v", err)
	}
	if err := Teardown(ctx, fake.NewClientset(), "bench", "never-deployed"); err != nil {
		t.Errorf("teardown of nothing: %v", err)
	}
	// A run that never deployed leaves no token Secret behind.
	if err := Teardown(ctx, cs, "bench", "never-deployed"); err != nil {
		t.Fatal(err)
	}
	if got := count(t, cs, runSelector("never-deployed")); got["secrets"] != 0 {
		t.Errorf("left of a run that never deployed: %v", got)
	}
}

func TestTeardownWaitsForPods(t *testing.T) {
	defer func(p, d time.Duration) { teardownPoll, teardownTimeout = p, d }(teardownPoll, teardownTimeout)
	teardownPoll, teardownTimeout = 5*time.Millisecond, 50*time.Millisecond
	run := Options{RunID: "run-1", Namespace: "bench", GPUType: "H100"}
	cs := deployed(t, run)
	addPods(t, cs, readyPod(run, 0, "127.0.1.1"))
	// No garbage collector: the pod stays.
	err := Teardown(context.Background(), cs, "bench", "run-1")
	if err == nil || !strings.Contains(err.Error(), "1 pods still present") {
		t.Errorf("err %v", err)
	}
	// It goes a little later: Teardown waits for it.
	go func() {
		time.Sleep(20 * time.Millisecond)
		cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), "bench", "vllm-run-1-0")
	}()
	if err := Teardown(context.Background(), cs, "bench", "run-1"); err != nil {
		t.Errorf("err %v", err)
	}
	if sel, _ := labels.Parse(runSelector("run-1")); !sel.Matches(labels.Set(runLabels("run-1"))) {
		t.Error("selector does not match the run's labels")
	}
}
