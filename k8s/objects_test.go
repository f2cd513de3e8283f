package k8s

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/vibench/vllm-inference-benchmark/config"
)

func TestObjectsFollowGPUType(t *testing.T) {
	for _, tc := range []struct {
		gpu, model, product string
	}{
		{"H100", "meta-llama/Llama-3.1-405B-Instruct-FP8", "NVIDIA-H100-80GB-HBM3"},
		{"H200", "meta-llama/Llama-3.1-405B-Instruct", "NVIDIA-H200"},
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
			if c.Image != DefaultImage || DefaultImage != "vllm/vllm-openai:v0.8.4" {
				t.Errorf("image %q", c.Image)
			}
			// Guaranteed QoS: every resource requested as much as its limit.
			want405B := corev1.ResourceList{GPUResource: resource.MustParse("8"),
				corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("512Gi")}
			for _, list := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				if len(list) != len(want405B) {
					t.Errorf("resources %v, want %v", list, want405B)
				}
				for name, q := range want405B {
					if got := list[name]; got.Cmp(q) != 0 {
						t.Errorf("%s %s, want %s", name, got.String(), q.String())
					}
				}
			}
			if got := sts.Spec.Template.Spec.NodeSelector; !reflect.DeepEqual(got, map[string]string{GPUProductLabel: tc.product}) {
				t.Errorf("node selector %v, want the %s product", got, tc.gpu)
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

	if !reflect.DeepEqual(pod.NodeSelector, map[string]string{"pool": "gpu", GPUProductLabel: "NVIDIA-H100-80GB-HBM3"}) {
		t.Errorf("node selector %v", pod.NodeSelector)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken || pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("automount token %v, service links %v: want both off", pod.AutomountServiceAccountToken, pod.EnableServiceLinks)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("security context %+v", sc)
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
	if load := c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold; load != 3600 {
		t.Errorf("startup probe allows %d s to load, want the ready timeout, 3600", load)
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
		"bad cpu":         {RunID: "r", GPUType: "H100", CPU: "-1"},
		"shm over memory": {RunID: "r", GPUType: "H100", Memory: "32Gi", ShmSize: "32Gi"},
		"image too old":   {RunID: "r", GPUType: "H100", Image: "vllm/vllm-openai:v0.5.4"},
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
		VLLMVersion: "v0.9.2", CPU: "16", Memory: "256Gi", ShmSize: "16Gi",
	}
	got := OptionsFromRequest(req, "run")
	want := Options{RunID: "run", Namespace: "ns", Replicas: 3, GPUType: "H200", Image: "img",
		VLLMArgs: []string{"--seed=1"}, HFTokenSecret: "hf", ModelStoragePVC: "pvc", ServedModelName: "s",
		NodeSelector: map[string]string{"a": "b"}, ReadyTimeout: 90e9,
		VLLMVersion: "v0.9.2", CPU: "16", Memory: "256Gi", ShmSize: "16Gi"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRenderYAML(t *testing.T) {
	var buf bytes.Buffer
	opts := Options{RunID: "run-1", GPUType: "H100", Replicas: 2, HFTokenSecret: TokenSecretName("run-1")}
	if err := RenderYAML(&buf, opts, true); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(buf.String(), "---\n"), "\n---\n")
	if len(docs) != 4 {
		t.Fatalf("%d documents:\n%s", len(docs), buf.String())
	}
	var secret corev1.Secret
	var svc corev1.Service
	var sts appsv1.StatefulSet
	var pdb policyv1.PodDisruptionBudget
	for i, into := range []any{&secret, &svc, &sts, &pdb} {
		if err := yaml.UnmarshalStrict([]byte(docs[i]), into); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := Objects(opts)
	if want := typed[appsv1.StatefulSet](t, m.StatefulSet); svc.Kind != "Service" || !reflect.DeepEqual(sts, want) {
		t.Errorf("yaml does not round-trip:\n%s", buf.String())
	}
	// The Secret as EnsureTokenSecret creates it, less its value.
	if secret.Kind != "Secret" || secret.Name != "vllm-run-1-hf-token" || secret.Namespace != "default" ||
		secret.Annotations[AnnotationCreatedBy] != FieldManager || secret.Labels[LabelRunID] != "run-1" || len(secret.Data) != 0 {
		t.Errorf("secret %+v", secret)
	}
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 0 || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, sts.Spec.Selector.MatchLabels) {
		t.Errorf("disruption budget %+v", pdb.Spec)
	}
	if err := RenderYAML(&buf, Options{RunID: "r", GPUType: "auto"}, false); err == nil {
		t.Error("auto without a cluster rendered")
	}
}

func TestObjectsQoSOverrides(t *testing.T) {
	_, sts := manifest(t, Options{RunID: "r", GPUType: "H200", CPU: "48", Memory: "1Ti", ShmSize: "64Gi", ReadyTimeout: 2 * time.Hour})
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	if cpu, mem := c.Resources.Limits[corev1.ResourceCPU], c.Resources.Requests[corev1.ResourceMemory]; cpu.String() != "48" || mem.String() != "1Ti" {
		t.Errorf("cpu %s memory %s", cpu.String(), mem.String())
	}
	if !reflect.DeepEqual(c.Resources.Requests, c.Resources.Limits) {
		t.Errorf("requests %v != limits %v", c.Resources.Requests, c.Resources.Limits)
	}
	for _, v := range pod.Volumes {
		if v.Name == "dshm" && v.EmptyDir.SizeLimit.String() != "64Gi" {
			t.Errorf("shm %s", v.EmptyDir.SizeLimit.String())
		}
	}
	if load := c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold; load != 7200 {
		t.Errorf("startup window %d s, want the 2 h ready timeout", load)
	}
}
