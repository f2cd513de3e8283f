package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
)

// starterEnv runs the built command with env added to this process's.
func starterEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return run(t, env, "", args...)
}

// Every command's -h, --help and help (also after an id, and as
// "starter help CMD") print its help to stdout and exit 0 at once, without
// connecting to Temporal.
func TestEveryCommandsHelpExits0WithoutAServer(t *testing.T) {
	addr, conns := countingTemporal(t)
	env := []string{"TEMPORAL_ADDRESS=" + addr}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {c.name, "help"}, {c.name, "some-id", "--help"}, {"help", c.name}} {
			out, errOut, code := starterEnv(t, env, args...)
			if code != 0 || errOut != "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
			}
			if !strings.HasPrefix(out, "starter "+c.name+": "+c.summary+"\n\nUsage:\n  starter "+c.name) {
				t.Errorf("%v: not %s's help:\n%s", args, c.name, out)
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		out, _, code := starterEnv(t, env, args...)
		if code != 0 || !strings.Contains(out, "Durable runs on Temporal:") || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: exit %d:\n%s", args, code, out)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("help connected to Temporal %d times", n)
	}
}

// Each command's help groups its flags; bench lists no Kubernetes flag
// (it deploys nothing), start and deploy do, as --k8s-namespace.
func TestHelpGroupsTheFlags(t *testing.T) {
	help := func(name string) string {
		c, _ := lookupCommand(name)
		var b bytes.Buffer
		printHelp(&b, c)
		return b.String()
	}
	bench := help("bench")
	for _, want := range []string{groupVLLM + ":\n  --backend", groupLoad + ":", "Output:\n  --append-result", groupIgnored, "Examples:\n  starter bench"} {
		if !strings.Contains(bench, want) {
			t.Errorf("bench help lacks %q:\n%s", want, bench)
		}
	}
	for _, kube := range []string{groupKube, "--deploy", "--gpu-type", "--k8s-namespace", "--namespace", "--address"} {
		if strings.Contains(bench, kube) {
			t.Errorf("bench help lists %s, which bench does not take", kube)
		}
	}
	start := help("start")
	for _, want := range []string{groupKube + ":\n  --deploy", "--k8s-namespace string", groupTemporal + ":\n  --address", "--namespace string", "Start:\n  --id"} {
		if !strings.Contains(start, want) {
			t.Errorf("start help lacks %q:\n%s", want, start)
		}
	}
	if deploy := help("deploy"); !strings.Contains(deploy, "--k8s-namespace") || strings.Contains(deploy, groupTemporal) {
		t.Errorf("deploy help:\n%s", deploy)
	}
}

// Flags parse before and after the id: result reads the same run's JSON
// either way.
func TestFlagsAfterTheID(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run1"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "run1", "result.json"), []byte(`{"completed": 7}`), 0o644)
	os.WriteFile(filepath.Join(dir, "run1", "result.txt"), []byte("the table\n"), 0o644)
	addr, conns := countingTemporal(t)
	env := []string{"BENCHMARK_RESULTS_BUCKET=", "BENCHMARK_RESULTS_DIRECTORY=" + dir, "TEMPORAL_ADDRESS=" + addr}
	for _, args := range [][]string{{"result", "run1", "--json"}, {"result", "--json", "run1"}, {"result", "--json", "--", "run1"}} {
		out, errOut, code := starterEnv(t, env, args...)
		if code != 0 || out != "{\"completed\": 7}\n" {
			t.Errorf("%v: exit %d, stdout %q, stderr %s", args, code, out, errOut)
		}
	}
	if out, _, _ := starterEnv(t, env, "result", "run1"); out != "the table\n" {
		t.Errorf("result without --json: %q", out)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("a stored result connected to Temporal %d times", n)
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		pos   []string
		json  bool
		limit int
	}{
		{[]string{"id"}, []string{"id"}, false, 0},
		{[]string{"id", "--json"}, []string{"id"}, true, 0},
		{[]string{"--json", "id"}, []string{"id"}, true, 0},
		{[]string{"id", "--limit", "3", "why", "--json"}, []string{"id", "why"}, true, 3},
		{[]string{"--limit=3", "id", "--", "--json"}, []string{"id", "--json"}, false, 3},
		{[]string{"--", "-id"}, []string{"-id"}, false, 0},
	} {
		fs := newFlagSet("t")
		asJSON := fs.Bool("json", false, "")
		limit := fs.Int("limit", 0, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !reflect.DeepEqual(pos, tc.pos) || *asJSON != tc.json || *limit != tc.limit {
			t.Errorf("%v: %v %v json=%v limit=%d", tc.args, pos, err, *asJSON, *limit)
		}
	}
}

// An unknown flag is one short line naming it and the help, exit 2, and
// nothing is contacted.
func TestUnknownFlagIsShortAndExits2(t *testing.T) {
	addr, conns := countingTemporal(t)
	env := []string{"TEMPORAL_ADDRESS=" + addr}
	for _, args := range [][]string{{"bench", "--foo"}, {"start", "--foo=1"}, {"result", "run1", "--foo"}, {"stop", "--foo", "run1"}, {"list", "--foo"}, {"deploy", "--dry-run", "--foo"}, {"recompute", "--foo"}} {
		_, errOut, code := starterEnv(t, env, args...)
		want := "starter " + args[0] + ": unknown flag --foo; run \"starter " + args[0] + " -h\" for the flags\n"
		if code != 2 || errOut != want {
			t.Errorf("%v: exit %d, stderr %q, want %q", args, code, errOut, want)
		}
	}
	// bench deploys nothing: it has no Kubernetes flags.
	if _, errOut, code := starterEnv(t, env, "bench", "--deploy", "kubernetes"); code != 2 || !strings.Contains(errOut, "unknown flag --deploy") {
		t.Errorf("bench --deploy: exit %d: %s", code, errOut)
	}
	// The Kubernetes namespace was --namespace; it is --k8s-namespace now.
	if _, errOut, code := starterEnv(t, env, "deploy", "--dry-run", "--namespace", "bench"); code != 2 || !strings.Contains(errOut, "--k8s-namespace") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("deploy --namespace: exit %d: %s", code, errOut)
	}
	if _, errOut, code := starterEnv(t, env, "result"); code != 2 || !strings.Contains(errOut, "starter result: want RUN_ID, got 0 argument(s)") {
		t.Errorf("result without an id: exit %d: %s", code, errOut)
	}
	if _, errOut, code := starterEnv(t, env, "nope"); code != 2 || errOut != "starter: unknown command \"nope\"; run \"starter -h\" for the commands\n" {
		t.Errorf("unknown command: exit %d: %q", code, errOut)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("a refused command line connected to Temporal %d times", n)
	}
}

func TestK8sNamespaceDeploysThere(t *testing.T) {
	out, errOut, code := starterEnv(t, []string{"HF_TOKEN="}, "deploy", "--dry-run", "-o", "yaml", "--gpu-type", "H100", "--k8s-namespace", "bench")
	if code != 0 || !strings.Contains(out, "namespace: bench\n") {
		t.Errorf("exit %d: %s\n%s", code, errOut, out)
	}
}

func TestVersion(t *testing.T) {
	a, _, codeA := starterEnv(t, nil, "--version")
	b, _, codeB := starterEnv(t, nil, "version")
	if codeA != 0 || codeB != 0 || a != b || !strings.HasPrefix(a, "starter ") || strings.Count(a, "\n") != 1 || len(a) < len("starter x\n") {
		t.Errorf("--version %q (%d), version %q (%d)", a, codeA, b, codeB)
	}
}

func TestVersionOf(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		info debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "abc123", "vcs.time", "2026-01-02T03:04:05Z")}, "abc123 (2026-01-02T03:04:05Z)"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "abc123", "vcs.modified", "true")}, "abc123-dirty"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
	} {
		if got := versionOf(&tc.info); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.info, got, tc.want)
		}
	}
}

// Each shell's script names every command, and each command's flags from
// the same table (bench's without Kubernetes ones).
func TestCompletionScriptsMentionEveryCommand(t *testing.T) {
	for _, shell := range completionShells {
		out, errOut, code := starterEnv(t, nil, "completion", shell)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", shell, code, errOut)
		}
		for _, c := range commands() {
			if !strings.Contains(out, c.name) {
				t.Errorf("%s completion does not name %s", shell, c.name)
			}
		}
		flagAs := "--"
		if shell == "fish" {
			flagAs = "-l "
		}
		for _, f := range []string{"k8s-namespace", "address", "save-result", "limit", "request-rate"} {
			if !strings.Contains(out, flagAs+f) {
				t.Errorf("%s completion lacks --%s", shell, f)
			}
		}
		if bash, err := exec.LookPath(shell); err == nil {
			if out, err := exec.Command(bash, "-n", "-c", out).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		}
	}
	out, _, _ := starterEnv(t, nil, "completion", "bash")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "bench)") && strings.Contains(line, "--k8s-namespace") {
			t.Errorf("bash completes a Kubernetes flag for bench: %s", line)
		}
		if strings.HasPrefix(strings.TrimSpace(line), "start)") && !strings.Contains(line, "--k8s-namespace") {
			t.Errorf("bash does not complete --k8s-namespace for start: %s", line)
		}
	}
	if _, errOut, code := starterEnv(t, nil, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, `unknown shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d: %s", code, errOut)
	}
}

// New metric options go straight after --run or --golden, as the README says.
func TestRecomputeTakesMetricFlags(t *testing.T) {
	cases, _ := filepath.Glob(filepath.Join(golden, "cases", "case1_*.input.json"))
	if len(cases) == 0 {
		t.Fatal("no golden case")
	}
	out, errOut, code := starterEnv(t, nil, "recompute", "--golden", cases[0], "--metric-percentiles", "50,90", "--date", "20260102-030405")
	if code != 0 || !strings.Contains(out, "P90 TTFT (ms):") || strings.Contains(out, "P99 TTFT (ms):") {
		t.Errorf("exit %d: %s\n%s", code, errOut, out)
	}
}
