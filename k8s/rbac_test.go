package k8s

import (
	"context"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

// TestRBACMatchesCalls runs every API-calling function the worker calls
// and checks that deploy/rbac.yaml grants exactly the verbs they used
// (EnsureTokenSecret is the starter's, with the operator's credentials).
func TestRBACMatchesCalls(t *testing.T) {
	defer func(p time.Duration) { teardownPoll = p }(teardownPoll)
	teardownPoll = time.Millisecond
	ctx := context.Background()
	opts := readyOpts(podIPs{})
	opts.GPUType = "auto"
	opts.ReadyTimeout = 10 * time.Millisecond
	opts.HFTokenSecret = TokenSecretName(opts.RunID)
	cs := deployed(t, Options{RunID: "other", Namespace: "bench", GPUType: "H100"})
	addPods(t, cs, gpuNode("n", "NVIDIA-H100-80GB-HBM3"), pendingPod(opts, 0))
	for _, run := range []string{opts.RunID, "never-deployed"} {
		if err := EnsureTokenSecret(ctx, cs, "bench", TokenSecretName(run), run, "tok"); err != nil {
			t.Fatal(err)
		}
	}
	cs.ClearActions()

	if _, err := Deploy(ctx, cs, opts); err != nil { // adopts the token Secret
		t.Fatal(err)
	}
	WaitReady(ctx, cs, opts, nil) // times out, listing events
	Endpoints(ctx, cs, opts)
	cs.Tracker().Delete(podGVR, "bench", "vllm-run-1-0")
	if err := Teardown(ctx, cs, "bench", opts.RunID); err != nil {
		t.Fatal(err)
	}
	if err := Teardown(ctx, cs, "bench", "never-deployed"); err != nil { // deletes its token Secret
		t.Fatal(err)
	}

	used := map[string]bool{}
	for _, a := range cs.Actions() {
		res := a.GetResource()
		key := res.Group + "/" + res.Resource + ":"
		used[key+a.GetVerb()] = true
		if p, ok := a.(k8stesting.PatchAction); ok && p.GetPatchType() == types.ApplyPatchType {
			used[key+"create"] = true // apply creates what does not exist yet
		}
	}
	granted := map[string]bool{}
	for _, r := range rbacRules(t) {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					granted[g+"/"+res+":"+v] = true
				}
			}
		}
	}
	if _, err := cs.CoreV1().Secrets("bench").Get(ctx, TokenSecretName("never-deployed"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the token Secret of a run that never deployed is still there: %v", err)
	}
	if !reflect.DeepEqual(used, granted) {
		t.Errorf("used but not granted: %v\ngranted but not used: %v", missing(used, granted), missing(granted, used))
	}
}

func rbacRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	b, err := os.ReadFile("../deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules []rbacv1.PolicyRule
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var role rbacv1.Role
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		if role.Kind == "Role" || role.Kind == "ClusterRole" {
			rules = append(rules, role.Rules...)
		}
	}
	return rules
}

func missing(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
