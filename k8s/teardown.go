package k8s

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// teardownTimeout bounds how long Teardown waits for the pods to go (a
// shorter context deadline wins).
var teardownTimeout = 5 * time.Minute

// teardownPoll is how often Teardown looks for remaining pods.
var teardownPoll = 2 * time.Second

// Teardown deletes everything labelled with the run: StatefulSets and
// Services; the garbage collector then removes the pods and what the
// StatefulSet owns (its PodDisruptionBudget and the run's token Secret).
// A run whose StatefulSet never existed gets its token Secret deleted here,
// if this tool created it. It then waits (at most five minutes) until the
// run's pods are gone. Deleting what is already gone is not an error, so it
// can be retried and called for a run that never deployed.
func Teardown(ctx context.Context, cs kubernetes.Interface, ns, runID string) error {
	list := metav1.ListOptions{LabelSelector: runSelector(runID)}
	// The garbage collector deletes the dependents after their owner.
	background := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &background}
	ignoreGone := func(err error) error {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}

	sets, err := cs.AppsV1().StatefulSets(ns).List(ctx, list)
	if err != nil {
		return fmt.Errorf("k8s: teardown: list statefulsets: %w", err)
	}
	for _, s := range sets.Items {
		if err := ignoreGone(cs.AppsV1().StatefulSets(ns).Delete(ctx, s.Name, del)); err != nil {
			return fmt.Errorf("k8s: teardown: delete statefulset %s: %w", s.Name, err)
		}
	}
	svcs, err := cs.CoreV1().Services(ns).List(ctx, list)
	if err != nil {
		return fmt.Errorf("k8s: teardown: list services: %w", err)
	}
	for _, s := range svcs.Items {
		if err := ignoreGone(cs.CoreV1().Services(ns).Delete(ctx, s.Name, del)); err != nil {
			return fmt.Errorf("k8s: teardown: delete service %s: %w", s.Name, err)
		}
	}
	if len(sets.Items) == 0 {
		if err := deleteOwnTokenSecret(ctx, cs, ns, runID); err != nil {
			return err
		}
	}
	return waitPodsGone(ctx, cs, ns, list)
}

func waitPodsGone(ctx context.Context, cs kubernetes.Interface, ns string, list metav1.ListOptions) error {
	ctx, cancel := context.WithTimeout(ctx, teardownTimeout)
	defer cancel()
	ticker := time.NewTicker(teardownPoll)
	defer ticker.Stop()
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, list)
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("k8s: teardown: list pods: %w", err)
			}
			return fmt.Errorf("k8s: teardown: %d pods still present after %s (first: %s)", len(pods.Items), teardownTimeout, pods.Items[0].Name)
		case <-ticker.C:
		}
	}
}
