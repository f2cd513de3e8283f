package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/engine"
	"github.com/vibench/vllm-inference-benchmark/k8s"
	"github.com/vibench/vllm-inference-benchmark/k8stest"
	"github.com/vibench/vllm-inference-benchmark/results"
	"github.com/vibench/vllm-inference-benchmark/simulator/vllmsim"
	"github.com/vibench/vllm-inference-benchmark/workflows"
)

const (
	benchNamespace = "bench"
	// The orchestrator's ServiceAccount in deploy/serviceaccount.yaml.
	orchestratorSA = "vllm-bench-orchestrator"
	h100Product    = "NVIDIA-H100-80GB-HBM3"
	a100Product    = "NVIDIA-A100-SXM4-80GB"
)

// podSimulator is the vLLM simulator on 0.0.0.0:8000, where KWOK's pods
// (IPs 127.0.1.x) point: every pod's IP:8000 reaches it. It records the
// addresses it was reached at and can play a server that is not up yet.
type podSimulator struct {
	handler http.Handler
	down    atomic.Bool
	mu      sync.Mutex
	hosts   map[string]int // Host header -> completion requests
}

func (s *podSimulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "loading", http.StatusServiceUnavailable)
		return
	}
	if strings.HasSuffix(r.URL.Path, "completions") {
		s.mu.Lock()
		s.hosts[r.Host]++
		s.mu.Unlock()
	}
	s.handler.ServeHTTP(w, r)
}

func (s *podSimulator) requestHosts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for h, n := range s.hosts {
		out[h] = n
	}
	return out
}

func startPodSimulator(t *testing.T) *podSimulator {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:8000")
	if err != nil {
		t.Skipf("port 8000 is taken (%v): the fake pods' IP:8000 must reach this test's simulator; stop whatever listens there", err)
	}
	sim, err := vllmsim.New(vllmsim.Config{Model: model, TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &podSimulator{handler: sim.Handler(), hosts: map[string]int{}}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// kubeRequest is a short run deployed on the test cluster: 2 replicas on
// H100 nodes, 3 slices of 3 s at 10 req/s per replica.
func kubeRequest() config.Request {
	rate := config.Rate(10)
	return config.Request{Deploy: "kubernetes", GPUType: k8s.GPUH100, ReplicaCount: 2, Namespace: benchNamespace,
		ReadyTimeoutSeconds: 60, Backend: "openai-chat", DatasetName: "sonnet",
		SonnetInputLen: 256, SonnetPrefixLen: 64, SonnetOutputLen: 2,
		RequestRate: &rate, NumPrompts: 90, SliceSeconds: 3}
}

// The workflow deploys vLLM on a real API server with fake GPU nodes, as
// the ServiceAccount of deploy/ (so with exactly its RBAC), loads the pods,
// and removes everything; runs that cannot come up fail with the pods'
// reason and are removed too.
func TestKubernetes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sim := startPodSimulator(t)
	cluster := k8stest.Start(t)
	admin := cluster.Clientset()
	setup := time.Now()
	for _, n := range []string{"gpu-h100-a", "gpu-h100-b"} {
		cluster.AddGPUNode(t, n, h100Product, 8)
	}
	// Free GPUs of another product: the H100 run must not land there.
	cluster.AddGPUNode(t, "gpu-a100-a", a100Product, 8)
	cluster.CreateNamespace(t, benchNamespace)
	cluster.AddPVC(t, benchNamespace, k8s.DefaultModelStoragePVC)
	cluster.Apply(t, benchNamespace, "../deploy/serviceaccount.yaml", "../deploy/rbac.yaml")
	kubeconfig := cluster.ServiceAccountKubeconfig(t, benchNamespace, orchestratorSA)
	assertScoped(t, kubeconfig)

	addr := startTemporal(t).addr()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BENCHMARK_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	resultsDir := t.TempDir()
	env = append(env, "TEMPORAL_ADDRESS="+addr, "KUBECONFIG="+kubeconfig, "BENCHMARK_RESULTS_DIRECTORY="+resultsDir)
	w := &workerProc{t: t, bin: buildWorker(t), env: env}
	w.start()
	t.Cleanup(w.kill)
	c, err := client.Dial(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("nodes, namespace, claim, RBAC, Temporal and worker ready in %s", time.Since(setup).Round(100*time.Millisecond))

	t.Run("DeployLoadTeardown", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		const id = "k8s-e2e-load"
		// As `starter start` does with HF_TOKEN exported: the run's own
		// token Secret, created with the operator's credentials.
		req := kubeRequest()
		// Six slices: the last ones are resolved (10 s ahead of their
		// start) while the load is flowing.
		req.NumPrompts = 180
		req.HFTokenSecret = k8s.TokenSecretName(id)
		if err := k8s.EnsureTokenSecret(ctx, admin, benchNamespace, req.HFTokenSecret, id, "hf_e2e_token"); err != nil {
			t.Fatal(err)
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.OrchestrationTaskQueue},
			workflows.WorkflowName, req)
		if err != nil {
			t.Fatal(err)
		}
		pods := waitRunningPods(ctx, t, admin, id, 2)
		// Mid-run, replica 1's container is OOM-killed and crash-loops for a
		// few seconds, then serves again: the slice resolved meanwhile waits
		// for it (WaitReplica) and the run goes on.
		restarted := make(chan error, 1)
		go func() { restarted <- restartMidRun(ctx, admin, sim, pods[1].Name) }()
		var out workflows.Outcome
		err = run.Get(ctx, &out)
		ran := logActivityTimes(t, c, id)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		if err := <-restarted; err != nil {
			t.Fatalf("restart mid-run: %v", err)
		}
		if !slices.Contains(ran, "WaitReplica") {
			t.Errorf("no slice saw the restarting replica (activities %v): the restart came too late to test anything", ran)
		}
		t.Logf("result:\n%s", out.Result.Table)
		if out.Partial || out.Result.Completed+out.Result.Interrupted != 2*180 || out.Result.Failed != 0 {
			t.Errorf("outcome partial=%v completed=%d interrupted=%d failed=%d (%s), want all 360 requests accounted for, none failed",
				out.Partial, out.Result.Completed, out.Result.Interrupted, out.Result.Failed, out.Reason)
		}
		// result.json records the image and the exact arguments the pods ran with.
		store, err := results.NewLocal(resultsDir)
		if err != nil {
			t.Fatal(err)
		}
		body, err := store.Get(ctx, results.ResultKey(id))
		if err != nil {
			t.Fatal(err)
		}
		var saved struct {
			Servers engine.Servers `json:"vllm_deployment"`
		}
		if err := json.Unmarshal(body, &saved); err != nil {
			t.Fatalf("result.json: %v", err)
		}
		if c := pods[0].Spec.Containers[0]; saved.Servers.Image != c.Image || !slices.Equal(saved.Servers.Args, c.Args) {
			t.Errorf("result.json records image %q args %q; the pods ran %q with %q", saved.Servers.Image, saved.Servers.Args, c.Image, c.Args)
		}
		// Each replica's pod ran on an H100 node, Guaranteed QoS, and got its
		// share of the load at its own IP.
		hosts := sim.requestHosts()
		for _, p := range pods {
			node, err := admin.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if product := node.Labels[k8stest.GPUProductLabel]; product != h100Product {
				t.Errorf("pod %s on node %s of product %q, want %s", p.Name, p.Spec.NodeName, product, h100Product)
			}
			if p.Status.QOSClass != corev1.PodQOSGuaranteed {
				t.Errorf("pod %s QoS %q, want Guaranteed", p.Name, p.Status.QOSClass)
			}
			gpus := p.Spec.Containers[0].Resources.Limits[k8stest.GPUResource]
			if gpus.Value() != 8 {
				t.Errorf("pod %s asks for %s GPUs, want 8 (tensor parallel size)", p.Name, gpus.String())
			}
			if n := hosts[net.JoinHostPort(p.Status.PodIP, "8000")]; n == 0 || n > 180 {
				t.Errorf("pod %s (%s) got %d requests, want its share (<= 180); requests per address: %v", p.Name, p.Status.PodIP, n, hosts)
			}
		}
		// The garbage collector removed the token Secret and the disruption
		// budget with the StatefulSet.
		assertNothingLeft(t, admin, id)
	})

	// The negative runs never become ready: the pods' IPs answer 503.
	sim.down.Store(true)
	failures := []struct {
		name, id, reason string
		modify           func(*config.Request)
		// during plays the kubelet while the run waits.
		during func(ctx context.Context, t *testing.T, id string)
	}{
		{name: "Unschedulable", id: "k8s-e2e-16-gpus", reason: k8s.ReasonUnschedulable,
			modify: func(r *config.Request) { r.VLLMArgs = []string{"--tensor-parallel-size=16"} }},
		{name: "MissingPVC", id: "k8s-e2e-no-pvc", reason: k8s.ReasonMissingPVC,
			modify: func(r *config.Request) { r.ModelStoragePVC = "nope" }},
		{name: "ImagePull", id: "k8s-e2e-image-pull", reason: k8s.ReasonImagePull,
			during: func(ctx context.Context, t *testing.T, id string) { failImagePull(ctx, t, admin, id) }},
	}
	t.Run("Failures", func(t *testing.T) {
		for _, f := range failures {
			t.Run(f.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
				defer cancel()
				req := kubeRequest()
				if f.modify != nil {
					f.modify(&req)
				}
				start := time.Now()
				run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: f.id, TaskQueue: workflows.OrchestrationTaskQueue},
					workflows.WorkflowName, req)
				if err != nil {
					t.Fatal(err)
				}
				if f.during != nil {
					playCtx, stop := context.WithCancel(ctx)
					done := make(chan struct{})
					go func() { defer close(done); f.during(playCtx, t, f.id) }()
					defer func() { stop(); <-done }()
				}
				err = run.Get(ctx, nil)
				took := time.Since(start)
				logActivityTimes(t, c, f.id)
				if err == nil || !strings.Contains(err.Error(), f.reason) {
					t.Fatalf("run ended with %v, want a failure with reason %s", err, f.reason)
				}
				t.Logf("failed after %s with: %v", took.Round(100*time.Millisecond), err)
				if took > 60*time.Second {
					t.Errorf("the run took %s to fail, want under 60 s", took)
				}
				assertNothingLeft(t, admin, f.id)
			})
		}
	})

	// Every object of the kustomization in deploy/ is accepted by the API
	// server (server-side dry run in its namespace).
	t.Run("DeployManifestsDryRun", func(t *testing.T) {
		var kust struct {
			Namespace string   `json:"namespace"`
			Resources []string `json:"resources"`
		}
		b, err := os.ReadFile("../deploy/kustomization.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &kust); err != nil {
			t.Fatal(err)
		}
		all, err := filepath.Glob("../deploy/*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, f := range all {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			if !slices.Contains(kust.Resources, filepath.Base(f)) {
				t.Errorf("%s is not listed in deploy/kustomization.yaml", f)
			}
			files = append(files, f)
		}
		cluster.CreateNamespace(t, kust.Namespace)
		applied := cluster.DryRunApply(t, kust.Namespace, files...)
		t.Logf("accepted: %s", strings.Join(applied, ", "))
		if len(applied) < len(files) {
			t.Errorf("%d objects from %d files", len(applied), len(files))
		}
		// A dry run stores nothing.
		sas, err := admin.CoreV1().ServiceAccounts(kust.Namespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, sa := range sas.Items {
			if sa.Name == orchestratorSA {
				t.Errorf("the dry run created ServiceAccount %s/%s", kust.Namespace, sa.Name)
			}
		}
	})
}

// assertScoped checks that a kubeconfig does not carry more than the
// namespaced Role: reading Secrets elsewhere is forbidden.
func assertScoped(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets("kube-system").List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing kube-system Secrets with the ServiceAccount's kubeconfig gave %v, want Forbidden", err)
	}
}

// logActivityTimes logs how long each activity of a finished run (its slice
// children's included) took, from its history (scheduled to closed), and
// returns their names.
func logActivityTimes(t *testing.T, c client.Client, id string) []string {
	t.Helper()
	var lines, names []string
	for _, events := range runHistories(context.Background(), t, c, id) {
		scheduled := map[int64]*historypb.HistoryEvent{}
		for _, e := range events {
			var from int64
			switch {
			case e.GetActivityTaskScheduledEventAttributes() != nil:
				scheduled[e.GetEventId()] = e
				continue
			case e.GetActivityTaskCompletedEventAttributes() != nil:
				from = e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			case e.GetActivityTaskFailedEventAttributes() != nil:
				from = e.GetActivityTaskFailedEventAttributes().GetScheduledEventId()
			default:
				continue
			}
			if s := scheduled[from]; s != nil {
				name := s.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
				names = append(names, name)
				lines = append(lines, fmt.Sprintf("%s %s", name, e.GetEventTime().AsTime().Sub(s.GetEventTime().AsTime()).Round(10*time.Millisecond)))
			}
		}
	}
	t.Logf("activities of %s: %s", id, strings.Join(lines, ", "))
	return names
}

func runSelector(runID string) metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: k8s.LabelRunID + "=" + k8s.RunLabelValue(runID)}
}

// waitRunningPods returns the run's pods once n of them run with an IP.
func waitRunningPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, runID string, n int) []corev1.Pod {
	t.Helper()
	for ctx.Err() == nil {
		list, err := cs.CoreV1().Pods(benchNamespace).List(ctx, runSelector(runID))
		if err == nil {
			var running []corev1.Pod
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
					running = append(running, p)
				}
			}
			if len(running) == n {
				sort.Slice(running, func(i, j int) bool { return running[i].Name < running[j].Name })
				return running
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%d running pods of run %s never appeared", n, runID)
	return nil
}

// failImagePull reports, as a kubelet would, that the containers of the
// run's running pods cannot pull their image (a restart after the image
// went away), until ctx ends. The phase stays Running: a Pending pod that
// is not Ready is KWOK's to make Ready again.
func failImagePull(ctx context.Context, t *testing.T, cs kubernetes.Interface, runID string) {
	for ctx.Err() == nil {
		list, err := cs.CoreV1().Pods(benchNamespace).List(ctx, runSelector(runID))
		if err == nil {
			for _, p := range list.Items {
				if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || pullFailing(&p) {
					continue
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{
					Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull",
						Message: "failed to pull image " + p.Spec.Containers[0].Image + ": pull access denied"}},
				}}
				for i := range p.Status.Conditions {
					if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
						p.Status.Conditions[i].Status = corev1.ConditionFalse
					}
				}
				if _, err := cs.CoreV1().Pods(benchNamespace).UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					t.Logf("set pod %s image pull status: %v (retrying)", p.Name, err)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func pullFailing(p *corev1.Pod) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason == "ErrImagePull" {
			return true
		}
	}
	return false
}

// assertNothingLeft checks that no StatefulSet, Service, Secret,
// PodDisruptionBudget or Pod with the run's label remains, giving the
// garbage collector a little time for what the StatefulSet owned.
func assertNothingLeft(t *testing.T, cs kubernetes.Interface, runID string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		left = runObjects(t, cs, runID)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("left after the run: %s", strings.Join(left, ", "))
	}
}

func runObjects(t *testing.T, cs kubernetes.Interface, runID string) []string {
	t.Helper()
	ctx := context.Background()
	sel := runSelector(runID)
	var left []string
	add := func(kind string, names []string, err error) {
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			left = append(left, kind+"/"+n)
		}
	}
	sts, err := cs.AppsV1().StatefulSets(benchNamespace).List(ctx, sel)
	add("statefulset", names(sts, err), err)
	svcs, err := cs.CoreV1().Services(benchNamespace).List(ctx, sel)
	add("service", names(svcs, err), err)
	secrets, err := cs.CoreV1().Secrets(benchNamespace).List(ctx, sel)
	add("secret", names(secrets, err), err)
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets(benchNamespace).List(ctx, sel)
	add("poddisruptionbudget", names(pdbs, err), err)
	pods, err := cs.CoreV1().Pods(benchNamespace).List(ctx, sel)
	add("pod", names(pods, err), err)
	return left
}

// names lists the objects of any list type.
func names(list metav1.ListInterface, err error) []string {
	if err != nil {
		return nil
	}
	items, _ := meta.ExtractList(list.(runtime.Object))
	var out []string
	for _, it := range items {
		if o, ok := it.(metav1.Object); ok {
			out = append(out, o.GetName())
		}
	}
	return out
}

// restartMidRun plays the kubelet for one pod once the load is flowing:
// its container is OOM-killed and crash-loops (not Ready, restart count 1)
// for 4 s, then runs and is Ready again. Before issue 11 the crash loop
// failed the whole run.
func restartMidRun(ctx context.Context, cs kubernetes.Interface, sim *podSimulator, pod string) error {
	for total := 0; total < 20; time.Sleep(100 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		total = 0
		for _, n := range sim.requestHosts() {
			total += n
		}
	}
	oom := &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
	if err := setPodStatus(ctx, cs, pod, false, corev1.ContainerStatus{RestartCount: 1,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: oom}}); err != nil {
		return err
	}
	time.Sleep(4 * time.Second)
	started := true
	return setPodStatus(ctx, cs, pod, true, corev1.ContainerStatus{RestartCount: 1, Ready: true, Started: &started,
		State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		LastTerminationState: corev1.ContainerState{Terminated: oom}})
}

func setPodStatus(ctx context.Context, cs kubernetes.Interface, name string, ready bool, status corev1.ContainerStatus) error {
	for {
		p, err := cs.CoreV1().Pods(benchNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		status.Name, status.Image = p.Spec.Containers[0].Name, p.Spec.Containers[0].Image
		p.Status.ContainerStatuses = []corev1.ContainerStatus{status}
		cond := corev1.ConditionFalse
		if ready {
			cond = corev1.ConditionTrue
		}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status = cond
			}
		}
		_, err = cs.CoreV1().Pods(benchNamespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}
