package k8s

import (
	"os"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestWorkerManifests parses every file of deploy/kustomization.yaml
// strictly into its API type and checks how the two workers are wired.
func TestWorkerManifests(t *testing.T) {
	var kust struct {
		Resources []string `json:"resources"`
		Images    []struct {
			Name, NewName, NewTag, Digest string
		} `json:"images"`
	}
	readYAML(t, "../deploy/kustomization.yaml", &kust)
	for _, img := range kust.Images {
		if img.Digest == "" && (img.NewTag == "" || img.NewTag == "latest") {
			t.Errorf("image %s is not pinned (tag %q)", img.Name, img.NewTag)
		}
	}
	workers := map[string]appsv1.Deployment{}
	for _, file := range kust.Resources {
		b, err := os.ReadFile("../deploy/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			var meta struct{ Kind string }
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatal(err)
			}
			var obj any
			switch meta.Kind {
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "Role", "ClusterRole":
				obj = &rbacv1.Role{}
			case "RoleBinding", "ClusterRoleBinding":
				obj = &rbacv1.RoleBinding{}
			default:
				t.Fatalf("%s: unexpected kind %q", file, meta.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s: %v", file, err)
			}
			if d, ok := obj.(*appsv1.Deployment); ok {
				workers[d.Spec.Template.Spec.Containers[0].Command[2]] = *d
			}
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "BENCHMARK_RESULTS_BUCKET", "BENCHMARK_RESULTS_DIRECTORY"} {
					if _, ok := cm.Data[k]; !ok {
						t.Errorf("configmap lacks %s", k)
					}
				}
			}
		}
	}
	orch, load := workers["orchestration"], workers["load"]
	if got := orch.Spec.Template.Spec.Containers[0].Command; !reflect.DeepEqual(got, []string{"worker", "--task-queues", "orchestration"}) {
		t.Errorf("orchestration command %q", got)
	}
	if orch.Spec.Template.Spec.ServiceAccountName != "vllm-bench-orchestrator" {
		t.Error("orchestration workers do not use the service account bound to the Role")
	}
	if a := load.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("load workers get an API token they do not need")
	}
	for name, d := range workers {
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		env := c.EnvFrom
		if len(env) != 2 || env[0].ConfigMapRef == nil || env[1].SecretRef == nil || env[1].SecretRef.Optional == nil || !*env[1].SecretRef.Optional {
			t.Errorf("%s envFrom %+v", name, env)
		}
		// Guaranteed QoS: no CPU throttling below the request.
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if req, lim := c.Resources.Requests[r], c.Resources.Limits[r]; req.IsZero() || req.Cmp(lim) != 0 {
				t.Errorf("%s worker %s request %s, limit %s: want equal", name, r, req.String(), lim.String())
			}
		}
		// The image's user (Dockerfile: uid 10001, home /home/vib) with
		// writable scratch on a read-only root filesystem.
		if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 10001 {
			t.Errorf("%s worker runs as %+v, want the image's uid 10001", name, pod.SecurityContext)
		}
		scratch := map[string]bool{}
		vols := map[string]bool{}
		for _, v := range pod.Volumes {
			vols[v.Name] = v.EmptyDir != nil
		}
		for _, m := range c.VolumeMounts {
			scratch[m.MountPath] = vols[m.Name]
		}
		if !scratch["/tmp"] || !scratch["/home/vib"] {
			t.Errorf("%s worker scratch %v, want emptyDirs at /tmp and /home/vib", name, scratch)
		}
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
