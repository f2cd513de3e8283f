package k8s

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/vibench/vllm-inference-benchmark/config"
)

func TestObjectsFollowGPUType(t *testing.T) {
	for _, tc := range []struct {
		gpu, model string
	}{
		{"H100", "meta-llama/Llama-3.1-405B-Instruct-FP8"},
		{"H200", "meta-llama/Llama-3.1-405B-Instruct"},
	} {
		t.Run(tc.gpu, func(t *testing.T) {
			svc, sts := manifest(t, Options{RunID: "run-1", Namespace: "bench", Replicas: 2, GPUType: tc.gpu, HFTokenSecret: "hf"})
			c := sts.Spec.Template.Spec.Containers[0]
			want := []string{
				"--model=/model-storage/" + tc.model,
				"--served-model-name=" + tc.model,
				"--tensor-parallel-size=8",
				"--max-num-batched-tokens=16384",
				"--max-model-len=16384",
				"--num-scheduler-steps=16",
				"--enable-chunked-prefill=False",
				"--seed=42",
			}
			if !reflect.DeepEqual(c.Args, want) {
				t.Errorf("args\n got %q\nwant %q", c.Args, want)
			}
			if !reflect.DeepEqual(c.Command, []string{"python3", "-m", "vllm.entrypoints.openai.api_server"}) {
				t.Errorf("command %q", c.Command)
			}
			if c.Image != DefaultImage || DefaultImage != "vllm/vllm-openai:v0.10.0" {
				t.Errorf("image %q", c.Image)
			}
			eight := resource.MustParse("8")
			if q := c.Resources.Requests[GPUResource]; q.Cmp(eight) != 0 {
				t.Errorf("gpu request %s", q.String())
			}
			if q := c.Resources.Limits[GPUResource]; q.Cmp(eight) != 0 {
				t.Errorf("gpu limit %s", q.String())
			}
			if *sts.Spec.Replicas != 2 || sts.Spec.ServiceName != svc.Name || sts.Name != "vllm-run-1" || sts.Namespace != "bench" {
				t.Errorf("statefulset %s/%s replicas %d service %s", sts.Namespace, sts.Name, *sts.Spec.Replicas, sts.Spec.ServiceName)
			}
			if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				t.Errorf("pod management %q", sts.Spec.PodManagementPolicy)
			}
			if sts.Kind != "StatefulSet" || sts.APIVersion != "apps/v1" || svc.Kind != "Service" || svc.APIVersion != "v1" {
				t.Errorf("kinds %s %s %s %s", sts.Kind, sts.APIVersion, svc.Kind, svc.APIVersion)
			}
		})
	}
}

func TestObjectsPodSpec(t *testing.T) {
	svc, sts := manifest(t, Options{
		RunID: "run-1", Namespace: "bench", GPUType: "H100", HFTokenSecret: "hf-token",
		ModelStoragePVC: "weights", NodeSelector: map[string]string{"pool": "gpu"}, Image: "registry/vllm:custom",
	})
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "registry/vllm:custom" {
		t.Errorf("image %q", c.Image)
	}

	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	if v := vols["model-storage"]; v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "weights" {
		t.Errorf("model-storage volume %+v", v)
	}
	shm := vols["dshm"].EmptyDir
	if shm == nil || shm.Medium != corev1.StorageMediumMemory || shm.SizeLimit == nil || shm.SizeLimit.String() != DefaultShmSize {
		t.Errorf("dshm volume %+v", vols["dshm"])
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if !reflect.DeepEqual(mounts, map[string]string{"model-storage": "/model-storage", "dshm": "/dev/shm"}) {
		t.Errorf("mounts %v", mounts)
	}

	if len(c.Env) != 1 || c.Env[0].Name != "HF_TOKEN" || c.Env[0].Value != "" {
		t.Fatalf("env %+v", c.Env)
	}
	ref := c.Env[0].ValueFrom.SecretKeyRef
	if ref.Name != "hf-token" || ref.Key != "token" || ref.Optional == nil || *ref.Optional {
		t.Errorf("HF_TOKEN ref %+v", ref)
	}

	if !reflect.DeepEqual(pod.NodeSelector, map[string]string{"pool": "gpu"}) {
		t.Errorf("node selector %v", pod.NodeSelector)
	}
	wantTol := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	if len(pod.Tolerations) != 1 || pod.Tolerations[0] != wantTol {
		t.Errorf("tolerations %+v", pod.Tolerations)
	}

	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/health" || p.HTTPGet.Port.IntValue() != 8000 {
			t.Errorf("%s probe %+v", name, p)
		}
	}
	if load := c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold; load < 3600 {
		t.Errorf("startup probe allows %d s to load, want >= 3600", load)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8000 {
		t.Errorf("ports %+v", c.Ports)
	}

	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || svc.Spec.Ports[0].Port != 8000 {
		t.Errorf("service spec %+v", svc.Spec)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, sts.Spec.Selector.MatchLabels) {
		t.Errorf("service selector %v, statefulset selector %v", svc.Spec.Selector, sts.Spec.Selector.MatchLabels)
	}
	for k, v := range sts.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("template does not match selector %s=%s", k, v)
		}
	}
}

func TestObjectsLabels(t *testing.T) {
	svc, sts := manifest(t, Options{RunID: "run-1", GPUType: "H200"})
	want := map[string]string{
		"app.kubernetes.io/name":       "vllm",
		"app.kubernetes.io/instance":   "run-1",
		"app.kubernetes.io/component":  "inference-server",
		"app.kubernetes.io/managed-by": "vllm-inference-benchmark",
		"app.kubernetes.io/part-of":    "vllm-inference-benchmark",
		"vllm-bench/run-id":            "run-1",
	}
	for name, got := range map[string]map[string]string{"service": svc.Labels, "statefulset": sts.Labels, "pod template": sts.Spec.Template.Labels} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s labels %v", name, got)
		}
	}
	if svc.Namespace != "default" || sts.Annotations[AnnotationRunID] != "run-1" {
		t.Errorf("namespace %q annotations %v", svc.Namespace, sts.Annotations)
	}
}

func TestObjectsNoTokenSecret(t *testing.T) {
	_, sts := manifest(t, Options{RunID: "r", GPUType: "H100"})
	if env := sts.Spec.Template.Spec.Containers[0].Env; len(env) != 0 {
		t.Errorf("env without hf_token_secret: %+v", env)
	}
}

func TestObjectsModelAndArgsOverrides(t *testing.T) {
	_, sts := manifest(t, Options{
		RunID: "r", GPUType: "H100", Model: "meta-llama/Llama-3.1-8B-Instruct", ServedModelName: "llama",
		VLLMArgs: []string{"--tensor-parallel-size=4", "--seed", "7", "--enable-prefix-caching", "--gpu-memory-utilization=0.95"},
	})
	c := sts.Spec.Template.Spec.Containers[0]
	want := []string{
		"--model=/model-storage/meta-llama/Llama-3.1-8B-Instruct",
		"--served-model-name=llama",
		"--tensor-parallel-size=4",
		"--max-num-batched-tokens=16384",
		"--max-model-len=16384",
		"--num-scheduler-steps=16",
		"--enable-chunked-prefill=False",
		"--seed=7",
		"--enable-prefix-caching",
		"--gpu-memory-utilization=0.95",
	}
	if !reflect.DeepEqual(c.Args, want) {
		t.Errorf("args\n got %q\nwant %q", c.Args, want)
	}
	four := resource.MustParse("4")
	if q := c.Resources.Limits[GPUResource]; q.Cmp(four) != 0 {
		t.Errorf("gpu limit %s, want tensor parallel size 4", q.String())
	}
}

func TestObjectsErrors(t *testing.T) {
	for name, opts := range map[string]Options{
		"auto unresolved": {RunID: "r", GPUType: "auto"},
		"unknown gpu":     {RunID: "r", GPUType: "A100"},
		"no run id":       {GPUType: "H100"},
		"bad tp":          {RunID: "r", GPUType: "H100", VLLMArgs: []string{"--tensor-parallel-size=zero"}},
		"bad shm":         {RunID: "r", GPUType: "H100", ShmSize: "lots"},
	} {
		if _, err := Objects(opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// An explicit model needs no GPU type.
	if _, err := Objects(Options{RunID: "r", GPUType: "auto", Model: "m"}); err != nil {
		t.Errorf("explicit model with auto: %v", err)
	}
}

func TestOptionsFromRequest(t *testing.T) {
	req := config.Request{
		Deploy: "kubernetes", ReplicaCount: 3, GPUType: "H200", Namespace: "ns", Image: "img",
		VLLMArgs: []string{"--seed=1"}, HFTokenSecret: "hf", ModelStoragePVC: "pvc",
		NodeSelector: map[string]string{"a": "b"}, ReadyTimeoutSeconds: 90, ServedModelName: "s",
	}
	got := OptionsFromRequest(req, "run")
	want := Options{RunID: "run", Namespace: "ns", Replicas: 3, GPUType: "H200", Image: "img",
		VLLMArgs: []string{"--seed=1"}, HFTokenSecret: "hf", ModelStoragePVC: "pvc", ServedModelName: "s",
		NodeSelector: map[string]string{"a": "b"}, ReadyTimeout: 90e9}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRenderYAML(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderYAML(&buf, Options{RunID: "run-1", GPUType: "H100", Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(buf.String(), "---\n"), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents:\n%s", len(docs), buf.String())
	}
	var svc corev1.Service
	var sts appsv1.StatefulSet
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &svc); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &sts); err != nil {
		t.Fatal(err)
	}
	_, want := manifest(t, Options{RunID: "run-1", GPUType: "H100", Replicas: 2})
	if svc.Kind != "Service" || !reflect.DeepEqual(sts, want) {
		t.Errorf("yaml does not round-trip:\n%s", buf.String())
	}
	if err := RenderYAML(&buf, Options{RunID: "r", GPUType: "auto"}); err == nil {
		t.Error("auto without a cluster rendered")
	}
}
