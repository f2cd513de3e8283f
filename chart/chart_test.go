// Package chart holds the tests of the Helm chart in this directory (the
// chart itself is templates; .helmignore keeps this file out of it).
package chart

import (
	"github.com/vibench/vllm-inference-benchmark/internal/testtools"

	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/vibench/vllm-inference-benchmark/k8stest"
)

const (
	release   = "bench"
	namespace = "bench"
	token     = "hf_chartTokenNeverInPlainText"
	// vib.fullname of release "bench".
	fullname = "bench-vllm-inference-benchmark"
)

// helmBin finds the Helm CLI that scripts/k8s-tools.sh installs.
func helmBin(t *testing.T) string {
	t.Helper()
	return testtools.Bin(t, "helm", "scripts/k8s-tools.sh helm")
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = "."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// rendered is `helm template` of the chart, by "Kind/name".
func render(t *testing.T, sets ...string) (string, map[string]string) {
	t.Helper()
	args := []string{"template", release, ".", "--namespace", namespace}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	docs := map[string]string{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if meta.Kind != "" {
			docs[meta.Kind+"/"+meta.Metadata.Name] = doc
		}
	}
	return out, docs
}

func decode[T any](t *testing.T, docs map[string]string, key string) T {
	t.Helper()
	doc, ok := docs[key]
	if !ok {
		keys := make([]string, 0, len(docs))
		for k := range docs {
			keys = append(keys, k)
		}
		t.Fatalf("no %s in %v", key, keys)
	}
	var v T
	if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

func TestLint(t *testing.T) {
	if out, err := helm(t, "lint", ".", "--strict", "--set", "results.bucket=results", "--set", "hfToken="+token); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	// Without a bucket nothing renders: load workers would lose the results.
	out, err := helm(t, "template", release, ".")
	if err == nil || !strings.Contains(out, "results.bucket is required") {
		t.Errorf("rendered without results.bucket: %v\n%s", err, out)
	}
}

// What `helm install --set hfToken=... --set results.bucket=...` creates:
// both workers, the Role of deploy/, the token Secret (the only place the
// token is, base64), the specs and the post-install Job that starts them.
func TestTemplate(t *testing.T) {
	out, docs := render(t, "results.bucket=results", "hfToken="+token)
	if strings.Contains(out, token) {
		t.Error("the token appears in plain text")
	}
	enc := base64.StdEncoding.EncodeToString([]byte(token))
	for key, doc := range docs {
		if strings.Contains(doc, enc) && key != "Secret/"+fullname+"-hf-token" {
			t.Errorf("%s carries the token", key)
		}
	}
	secret := decode[corev1.Secret](t, docs, "Secret/"+fullname+"-hf-token")
	if string(secret.Data["token"]) != token {
		t.Errorf("token Secret data %v", secret.Data)
	}

	role := decode[rbacv1.Role](t, docs, "Role/"+fullname+"-orchestrator")
	if want := deployRole(t); !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("chart Role rules differ from deploy/rbac.yaml:\n got %+v\nwant %+v", role.Rules, want)
	}

	for _, comp := range []string{"orchestration", "load"} {
		d := decode[appsv1.Deployment](t, docs, "Deployment/"+fullname+"-"+comp)
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		if !reflect.DeepEqual(c.Command, []string{"worker", "--task-queues", comp}) || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":v") {
			t.Errorf("%s: command %q image %q", comp, c.Command, c.Image)
		}
		if !reflect.DeepEqual(c.Resources.Requests, c.Resources.Limits) || c.Resources.Limits.Cpu().IsZero() {
			t.Errorf("%s: requests %v limits %v", comp, c.Resources.Requests, c.Resources.Limits)
		}
		if comp == "load" && (pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken) {
			t.Error("load workers get an API token")
		}
		if comp == "orchestration" && pod.ServiceAccountName != fullname+"-orchestrator" {
			t.Errorf("orchestration service account %q", pod.ServiceAccountName)
		}
	}
	cm := decode[corev1.ConfigMap](t, docs, "ConfigMap/"+fullname+"-worker")
	if cm.Data["BENCHMARK_RESULTS_BUCKET"] != "results" {
		t.Errorf("worker config %v", cm.Data)
	}

	specs := chartSpecs(t, docs)
	if len(specs) != 1 || specs[0]["hf_token_secret"] != fullname+"-hf-token" || specs[0]["namespace"] != namespace || specs[0]["gpu_type"] != "H100" {
		t.Errorf("specs %v", specs)
	}
	job := decode[batchv1.Job](t, docs, "Job/"+fullname+"-start-r1")
	if job.Annotations["helm.sh/hook"] != "post-install" {
		t.Errorf("job annotations %v", job.Annotations)
	}
	if c := job.Spec.Template.Spec.Containers[0]; !reflect.DeepEqual(c.Command, []string{"starter", "start", "--config=/specs/benchmark-specs.json", "--id=bench-r1"}) || len(c.EnvFrom) != 0 {
		t.Errorf("job command %q envFrom %v", c.Command, c.EnvFrom)
	}

	// No specs: nothing starts.
	_, docs = render(t, "results.bucket=results", "benchmarkSpecs=null")
	for key := range docs {
		if strings.HasPrefix(key, "Job/") || strings.HasSuffix(key, "-benchmark-specs") {
			t.Errorf("%s rendered without benchmarkSpecs", key)
		}
	}
}

// The rendered chart, hooks included, passes the API server's own
// validation and admission (server-side dry run on a real kube-apiserver).
func TestServerSideDryRun(t *testing.T) {
	out, _ := render(t, "results.bucket=results", "hfToken="+token)
	cluster := k8stest.Start(t)
	cluster.CreateNamespace(t, namespace)
	file := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	applied := cluster.DryRunApply(t, namespace, file)
	t.Logf("accepted: %s", strings.Join(applied, ", "))
	if len(applied) < 10 {
		t.Errorf("%d objects accepted", len(applied))
	}
}

// The chart's default specs deploy the same vLLM objects as
// `starter deploy --dry-run` with the seed's settings on the command line.
func TestDefaultsRenderTheDryRunObjects(t *testing.T) {
	_, docs := render(t, "results.bucket=results", "hfToken="+token)
	cm := decode[corev1.ConfigMap](t, docs, "ConfigMap/"+fullname+"-benchmark-specs")
	specs := filepath.Join(t.TempDir(), "specs.json")
	if err := os.WriteFile(specs, []byte(cm.Data["benchmark-specs.json"]), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "starter")
	if out, err := exec.Command("go", "build", "-o", bin, "../starter").CombinedOutput(); err != nil {
		t.Fatalf("build starter: %v\n%s", err, out)
	}
	dryRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"deploy", "--dry-run", "-o", "yaml", "--run-id", "compare"}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "HF_TOKEN=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("starter %q: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	fromChart := dryRun("--config", specs)
	fromFlags := dryRun("--gpu-type", "H100", "--replica-count", "2", "--k8s-namespace", namespace, "--hf-token-secret", fullname+"-hf-token")
	if fromChart != fromFlags {
		t.Errorf("the chart's specs deploy other objects than the dry run:\nchart:\n%s\nflags:\n%s", fromChart, fromFlags)
	}
	if !strings.Contains(fromChart, "--num-scheduler-steps=16") || !strings.Contains(fromChart, "kind: StatefulSet") {
		t.Errorf("dry run:\n%s", fromChart)
	}
}

func chartSpecs(t *testing.T, docs map[string]string) []map[string]any {
	t.Helper()
	cm := decode[corev1.ConfigMap](t, docs, "ConfigMap/"+fullname+"-benchmark-specs")
	var specs []map[string]any
	if err := json.Unmarshal([]byte(cm.Data["benchmark-specs.json"]), &specs); err != nil {
		t.Fatal(err)
	}
	return specs
}

func deployRole(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile("../deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var role rbacv1.Role
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		if role.Kind == "Role" {
			return role.Rules
		}
	}
	t.Fatal("no Role in deploy/rbac.yaml")
	return nil
}
