package deploycheck

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/results"
)

type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

// composeService holds the fields the tests read. Entrypoint and command
// must be lists, environment a map of strings (quote "true", numbers).
type composeService struct {
	Image       string                       `json:"image"`
	Build       any                          `json:"build"`
	Entrypoint  []string                     `json:"entrypoint"`
	Command     []string                     `json:"command"`
	Environment map[string]string            `json:"environment"`
	Ports       []string                     `json:"ports"`
	Volumes     []string                     `json:"volumes"`
	DependsOn   map[string]composeDependency `json:"depends_on"`
	Healthcheck *struct {
		Test []string `json:"test"`
	} `json:"healthcheck"`
	Profiles []string `json:"profiles"`
	Restart  string   `json:"restart"`
}

type composeDependency struct {
	Condition string `json:"condition"`
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := json.Unmarshal(j, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "docker-compose.yaml", &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yaml has no services")
	}
	return c
}

// binary is the project binary a service runs: the entrypoint of a service
// built from the Dockerfile; "" for third-party images.
func (s composeService) binary() string {
	if s.Build == nil || len(s.Entrypoint) == 0 {
		return ""
	}
	return s.Entrypoint[0]
}

func (s composeService) args() []string {
	var out []string
	if len(s.Entrypoint) > 1 {
		out = append(out, s.Entrypoint[1:]...)
	}
	return append(out, s.Command...)
}

// imageRepo is the image name without registry tag or digest.
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// flagValue reads --name value, --name=value or the single-dash forms.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		trimmed := strings.TrimLeft(a, "-")
		if trimmed == a {
			continue
		}
		if trimmed == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(trimmed, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: port: %v", addr, err)
	}
	return n
}

// Listening defaults of the third-party servers, from their documentation.
const (
	temporalFrontendPort = 7233 // temporal server start-dev --port; UI: port + 1000
	minioPort            = 9000 // minio server --address
	prometheusPort       = 9090 // --web.listen-address
	grafanaPort          = 3000 // GF_SERVER_HTTP_PORT
)

// listeningPorts are the ports a service's server listens on inside the
// compose network, from its command, environment and the binaries' defaults.
func listeningPorts(t *testing.T, s composeService) []int {
	t.Helper()
	args := s.args()
	switch s.binary() {
	case "worker":
		addr, ok := flagValue(args, "metrics-addr")
		if !ok {
			addr = s.Environment["WORKER_METRICS_ADDR"]
		}
		if addr == "" {
			addr = flags(t, "worker")["metrics-addr"].def
		}
		return []int{portOf(t, addr)}
	case "simulator":
		defs := flags(t, "simulator")
		port, replicas := defs["port"].def, defs["replicas"].def
		if v, ok := flagValue(args, "port"); ok {
			port = v
		}
		if v, ok := flagValue(args, "replicas"); ok {
			replicas = v
		}
		first, err1 := strconv.Atoi(port)
		n, err2 := strconv.Atoi(replicas)
		if err1 != nil || err2 != nil {
			t.Fatalf("simulator --port %q --replicas %q", port, replicas)
		}
		var out []int
		for i := range n {
			out = append(out, first+i)
		}
		return out
	case "":
	default:
		return nil
	}
	switch imageRepo(s.Image) {
	case "temporalio/temporal":
		port := temporalFrontendPort
		if v, ok := flagValue(args, "port"); ok {
			port, _ = strconv.Atoi(v)
		}
		ui := port + 1000
		if v, ok := flagValue(args, "ui-port"); ok {
			ui, _ = strconv.Atoi(v)
		}
		return []int{port, ui}
	case "minio/minio":
		out := []int{minioPort}
		if v, ok := flagValue(args, "address"); ok {
			out[0] = portOf(t, v)
		}
		if v, ok := flagValue(args, "console-address"); ok {
			out = append(out, portOf(t, v))
		}
		return out
	case "prom/prometheus":
		if v, ok := flagValue(args, "web.listen-address"); ok {
			return []int{portOf(t, v)}
		}
		return []int{prometheusPort}
	case "grafana/grafana":
		if v := s.Environment["GF_SERVER_HTTP_PORT"]; v != "" {
			n, _ := strconv.Atoi(v)
			return []int{n}
		}
		return []int{grafanaPort}
	}
	return nil
}

// checkEndpoint reports an address (host:port or a URL) that does not name
// a compose service and a port it listens on.
func checkEndpoint(t *testing.T, c composeFile, what, addr string) {
	t.Helper()
	hostport := addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			t.Errorf("%s: %q: %v", what, addr, err)
			return
		}
		hostport = u.Host
	}
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Errorf("%s: %q: want host:port (%v)", what, addr, err)
		return
	}
	svc, ok := c.Services[host]
	if !ok {
		t.Errorf("%s: %q: no compose service named %q", what, addr, host)
		return
	}
	port, _ := strconv.Atoi(p)
	if ports := listeningPorts(t, svc); !slices.Contains(ports, port) {
		t.Errorf("%s: %q: service %s listens on %v, not %d", what, addr, host, ports, port)
	}
}

var pinnedTagRE = regexp.MustCompile(`\d+\.\d+|\d{4}-\d{2}-\d{2}`)

// pinned says whether an image reference names one version: a digest, or a
// tag with at least major.minor or a release date ("latest", "1", "slim"
// and untagged references float).
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || i < strings.LastIndex(image, "/") {
		return false
	}
	tag := image[i+1:]
	return tag != "latest" && pinnedTagRE.MatchString(tag)
}

func TestPinnedRecognisesFloatingTags(t *testing.T) {
	for image, want := range map[string]bool{
		"temporalio/temporal:1.5.1": true, "minio/minio:RELEASE.2025-09-07T16-13-09Z": true,
		"debian:12.12-slim": true, "golang:1.26.8-bookworm": true, "prom/prometheus@sha256:abc": true,
		"grafana/grafana": false, "grafana/grafana:latest": false, "debian:bookworm-slim": false,
		"golang:1": false, "localhost:5000/img": false,
	} {
		if got := pinned(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		switch {
		case s.Image == "" && s.Build == nil:
			t.Errorf("%s: neither image nor build", name)
		case s.Build != nil:
			// Built here: the tag names the local build, but must not float.
			if tag := strings.TrimPrefix(s.Image, imageRepo(s.Image)); tag == "" || tag == ":latest" {
				t.Errorf("%s: built image %q needs an explicit tag other than latest", name, s.Image)
			}
		case !pinned(s.Image):
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
	}
}

func TestComposeEnvironmentIsReadByTheBinaries(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		bin := s.binary()
		if bin == "" {
			continue
		}
		read := envNames(t, bin)
		for key := range s.Environment {
			if !read[key] {
				t.Errorf("%s: %s sets %s, which %s never reads (it reads %v)", name, bin, key, bin, keys(read))
			}
		}
	}
}

func TestComposeFlagsExist(t *testing.T) {
	c := loadCompose(t)
	checked := 0
	for name, s := range c.Services {
		bin := s.binary()
		if bin == "" {
			continue
		}
		defined := flags(t, bin)
		args := s.args()
		if bin == "starter" {
			if len(args) == 0 || !subcommands(t, "starter")[args[0]] {
				t.Errorf("%s: starter needs a command first, got %q", name, args)
				continue
			}
			args = args[1:]
		}
		for _, a := range args {
			if !strings.HasPrefix(a, "-") {
				continue
			}
			flagName, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if _, ok := defined[flagName]; !ok {
				t.Errorf("%s: %s has no flag %s", name, bin, a)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("no flags were checked")
	}
}

// addressVars hold another service's address.
var addressVars = map[string]bool{"TEMPORAL_ADDRESS": true, "PROMETHEUS_URL": true, results.EnvS3Endpoint: true}

var loopbackPortRE = regexp.MustCompile(`127\.0\.0\.1[:/](\d+)`)

func TestComposeAddressesNameServicesAndPorts(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		listening := listeningPorts(t, s)
		for _, p := range s.Ports {
			parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
			port, err := strconv.Atoi(parts[len(parts)-1])
			if err != nil || !slices.Contains(listening, port) {
				t.Errorf("%s: publishes %q but listens on %v", name, p, listening)
			}
		}
		if s.Healthcheck != nil {
			for _, m := range loopbackPortRE.FindAllStringSubmatch(strings.Join(s.Healthcheck.Test, " "), -1) {
				if port, _ := strconv.Atoi(m[1]); !slices.Contains(listening, port) {
					t.Errorf("%s: healthcheck probes port %d but the service listens on %v", name, port, listening)
				}
			}
		}
		for key, v := range s.Environment {
			if addressVars[key] || strings.HasPrefix(key, "MC_HOST_") {
				checkEndpoint(t, c, name+" "+key, v)
			}
		}
	}
}

func TestComposeStartupOrder(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		oneShot := s.Restart == "no"
		onDemand := len(s.Profiles) > 0
		if s.Healthcheck == nil && !oneShot && !onDemand {
			t.Errorf("%s: a long-running service needs a healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s: depends on unknown service %s", name, dep)
			case d.Condition == "service_healthy" && target.Healthcheck == nil:
				t.Errorf("%s: waits for %s to be healthy, but it has no healthcheck", name, dep)
			case d.Condition == "service_completed_successfully" && target.Restart != "no":
				t.Errorf("%s: waits for %s to complete, but it is not a one-shot (restart: \"no\")", name, dep)
			case d.Condition != "service_healthy" && d.Condition != "service_completed_successfully":
				t.Errorf("%s: depends on %s with condition %q; want service_healthy or service_completed_successfully", name, dep, d.Condition)
			}
		}
	}
	// The worker must not start before Temporal and the bucket exist.
	worker := c.Services["worker"]
	if worker.DependsOn["temporal"].Condition != "service_healthy" {
		t.Error("worker: must wait for temporal to be healthy")
	}
	if worker.DependsOn["minio-init"].Condition != "service_completed_successfully" {
		t.Error("worker: must wait for the bucket (minio-init)")
	}
}

func TestComposeMountsAndVolumes(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok {
				t.Errorf("%s: volume %q has no target", name, v)
				continue
			}
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("%s: bind mount %q: %v", name, v, err)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: named volume %s is not declared under volumes", name, src)
			}
		}
	}
}

// mountTarget is where a service mounts source (a bind path or volume).
func mountTarget(s composeService, source string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Clean(parts[0]) == path.Clean(source) {
			return parts[1]
		}
	}
	return ""
}

func TestComposeTemporalServer(t *testing.T) {
	c := loadCompose(t)
	s, ok := c.Services["temporal"]
	if !ok {
		t.Fatal("no temporal service")
	}
	args := s.args()
	if ip, _ := flagValue(args, "ip"); ip != "0.0.0.0" {
		t.Errorf("temporal: --ip %q; other containers reach it only with 0.0.0.0", ip)
	}
	// State must outlive the container, or a restart loses every run.
	db, _ := flagValue(args, "db-filename")
	if db == "" {
		t.Error("temporal: no --db-filename: workflows would not survive a restart")
	}
	onVolume := false
	for _, v := range s.Volumes {
		if parts := strings.Split(v, ":"); len(parts) >= 2 && strings.HasPrefix(db, strings.TrimSuffix(parts[1], "/")+"/") {
			onVolume = true
		}
	}
	if !onVolume {
		t.Errorf("temporal: --db-filename %q is not on a volume", db)
	}
	registered := map[string]string{}
	for i, a := range args {
		if a == "--search-attribute" && i+1 < len(args) {
			k, v, _ := strings.Cut(args[i+1], "=")
			registered[k] = v
		}
	}
	declared := searchAttributes(t, "workflows")
	if len(declared) == 0 {
		t.Fatal("workflows declares no search attributes")
	}
	for name, typ := range declared {
		if got := registered[name]; got != typ {
			t.Errorf("temporal: search attribute %s registered as %q, want %q", name, got, typ)
		}
	}
}

func TestComposeResultsStore(t *testing.T) {
	c := loadCompose(t)
	env := c.Services["worker"].Environment
	bucket, dir := env[results.EnvBucket], env[results.EnvDirectory]
	if bucket == "" {
		t.Fatal("worker: no results bucket; runs would land in the container's filesystem")
	}
	store, err := results.FromEnv(t.Context(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("worker environment: %v", err)
	}
	if got, want := store.Location("x"), "s3://"+bucket+"/"+dir+"/x"; got != want {
		t.Errorf("worker store location %q, want %q", got, want)
	}
	// The one-shot mc job must create that bucket on that server, with the
	// credentials the worker uses.
	minio, initJob := c.Services["minio"], c.Services["minio-init"]
	if minio.Environment["MINIO_ROOT_USER"] != env["AWS_ACCESS_KEY_ID"] || minio.Environment["MINIO_ROOT_PASSWORD"] != env["AWS_SECRET_ACCESS_KEY"] {
		t.Error("worker: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY differ from MinIO's root credentials")
	}
	created := false
	for key, v := range initJob.Environment {
		alias, ok := strings.CutPrefix(key, "MC_HOST_")
		if !ok {
			continue
		}
		u, err := url.Parse(v)
		if err != nil {
			t.Fatalf("minio-init %s: %v", key, err)
		}
		pass, _ := u.User.Password()
		if u.User.Username() != env["AWS_ACCESS_KEY_ID"] || pass != env["AWS_SECRET_ACCESS_KEY"] {
			t.Errorf("minio-init %s: credentials differ from the worker's", key)
		}
		s3, err := url.Parse(env[results.EnvS3Endpoint])
		if err != nil || s3.Host != u.Host {
			t.Errorf("minio-init %s talks to %s, the worker to %s", key, u.Host, env[results.EnvS3Endpoint])
		}
		cmd := initJob.Command
		created = created || (slices.Contains(cmd, "mb") && slices.Contains(cmd, alias+"/"+bucket))
	}
	if !created {
		t.Errorf("minio-init does not create bucket %s (command %q)", bucket, initJob.Command)
	}
}

func TestComposeStarterRunsTheExample(t *testing.T) {
	c := loadCompose(t)
	starter := c.Services["starter"]
	header, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The command the header tells users to run is the starter's default.
	want := "docker compose run --rm starter " + strings.Join(starter.Command, " ")
	if !strings.Contains(string(header), want) {
		t.Errorf("docker-compose.yaml's header does not show %q", want)
	}
	cfgPath, ok := flagValue(starter.Command, "config")
	if !ok {
		t.Fatal("starter: no --config")
	}
	mountedAt := mountTarget(starter, "./examples")
	if mountedAt == "" || path.Dir(cfgPath) != mountedAt {
		t.Fatalf("starter: --config %s is not in the mounted ./examples (%q)", cfgPath, mountedAt)
	}
	local := filepath.Join(repoRoot, "examples", path.Base(cfgPath))
	reqs, err := config.LoadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range reqs {
		r = r.Defaults()
		if err := r.Validate(); err != nil {
			t.Errorf("%s spec %d: %v", local, i, err)
		}
		if len(r.ReplicasBaseURLs) < 2 {
			t.Errorf("%s spec %d: want both simulators as replicas, got %v", local, i, r.ReplicasBaseURLs)
		}
		for _, u := range r.ReplicasBaseURLs {
			checkEndpoint(t, c, local+" replicas_base_urls", u)
			host := strings.Split(strings.TrimPrefix(u, "http://"), ":")[0]
			if model, _ := flagValue(c.Services[host].args(), "model"); model != r.Model {
				t.Errorf("%s: model %q, but %s serves %q", local, r.Model, host, model)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
