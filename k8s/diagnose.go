package k8s

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Reasons a deployment cannot become ready. Every one but ReasonTimeout is
// read from the pods and will not fix itself by waiting.
const (
	ReasonUnschedulable   = "Unschedulable"
	ReasonImagePull       = "ImagePullBackOff"
	ReasonCrashLoop       = "CrashLoopBackOff"
	ReasonOOMKilled       = "OOMKilled"
	ReasonMissingPVC      = "MissingPVC"
	ReasonMissingSecret   = "MissingSecret"
	ReasonContainerConfig = "CreateContainerConfigError"
	ReasonNotDeployed     = "NotDeployed"
	ReasonTimeout         = "ReadyTimeout"
)

// DeployError says why the servers of a run did not become ready, with the
// pod's own words in Message.
type DeployError struct {
	Reason  string
	Pod     string // empty when not about one pod
	Message string
}

func (e *DeployError) Error() string {
	if e.Pod == "" {
		return fmt.Sprintf("k8s: %s: %s", e.Reason, e.Message)
	}
	return fmt.Sprintf("k8s: pod %s: %s: %s", e.Pod, e.Reason, e.Message)
}

// oomRestarts is how many OOM kills in a row fail the deployment before
// the kubelet's back-off would report CrashLoopBackOff.
const oomRestarts = 2

// diagnose returns the failure a pod shows, or nil while it may still come
// up.
func diagnose(pod *corev1.Pod) *DeployError {
	fail := func(reason, msg string) *DeployError {
		return &DeployError{Reason: reason, Pod: pod.Name, Message: msg}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			if strings.Contains(c.Message, "persistentvolumeclaim") && strings.Contains(c.Message, "not found") {
				return fail(ReasonMissingPVC, c.Message)
			}
			return fail(ReasonUnschedulable, c.Message)
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		last := cs.LastTerminationState.Terminated
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName":
				return fail(ReasonImagePull, join(w.Reason, w.Message))
			case "CreateContainerConfigError":
				if strings.Contains(w.Message, "ecret") {
					return fail(ReasonMissingSecret, w.Message)
				}
				return fail(ReasonContainerConfig, w.Message)
			case "CrashLoopBackOff":
				if last != nil && last.Reason == "OOMKilled" {
					return fail(ReasonOOMKilled, terminated(cs))
				}
				return fail(ReasonCrashLoop, terminated(cs))
			}
		}
		if last != nil && last.Reason == "OOMKilled" && cs.RestartCount >= oomRestarts {
			return fail(ReasonOOMKilled, terminated(cs))
		}
	}
	return nil
}

func terminated(cs corev1.ContainerStatus) string {
	t := cs.LastTerminationState.Terminated
	if t == nil {
		return fmt.Sprintf("container %s restarted %d times", cs.Name, cs.RestartCount)
	}
	return join(fmt.Sprintf("container %s restarted %d times, last exit code %d (%s)", cs.Name, cs.RestartCount, t.ExitCode, t.Reason), t.Message)
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// podState describes a pod that is not (yet) ready in a few words.
func podState(pod *corev1.Pod) string {
	switch {
	case pod == nil:
		return "pod not created yet"
	case pod.DeletionTimestamp != nil:
		return "terminating"
	case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
		return join("exited, being replaced", pod.Status.Reason)
	case !hasCondition(pod, corev1.PodScheduled):
		return "waiting to be scheduled"
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			if w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
				return "starting container (pulling image, mounting volumes)"
			}
			return join("waiting", w.Reason)
		}
		if cs.State.Running != nil && (cs.Started == nil || !*cs.Started) {
			return "loading weights (startup probe)"
		}
		if cs.State.Running != nil && !cs.Ready {
			return "not ready (readiness probe)"
		}
	}
	if len(pod.Status.ContainerStatuses) == 0 {
		return "starting container (pulling image, mounting volumes)"
	}
	return "not ready"
}

func hasCondition(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
