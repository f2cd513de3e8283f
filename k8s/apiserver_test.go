package k8s

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vibench/vllm-inference-benchmark/k8stest"
)

// The token Secret's life on a real API server and garbage collector:
// EnsureTokenSecret refuses a Secret it did not create (the JSON patch's
// test fails with 422), Deploy makes the StatefulSet the owner of its own
// Secret and of the disruption budget only, deleting the StatefulSet
// collects both, and teardown of a run that never deployed deletes its own
// Secret and nobody else's.
func TestTokenSecretOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cluster := k8stest.Start(t)
	cs := cluster.Clientset()
	ctx := context.Background()
	const ns = "bench"
	cluster.CreateNamespace(t, ns)
	users := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users-token", Namespace: ns,
		Labels: map[string]string{LabelRunID: "never-deployed"}}, Data: map[string][]byte{"token": []byte("theirs")}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, users, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := EnsureTokenSecret(ctx, cs, ns, "users-token", "r", "hf_x")
	if err == nil || !strings.Contains(err.Error(), "was not created by") {
		t.Fatalf("overwrite of someone else's Secret: %v", err)
	}
	for _, run := range []string{"run-1", "never-deployed"} {
		if err := EnsureTokenSecret(ctx, cs, ns, TokenSecretName(run), run, "hf_x"); err != nil {
			t.Fatal(err)
		}
	}
	// Updating its own works (a retried start).
	if err := EnsureTokenSecret(ctx, cs, ns, TokenSecretName("run-1"), "run-1", "hf_y"); err != nil {
		t.Fatal(err)
	}

	if _, err := Deploy(ctx, cs, Options{RunID: "run-1", Namespace: ns, GPUType: GPUH100, HFTokenSecret: TokenSecretName("run-1")}); err != nil {
		t.Fatal(err)
	}
	// An operator's Secret named as hf_token_secret is not adopted.
	if _, err := Deploy(ctx, cs, Options{RunID: "run-2", Namespace: ns, GPUType: GPUH100, HFTokenSecret: "users-token"}); err != nil {
		t.Fatal(err)
	}
	own, err := cs.CoreV1().Secrets(ns).Get(ctx, TokenSecretName("run-1"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(own.OwnerReferences) != 1 || own.OwnerReferences[0].Name != "vllm-run-1" || string(own.Data["token"]) != "hf_y" {
		t.Errorf("own token Secret: owners %+v, token %q", own.OwnerReferences, own.Data["token"])
	}
	if s, _ := cs.CoreV1().Secrets(ns).Get(ctx, "users-token", metav1.GetOptions{}); len(s.OwnerReferences) != 0 || string(s.Data["token"]) != "theirs" {
		t.Errorf("the operator's Secret was changed: %+v", s.ObjectMeta)
	}

	if err := cs.AppsV1().StatefulSets(ns).Delete(ctx, "vllm-run-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errSecret := cs.CoreV1().Secrets(ns).Get(ctx, TokenSecretName("run-1"), metav1.GetOptions{})
		_, errPDB := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "vllm-run-1", metav1.GetOptions{})
		if apierrors.IsNotFound(errSecret) && apierrors.IsNotFound(errPDB) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not collected with the StatefulSet: secret %v, disruption budget %v", errSecret, errPDB)
		}
		time.Sleep(200 * time.Millisecond)
	}

	if err := Teardown(ctx, cs, ns, "never-deployed"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(ctx, TokenSecretName("never-deployed"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("own Secret of a run that never deployed: %v", err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(ctx, "users-token", metav1.GetOptions{}); err != nil {
		t.Errorf("the operator's Secret: %v", err)
	}
}
