package k8s

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func readyOpts(ips podIPs) Options {
	return Options{
		RunID: "run-1", Namespace: "bench", Replicas: 2, GPUType: "H100",
		PollInterval: 5 * time.Millisecond, ReadyTimeout: 5 * time.Second, HTTPClient: ips.client(),
	}
}

func addPods(t *testing.T, cs *fake.Clientset, pods ...runtime.Object) {
	t.Helper()
	for _, p := range pods {
		if err := cs.Tracker().Add(p); err != nil {
			t.Fatal(err)
		}
	}
}

func updatePod(t *testing.T, cs *fake.Clientset, p *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReady(t *testing.T) {
	ips := podIPs{"127.0.1.1": vllmServer(t, ModelH100), "127.0.1.2": vllmServer(t, ModelH100)}
	opts := readyOpts(ips)
	cs := deployed(t, opts)
	addPods(t, cs, readyPod(opts, 0, "127.0.1.1"), loadingPod(opts, 1, "127.0.1.2"))

	var phases []string
	urls, err := WaitReady(context.Background(), cs, opts, func(s Status) {
		phases = append(phases, s.Phase)
		if len(phases) == 1 {
			updatePod(t, cs, readyPod(opts, 1, "127.0.1.2"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://127.0.1.1:8000", "http://127.0.1.2:8000"}; !reflect.DeepEqual(urls, want) {
		t.Errorf("urls %q", urls)
	}
	want := []string{"1/2 replicas ready, replica 1: loading weights (startup probe)", "2/2 replicas ready"}
	if !reflect.DeepEqual(phases, want) {
		t.Errorf("phases %q", phases)
	}
}

func TestWaitReadyNeedsTheServedModel(t *testing.T) {
	health500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer health500.Close()
	ips := podIPs{"127.0.1.1": vllmServer(t, "some-other-model"), "127.0.1.2": health500}
	opts := readyOpts(ips)
	opts.ReadyTimeout = 30 * time.Millisecond
	cs := deployed(t, opts)
	addPods(t, cs, readyPod(opts, 0, "127.0.1.1"), readyPod(opts, 1, "127.0.1.2"))
	var last Status
	_, err := WaitReady(context.Background(), cs, opts, func(s Status) { last = s })
	var de *DeployError
	if !errors.As(err, &de) || de.Reason != ReasonTimeout {
		t.Fatalf("err %v", err)
	}
	want := `0/2 replicas ready, replica 0: /v1/models does not list "` + ModelH100 + `", replica 1: /health answered 500`
	if last.Phase != want || !strings.Contains(de.Message, want) {
		t.Errorf("phase %q\nerror %q", last.Phase, de.Message)
	}
}

func TestWaitReadyTimeoutShowsWarnings(t *testing.T) {
	opts := readyOpts(podIPs{})
	opts.ReadyTimeout = 20 * time.Millisecond
	cs := deployed(t, opts)
	p := scheduled(pendingPod(opts, 0))
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "vllm", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	addPods(t, cs, p, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: "bench"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: p.Name, Namespace: "bench"},
		Type:           corev1.EventTypeWarning, Reason: "FailedMount",
		Message: "MountVolume.SetUp failed for volume \"model-storage\": timed out",
	})
	_, err := WaitReady(context.Background(), cs, opts, nil)
	var de *DeployError
	if !errors.As(err, &de) || de.Reason != ReasonTimeout {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{
		"replica 0: starting container (pulling image, mounting volumes)",
		"replica 1: pod not created yet",
		"vllm-run-1-0: FailedMount: MountVolume.SetUp failed",
	} {
		if !strings.Contains(de.Message, want) {
			t.Errorf("timeout message lacks %q: %s", want, de.Message)
		}
	}
}

func TestWaitReadyFailsFast(t *testing.T) {
	opts := readyOpts(podIPs{})
	// Failing fast means well before this.
	opts.ReadyTimeout = time.Second
	waiting := func(reason, msg string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			scheduled(p)
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "vllm",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
		}
	}
	lastTerminated := func(reason string, code int32, msg string, restarts int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			cs := &p.Status.ContainerStatuses[0]
			cs.RestartCount = restarts
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Message: msg}
		}
	}
	running := func(p *corev1.Pod) {
		scheduled(p)
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "vllm", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	unschedulable := func(msg string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}
		}
	}
	gpuMsg := "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
	pvcMsg := `0/1 nodes are available: persistentvolumeclaim "model-storage" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`
	for _, tc := range []struct {
		name    string
		set     []func(*corev1.Pod)
		reason  string
		message string
	}{
		{"unschedulable", []func(*corev1.Pod){unschedulable(gpuMsg)}, ReasonUnschedulable, gpuMsg},
		{"pvc not found by scheduler", []func(*corev1.Pod){unschedulable(pvcMsg)}, ReasonMissingPVC, pvcMsg},
		{"err image pull", []func(*corev1.Pod){waiting("ErrImagePull", `failed to pull and unpack image "docker.io/vllm/vllm-openai:v9": not found`)},
			ReasonImagePull, `ErrImagePull: failed to pull and unpack image "docker.io/vllm/vllm-openai:v9": not found`},
		{"image pull backoff", []func(*corev1.Pod){waiting("ImagePullBackOff", `Back-off pulling image "vllm/vllm-openai:v9"`)},
			ReasonImagePull, `ImagePullBackOff: Back-off pulling image "vllm/vllm-openai:v9"`},
		{"crash loop", []func(*corev1.Pod){waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container"), lastTerminated("Error", 1, "ValueError: bad flag", 5)},
			ReasonCrashLoop, "container vllm restarted 5 times, last exit code 1 (Error): ValueError: bad flag"},
		{"crash loop of OOM kills", []func(*corev1.Pod){waiting("CrashLoopBackOff", "back-off"), lastTerminated("OOMKilled", 137, "", 3)},
			ReasonOOMKilled, "container vllm restarted 3 times, last exit code 137 (OOMKilled)"},
		{"repeated OOM kill", []func(*corev1.Pod){running, lastTerminated("OOMKilled", 137, "", 2)},
			ReasonOOMKilled, "container vllm restarted 2 times, last exit code 137 (OOMKilled)"},
		{"secret not found", []func(*corev1.Pod){waiting("CreateContainerConfigError", `secret "hf-token" not found`)},
			ReasonMissingSecret, `secret "hf-token" not found`},
		{"secret key not found", []func(*corev1.Pod){waiting("CreateContainerConfigError", "couldn't find key token in Secret bench/hf-token")},
			ReasonMissingSecret, "couldn't find key token in Secret bench/hf-token"},
		{"other config error", []func(*corev1.Pod){waiting("CreateContainerConfigError", `configmap "x" not found`)},
			ReasonContainerConfig, `configmap "x" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := deployed(t, opts)
			p := pendingPod(opts, 1)
			for _, f := range tc.set {
				f(p)
			}
			addPods(t, cs, p)
			_, err := WaitReady(context.Background(), cs, opts, nil)
			var de *DeployError
			if !errors.As(err, &de) {
				t.Fatalf("err %v", err)
			}
			if de.Reason != tc.reason || de.Message != tc.message || de.Pod != "vllm-run-1-1" {
				t.Errorf("got %s %q (pod %s), want %s %q", de.Reason, de.Message, de.Pod, tc.reason, tc.message)
			}
		})
	}
}

func TestWaitReadyToleratesOneOOMKill(t *testing.T) {
	opts := readyOpts(podIPs{})
	opts.ReadyTimeout = 20 * time.Millisecond
	cs := deployed(t, opts)
	p := loadingPod(opts, 0, "127.0.1.1")
	p.Status.ContainerStatuses[0].RestartCount = 1
	p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	addPods(t, cs, p)
	_, err := WaitReady(context.Background(), cs, opts, nil)
	var de *DeployError
	if !errors.As(err, &de) || de.Reason != ReasonTimeout {
		t.Errorf("one OOM kill: %v", err)
	}
}

func TestWaitReadyMissingPVCAndDeployment(t *testing.T) {
	opts := readyOpts(podIPs{})
	cs := fake.NewClientset()
	if _, err := Deploy(context.Background(), cs, opts); err != nil {
		t.Fatal(err)
	}
	_, err := WaitReady(context.Background(), cs, opts, nil)
	var de *DeployError
	if !errors.As(err, &de) || de.Reason != ReasonMissingPVC || !strings.Contains(de.Message, `"model-storage" not found`) {
		t.Errorf("missing pvc: %v", err)
	}
	_, err = WaitReady(context.Background(), fake.NewClientset(pvc("bench", "model-storage")), opts, nil)
	if !errors.As(err, &de) || de.Reason != ReasonNotDeployed {
		t.Errorf("not deployed: %v", err)
	}
}

func TestWaitReadyStopsWithContext(t *testing.T) {
	opts := readyOpts(podIPs{})
	cs := deployed(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := WaitReady(ctx, cs, opts, func(Status) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
}

func TestEndpoints(t *testing.T) {
	opts := readyOpts(podIPs{})
	cs := deployed(t, opts)
	addPods(t, cs, readyPod(opts, 0, "127.0.1.1"), loadingPod(opts, 1, "127.0.1.2"))
	urls, err := Endpoints(context.Background(), cs, opts)
	var nr *NotReadyError
	if !errors.As(err, &nr) || !reflect.DeepEqual(nr.Replicas, []int{1}) {
		t.Fatalf("err %v", err)
	}
	if !reflect.DeepEqual(urls, []string{"http://127.0.1.1:8000", ""}) {
		t.Errorf("urls %q", urls)
	}
	// Replica 0 restarted with a new IP; replica 1 came up.
	updatePod(t, cs, readyPod(opts, 0, "127.0.1.7"))
	updatePod(t, cs, readyPod(opts, 1, "127.0.1.2"))
	urls, err = Endpoints(context.Background(), cs, opts)
	if err != nil || !reflect.DeepEqual(urls, []string{"http://127.0.1.7:8000", "http://127.0.1.2:8000"}) {
		t.Errorf("urls %q, %v", urls, err)
	}
}

// After the run was ready, a crash loop, repeated OOM kills or a restart
// count from earlier are only "not ready": replica_gone_limit_seconds
// decides, not the diagnosis that fails a run still coming up.
func TestEndpointsToleratesRestartsAfterReady(t *testing.T) {
	opts := readyOpts(podIPs{})
	cs := deployed(t, opts)
	crashing := readyPod(opts, 0, "127.0.1.1")
	crashing.Status.Conditions[1].Status = corev1.ConditionFalse
	crashing.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "vllm", RestartCount: 7,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}
	restarted := readyPod(opts, 1, "127.0.1.2")
	restarted.Status.ContainerStatuses[0].RestartCount = 3
	restarted.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	addPods(t, cs, crashing, restarted)

	urls, err := Endpoints(context.Background(), cs, opts)
	var nr *NotReadyError
	if !errors.As(err, &nr) || !reflect.DeepEqual(nr.Replicas, []int{0}) {
		t.Fatalf("err %v, want replica 0 not ready and no failure", err)
	}
	if !reflect.DeepEqual(urls, []string{"", "http://127.0.1.2:8000"}) {
		t.Errorf("urls %q", urls)
	}
	// The same pods fail a run that is still waiting to become ready.
	opts.ReadyTimeout = time.Second
	var de *DeployError
	if _, err := WaitReady(context.Background(), cs, opts, nil); !errors.As(err, &de) || de.Reason != ReasonOOMKilled {
		t.Errorf("WaitReady: %v, want %s", err, ReasonOOMKilled)
	}
}
