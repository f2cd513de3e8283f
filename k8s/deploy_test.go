package k8s

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDeployAppliesWithOneFieldManager(t *testing.T) {
	ctx := context.Background()
	opts := Options{RunID: "run-1", Namespace: "bench", Replicas: 2, GPUType: "H200"}
	cs := fake.NewClientset()
	d, err := Deploy(ctx, cs, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := Deployed{Namespace: "bench", Name: "vllm-run-1", GPUType: "H200", Model: ModelH200,
		ServedModelName: ModelH200, Image: DefaultImage, Replicas: 2, Args: DefaultArgs(ModelH200, ModelH200)}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("deployed %+v\nwant %+v", d, want)
	}
	// Applying again (an activity retry) with a change updates in place.
	opts.Replicas = 3
	if _, err := Deploy(ctx, cs, opts); err != nil {
		t.Fatal(err)
	}
	sts, err := cs.AppsV1().StatefulSets("bench").Get(ctx, "vllm-run-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("bench").Get(ctx, "vllm-run-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 3 {
		t.Errorf("replicas %d after re-apply", *sts.Spec.Replicas)
	}
	for _, meta := range []metav1.ObjectMeta{sts.ObjectMeta, svc.ObjectMeta} {
		if len(meta.ManagedFields) != 1 || meta.ManagedFields[0].Manager != FieldManager || meta.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("%s managed fields %+v", meta.Name, meta.ManagedFields)
		}
	}
}

func TestEnsureTokenSecret(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "ns"}, Data: map[string][]byte{"token": []byte("theirs")}})
	if err := EnsureTokenSecret(ctx, cs, "ns", "vllm-r-hf-token", "r", "hf_abc"); err != nil {
		t.Fatal(err)
	}
	s, err := cs.CoreV1().Secrets("ns").Get(ctx, "vllm-r-hf-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["token"]) != "hf_abc" || s.Annotations[AnnotationCreatedBy] != FieldManager || s.Labels[LabelRunID] != "r" {
		t.Errorf("secret %+v", s)
	}
	// Updating our own Secret is fine.
	if err := EnsureTokenSecret(ctx, cs, "ns", "vllm-r-hf-token", "r", "hf_new"); err != nil {
		t.Fatal(err)
	}
	s, _ = cs.CoreV1().Secrets("ns").Get(ctx, "vllm-r-hf-token", metav1.GetOptions{})
	if string(s.Data["token"]) != "hf_new" {
		t.Errorf("token not updated: %q", s.Data["token"])
	}
	// Someone else's Secret is left alone.
	if err := EnsureTokenSecret(ctx, cs, "ns", "users", "r", "hf_abc"); err == nil {
		t.Error("overwrote a Secret this tool did not create")
	}
	s, _ = cs.CoreV1().Secrets("ns").Get(ctx, "users", metav1.GetOptions{})
	if string(s.Data["token"]) != "theirs" {
		t.Errorf("user's secret changed: %q", s.Data["token"])
	}
	if err := EnsureTokenSecret(ctx, cs, "ns", "x", "r", ""); err == nil {
		t.Error("empty token accepted")
	}
}
