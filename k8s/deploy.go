package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Deployed describes what Deploy applied.
type Deployed struct {
	Namespace       string
	Name            string // StatefulSet and headless Service
	GPUType         string
	Model           string // directory under /model-storage
	ServedModelName string
	Image           string
	Replicas        int
	// Args are the exact server arguments the pods run with, after
	// RenderArgs adapted them to Image; Warnings say what it changed.
	Args     []string
	Warnings []string
}

// Deploy resolves gpu_type auto, then server-side applies the headless
// Service, the StatefulSet and its PodDisruptionBudget (idempotent: a retry
// re-applies the same objects). The budget and the run's own token Secret
// get the StatefulSet as owner, so the garbage collector removes them with
// it.
func Deploy(ctx context.Context, cs kubernetes.Interface, opts Options) (Deployed, error) {
	opts, err := ResolveGPUType(ctx, cs, opts)
	if err != nil {
		return Deployed{}, err
	}
	m, err := Objects(opts)
	if err != nil {
		return Deployed{}, err
	}
	apply := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	ns := *m.Service.Namespace
	if _, err := cs.CoreV1().Services(ns).Apply(ctx, m.Service, apply); err != nil {
		return Deployed{}, fmt.Errorf("k8s: apply service %s: %w", *m.Service.Name, err)
	}
	sts, err := cs.AppsV1().StatefulSets(ns).Apply(ctx, m.StatefulSet, apply)
	if err != nil {
		return Deployed{}, fmt.Errorf("k8s: apply statefulset %s: %w", *m.StatefulSet.Name, err)
	}
	owner := metav1ac.OwnerReference().
		WithAPIVersion("apps/v1").WithKind("StatefulSet").
		WithName(sts.Name).WithUID(sts.UID)
	m.DisruptionBudget.WithOwnerReferences(owner)
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Apply(ctx, m.DisruptionBudget, apply); err != nil {
		return Deployed{}, fmt.Errorf("k8s: apply poddisruptionbudget %s: %w", *m.DisruptionBudget.Name, err)
	}
	if opts.HFTokenSecret != "" {
		if err := adoptTokenSecret(ctx, cs, ns, opts.HFTokenSecret, sts); err != nil {
			return Deployed{}, err
		}
	}
	d := describe(m, opts)
	d.Namespace = ns
	return d, nil
}

func describe(m Manifest, opts Options) Deployed {
	c := m.StatefulSet.Spec.Template.Spec.Containers[0]
	model, _ := ModelFor(opts)
	served, _ := ArgValue(c.Args, "served-model-name")
	return Deployed{
		Namespace:       *m.StatefulSet.Namespace,
		Name:            *m.StatefulSet.Name,
		GPUType:         opts.GPUType,
		Model:           model,
		ServedModelName: served,
		Image:           *c.Image,
		Replicas:        int(*m.StatefulSet.Spec.Replicas),
		Args:            c.Args,
		Warnings:        m.Warnings,
	}
}

// TokenSecret is the run's HF token Secret without its value, as
// EnsureTokenSecret creates it (deploy --dry-run renders it).
func TokenSecret(ns, name, runID string) *corev1ac.SecretApplyConfiguration {
	return corev1ac.Secret(name, ns).
		WithLabels(runLabels(runID)).
		WithAnnotations(map[string]string{AnnotationCreatedBy: FieldManager, AnnotationRunID: runID}).
		WithType(corev1.SecretTypeOpaque)
}

// EnsureTokenSecret stores an HF token in Secret ns/name under key
// "token", labelled with the run and marked as created by this tool (the
// run's StatefulSet adopts it at deploy). It creates the Secret, or updates
// one this tool created, and refuses to touch one it did not, without
// reading any Secret: it needs create and patch only. The token is passed by
// the person starting the run and never goes through the workflow.
func EnsureTokenSecret(ctx context.Context, cs kubernetes.Interface, ns, name, runID string, token string) error {
	if token == "" {
		return fmt.Errorf("k8s: token secret %s/%s: the token is empty", ns, name)
	}
	ac := TokenSecret(ns, name, runID)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: ac.Labels, Annotations: ac.Annotations},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{DefaultTokenSecretKey: []byte(token)},
	}
	_, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{FieldManager: FieldManager})
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("k8s: create token secret %s/%s: %w", ns, name, err)
		}
		return nil
	}
	err = patchOwnSecret(ctx, cs, ns, name, jsonPatchOp{Op: "add", Path: "/data", Value: map[string][]byte{DefaultTokenSecretKey: []byte(token)}})
	if apierrors.IsInvalid(err) {
		return fmt.Errorf("k8s: secret %s/%s exists and was not created by %s; refusing to overwrite it (use it as hf_token_secret instead)", ns, name, FieldManager)
	}
	if err != nil {
		return fmt.Errorf("k8s: update token secret %s/%s: %w", ns, name, err)
	}
	return nil
}

// adoptTokenSecret makes the run's StatefulSet the owner of the token
// Secret if this tool created it; a Secret the operator named
// (hf_token_secret) is theirs and stays. A missing one is left to the
// pods' diagnosis (MissingSecret).
func adoptTokenSecret(ctx context.Context, cs kubernetes.Interface, ns, name string, owner *appsv1.StatefulSet) error {
	ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: owner.Name, UID: owner.UID}
	err := patchOwnSecret(ctx, cs, ns, name, jsonPatchOp{Op: "add", Path: "/metadata/ownerReferences", Value: []metav1.OwnerReference{ref}})
	if err == nil || apierrors.IsInvalid(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("k8s: token secret %s/%s: set its owner: %w", ns, name, err)
}

// deleteOwnTokenSecret deletes the run's token Secret if this tool created
// it (for a run whose StatefulSet never existed to collect it).
func deleteOwnTokenSecret(ctx context.Context, cs kubernetes.Interface, ns, runID string) error {
	name := TokenSecretName(runID)
	err := patchOwnSecret(ctx, cs, ns, name)
	if apierrors.IsInvalid(err) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("k8s: teardown: token secret %s: %w", name, err)
	}
	if err := cs.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("k8s: teardown: delete secret %s: %w", name, err)
	}
	return nil
}

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// patchOwnSecret applies a JSON patch whose first operation tests that
// this tool created the Secret: the API server applies the rest only then,
// and answers 422 Invalid otherwise. Ownership is checked without reading
// Secrets (no get or list in the Role).
func patchOwnSecret(ctx context.Context, cs kubernetes.Interface, ns, name string, ops ...jsonPatchOp) error {
	test := jsonPatchOp{Op: "test", Path: "/metadata/annotations/" + jsonPointerEscape(AnnotationCreatedBy), Value: FieldManager}
	body, err := json.Marshal(append([]jsonPatchOp{test}, ops...))
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Secrets(ns).Patch(ctx, name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
	return err
}

func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
