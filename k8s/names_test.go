package k8s

import (
	"regexp"
	"strings"
	"testing"
)

var dnsLabel = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
var labelValue = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

func TestResourceName(t *testing.T) {
	if got := ResourceName("run-1"); got != "vllm-run-1" {
		t.Errorf("clean id changed: %q", got)
	}
	ids := []string{
		"Run_1", "run_1", "RUN.1", "stress/test 2025-01-01T00:00:00Z", "--x--", "",
		strings.Repeat("a", 200), strings.Repeat("a", 201), "ünïcode",
	}
	seen := map[string]string{}
	for _, id := range ids {
		name := ResourceName(id)
		if len(name) > 52 || !dnsLabel.MatchString(name) {
			t.Errorf("%q -> %q: not a DNS-1035 label of at most 52 characters", id, name)
		}
		if len(name+"-99") > 63 || len(TokenSecretName(id)) > 63 || !dnsLabel.MatchString(TokenSecretName(id)) {
			t.Errorf("%q: derived names too long or invalid", id)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("%q and %q share name %q", id, other, name)
		}
		seen[name] = id
		if ResourceName(id) != name {
			t.Errorf("%q: not deterministic", id)
		}
	}
}

func TestRunLabelValue(t *testing.T) {
	if got := RunLabelValue("Run_1.a"); got != "Run_1.a" {
		t.Errorf("valid value changed: %q", got)
	}
	for _, id := range []string{"a/b", "-x", strings.Repeat("z", 64), "x y"} {
		v := RunLabelValue(id)
		if len(v) > 63 || !labelValue.MatchString(v) {
			t.Errorf("%q -> %q: invalid label value", id, v)
		}
	}
	if RunLabelValue("a/b") == RunLabelValue("a b") {
		t.Error("different ids share a label value")
	}
}
