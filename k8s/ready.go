package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Status is what WaitReady last saw.
type Status struct {
	Ready    int
	Replicas int
	// Phase is for people: "1/2 replicas ready, replica 1: loading
	// weights (startup probe)".
	Phase string
	Pods  []ReplicaStatus
}

// ReplicaStatus is one replica's pod as last seen.
type ReplicaStatus struct {
	Replica int
	Pod     string
	IP      string
	Ready   bool // serving the model, not only Ready in Kubernetes
	State   string
}

// WaitReady polls a deployed run until every replica's pod is Ready, its
// /health answers 200 and its /v1/models lists the served model, and
// returns each replica's base URL (http://<pod IP>:8000) in replica order.
// It fails fast with a *DeployError when a pod cannot come up
// (unschedulable, image pull, crash loop, OOM, missing PVC or Secret), and
// with Reason ReasonTimeout after opts.ReadyTimeout. progress, if not nil,
// gets every observation.
func WaitReady(ctx context.Context, cs kubernetes.Interface, opts Options, progress func(Status)) ([]string, error) {
	opts = opts.withDefaults()
	if err := checkPVC(ctx, cs, opts); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(opts.ReadyTimeout)
	ticker := time.NewTicker(opts.PollInterval)
	defer ticker.Stop()
	for {
		st, urls, err := observe(ctx, cs, opts, true)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(st)
		}
		if st.Ready == st.Replicas {
			return urls, nil
		}
		if time.Now().After(deadline) {
			return nil, &DeployError{Reason: ReasonTimeout, Message: fmt.Sprintf("not ready after %s: %s%s",
				opts.ReadyTimeout, st.Phase, warnings(ctx, cs, opts.Namespace, st))}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ticker.C:
		}
	}
}

// NotReadyError lists the replicas Endpoints found not ready.
type NotReadyError struct {
	Replicas []int
	Phase    string
}

func (e *NotReadyError) Error() string {
	return "k8s: replicas not ready: " + e.Phase
}

// Endpoints re-resolves each replica's base URL from its pod (pod IPs
// change when a pod is recreated), in replica order. It is for a run that
// was ready: a pod that crashes, restarts or is being replaced is only not
// ready (the run's replica_gone_limit_seconds decides how long that may
// last), never a failure. Replicas whose pod is not Ready get "" and are
// listed in a *NotReadyError.
func Endpoints(ctx context.Context, cs kubernetes.Interface, opts Options) ([]string, error) {
	opts = opts.withDefaults()
	st, urls, err := observe(ctx, cs, opts, false)
	if err != nil {
		return nil, err
	}
	if st.Ready == st.Replicas {
		return urls, nil
	}
	var missing []int
	for _, p := range st.Pods {
		if !p.Ready {
			missing = append(missing, p.Replica)
		}
	}
	return urls, &NotReadyError{Replicas: missing, Phase: st.Phase}
}

// observe reads the StatefulSet (replica count and served model name come
// from it, so a caller needs only the run id) and its pods. While waiting
// for the run to become ready, a pod in a failure state fails it (diagnose)
// and a Kubernetes-ready pod counts only once its server answers; after
// that, pods are only ready or not.
func observe(ctx context.Context, cs kubernetes.Interface, opts Options, waiting bool) (Status, []string, error) {
	name := ResourceName(opts.RunID)
	sts, err := cs.AppsV1().StatefulSets(opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Status{}, nil, &DeployError{Reason: ReasonNotDeployed, Message: fmt.Sprintf("statefulset %s/%s not found", opts.Namespace, name)}
	}
	if err != nil {
		return Status{}, nil, fmt.Errorf("k8s: get statefulset %s: %w", name, err)
	}
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	served := servedModel(sts.Spec.Template.Spec.Containers)

	list, err := cs.CoreV1().Pods(opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: runSelector(opts.RunID)})
	if err != nil {
		return Status{}, nil, fmt.Errorf("k8s: list pods: %w", err)
	}
	byName := map[string]*corev1.Pod{}
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}

	st := Status{Replicas: replicas}
	urls := make([]string, replicas)
	for i := 0; i < replicas; i++ {
		podName := name + "-" + strconv.Itoa(i)
		pod := byName[podName]
		rs := ReplicaStatus{Replica: i, Pod: podName}
		if pod != nil {
			if waiting {
				if fail := diagnose(pod); fail != nil {
					return Status{}, nil, fail
				}
			}
			rs.IP = pod.Status.PodIP
		}
		switch {
		case pod == nil || pod.DeletionTimestamp != nil || !hasCondition(pod, corev1.PodReady) || rs.IP == "":
			rs.State = podState(pod)
		case waiting:
			rs.State = checkServer(ctx, opts.HTTPClient, baseURL(rs.IP), served)
			rs.Ready = rs.State == "ready"
		default:
			rs.State, rs.Ready = "ready", true
		}
		if rs.Ready {
			urls[i] = baseURL(rs.IP)
			st.Ready++
		}
		st.Pods = append(st.Pods, rs)
	}
	st.Phase = phase(st)
	return st, urls, nil
}

func phase(st Status) string {
	parts := []string{fmt.Sprintf("%d/%d replicas ready", st.Ready, st.Replicas)}
	for _, p := range st.Pods {
		if !p.Ready {
			parts = append(parts, fmt.Sprintf("replica %d: %s", p.Replica, p.State))
		}
	}
	return strings.Join(parts, ", ")
}

func baseURL(ip string) string {
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(ServerPort))
}

func servedModel(containers []corev1.Container) string {
	for _, c := range containers {
		if v, ok := ArgValue(c.Args, "served-model-name"); ok {
			return v
		}
		if v, ok := ArgValue(c.Args, "model"); ok {
			return v
		}
	}
	return ""
}

// checkServer returns "ready" when /health is 200 and /v1/models lists
// the served model, else what is missing.
func checkServer(ctx context.Context, client *http.Client, base, served string) string {
	if code, err := get(ctx, client, base+"/health", nil); err != nil {
		return "/health: " + err.Error()
	} else if code != http.StatusOK {
		return fmt.Sprintf("/health answered %d", code)
	}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if code, err := get(ctx, client, base+"/v1/models", &models); err != nil {
		return "/v1/models: " + err.Error()
	} else if code != http.StatusOK {
		return fmt.Sprintf("/v1/models answered %d", code)
	}
	for _, m := range models.Data {
		if m.ID == served {
			return "ready"
		}
	}
	return fmt.Sprintf("/v1/models does not list %q", served)
}

func get(ctx context.Context, client *http.Client, url string, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			return resp.StatusCode, fmt.Errorf("decode: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// checkPVC fails fast when the model-storage claim does not exist. Other
// errors (e.g. no permission) are left to the pods' own diagnosis.
func checkPVC(ctx context.Context, cs kubernetes.Interface, opts Options) error {
	_, err := cs.CoreV1().PersistentVolumeClaims(opts.Namespace).Get(ctx, opts.ModelStoragePVC, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &DeployError{Reason: ReasonMissingPVC, Message: fmt.Sprintf("persistentvolumeclaim %q not found in namespace %s", opts.ModelStoragePVC, opts.Namespace)}
	}
	return nil
}

// warnings lists the latest warning event of each pod that is not ready,
// to explain a timeout.
func warnings(ctx context.Context, cs kubernetes.Interface, ns string, st Status) string {
	var out []string
	for _, p := range st.Pods {
		if p.Ready {
			continue
		}
		events, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.Pod + ",type=Warning",
		})
		if err != nil || len(events.Items) == 0 {
			continue
		}
		last := events.Items[0]
		for _, e := range events.Items[1:] {
			if e.LastTimestamp.After(last.LastTimestamp.Time) {
				last = e
			}
		}
		out = append(out, fmt.Sprintf("%s: %s: %s", p.Pod, last.Reason, last.Message))
	}
	if len(out) == 0 {
		return ""
	}
	return "; last warnings: " + strings.Join(out, "; ")
}
