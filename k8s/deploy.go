package k8s

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
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
	Args            []string
}

// Deploy resolves gpu_type auto, then server-side applies the headless
// Service and the StatefulSet of a run (idempotent: a retry re-applies the
// same objects).
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
	if _, err := cs.AppsV1().StatefulSets(ns).Apply(ctx, m.StatefulSet, apply); err != nil {
		return Deployed{}, fmt.Errorf("k8s: apply statefulset %s: %w", *m.StatefulSet.Name, err)
	}
	return describe(m, opts), nil
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
	}
}

// EnsureTokenSecret stores an HF token in Secret ns/name under key
// "token", labelled with the run and marked as created by this tool so
// that Teardown of that run deletes it. It creates or updates a Secret this
// tool created, and refuses to touch one it did not. The token is passed by
// the person starting the run and never goes through the workflow.
func EnsureTokenSecret(ctx context.Context, cs kubernetes.Interface, ns, name, runID, token string) error {
	if token == "" {
		return fmt.Errorf("k8s: token secret %s/%s: the token is empty", ns, name)
	}
	existing, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("k8s: token secret %s/%s: %w", ns, name, err)
	case existing.Annotations[AnnotationCreatedBy] != FieldManager:
		return fmt.Errorf("k8s: secret %s/%s exists and was not created by %s; refusing to overwrite it (use it as hf_token_secret instead)", ns, name, FieldManager)
	}
	secret := corev1ac.Secret(name, ns).
		WithLabels(runLabels(runID)).
		WithAnnotations(map[string]string{AnnotationCreatedBy: FieldManager, AnnotationRunID: runID}).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{DefaultTokenSecretKey: []byte(token)})
	_, err = cs.CoreV1().Secrets(ns).Apply(ctx, secret, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("k8s: apply token secret %s/%s: %w", ns, name, err)
	}
	return nil
}
