package deploycheck

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string         `json:"name"`
			Definition string         `json:"definition"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID        string         `json:"refId"`
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		Datasource   *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // inside a collapsed row
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "grafana", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/dashboard.json: %v", err)
	}
	return d
}

// queryPanels are the panels that run queries, rows' children included.
func (d dashboard) queryPanels() []dashboardPanel {
	var out []dashboardPanel
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

type prometheusConfig struct {
	Global struct {
		ScrapeInterval string `json:"scrape_interval"`
	} `json:"global"`
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

func loadPrometheus(t *testing.T) prometheusConfig {
	t.Helper()
	var p prometheusConfig
	readYAML(t, "prometheus/prometheus.yml", &p)
	return p
}

var (
	promStringRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promSelectorRE = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGroupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promTokenRE    = regexp.MustCompile(`\$?[A-Za-z_:][A-Za-z0-9_:]*|[0-9][0-9A-Za-z_.]*`)
	promKeywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true}
)

// promMetrics lists the metric names a PromQL expression selects:
// identifiers that are not functions, keywords, labels or numbers.
func promMetrics(expr string) []string {
	e := promStringRE.ReplaceAllString(expr, `""`)
	e = promSelectorRE.ReplaceAllString(e, " ")
	e = promGroupingRE.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promTokenRE.FindAllStringIndex(e, -1) {
		tok := e[loc[0]:loc[1]]
		if tok[0] == '$' || tok[0] >= '0' && tok[0] <= '9' || promKeywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(e[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or aggregation
		}
		out = append(out, tok)
	}
	return out
}

func TestPromMetrics(t *testing.T) {
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (le, replica) (rate(vib_x_bucket{a="}",b=~"$v"}[$__rate_interval]))) * 1000`: {"vib_x_bucket"},
		`sum(rate(foo_total[1m])) by (job) / on (instance) group_left (node) bar_info`:                                {"foo_total", "bar_info"},
		`sum by (instance) (vllm:num_requests_running) > bool 1e3`:                                                    {"vllm:num_requests_running"},
		`DCGM_FI_DEV_POWER_USAGE offset 5m`:                                                                           {"DCGM_FI_DEV_POWER_USAGE"},
	} {
		if got := promMetrics(expr); !slices.Equal(got, want) {
			t.Errorf("promMetrics(%q) = %q, want %q", expr, got, want)
		}
	}
}

// DCGM exporter's series the dashboard reads (engine's GPU power query reads
// the same two).
var dcgmMetrics = []string{"DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL"}

// knownMetrics is every series the stack exposes: the worker's vib_* and
// Go/process collectors, the vLLM names the simulator serves, DCGM's, and
// Prometheus' own up.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := exposedNames(declaredMetrics(t, "worker", "vib_"))
	for name := range exposedNames(declaredMetrics(t, "simulator/vllmsim", "vllm:")) {
		known[name] = true
	}
	for _, name := range dcgmMetrics {
		known[name] = true
	}
	known["up"] = true
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		name := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			known[name+"_bucket"], known[name+"_sum"], known[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			known[name], known[name+"_sum"], known[name+"_count"] = true, true, true
		default:
			known[name] = true
		}
	}
	return known
}

var jobMatcherRE = regexp.MustCompile(`\bjob\s*=~?\s*"([^"]*)"`)

func TestDashboardQueriesNameExistingMetrics(t *testing.T) {
	d := loadDashboard(t)
	known := knownMetrics(t)
	jobs := map[string]bool{}
	for _, sc := range loadPrometheus(t).ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	queries := 0
	for _, p := range d.queryPanels() {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			metrics := promMetrics(tg.Expr)
			if len(metrics) == 0 {
				t.Errorf("panel %q %s: %q selects no metric", p.Title, tg.RefID, tg.Expr)
			}
			for _, m := range metrics {
				if !known[m] {
					t.Errorf("panel %q %s: metric %s exists nowhere (expr %q)", p.Title, tg.RefID, m, tg.Expr)
				}
			}
			for _, m := range jobMatcherRE.FindAllStringSubmatch(tg.Expr, -1) {
				if !jobs[m[1]] {
					t.Errorf("panel %q: job %q is not a scrape job in prometheus.yml", p.Title, m[1])
				}
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
}

// The panels the dashboard promises, by the series they must read.
func TestDashboardCoversTheStack(t *testing.T) {
	used := map[string]bool{}
	for _, p := range loadDashboard(t).queryPanels() {
		for _, tg := range p.Targets {
			for _, m := range promMetrics(tg.Expr) {
				used[m] = true
			}
		}
	}
	for _, m := range []string{
		"vib_requests_total", "vib_ttft_seconds_bucket", "vib_itl_seconds_bucket", "vib_e2el_seconds_bucket",
		"vib_send_lateness_seconds_bucket", "vib_output_tokens_total",
		"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
		"vllm:num_preemptions_total", "vllm:prompt_tokens_total", "vllm:generation_tokens_total",
		"DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_UTIL",
	} {
		if !used[m] {
			t.Errorf("no panel reads %s", m)
		}
	}
}

var (
	vibSelectorRE = regexp.MustCompile(`vib_[A-Za-z0-9_:]+(\{[^}]*\})?`)
	labelValuesRE = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)
	legendLabelRE = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
)

func TestDashboardFiltersByRunID(t *testing.T) {
	d := loadDashboard(t)
	var found bool
	for _, v := range d.Templating.List {
		if v.Name != "run_id" {
			continue
		}
		found = true
		m := labelValuesRE.FindStringSubmatch(v.Definition)
		if m == nil || !strings.HasPrefix(m[1], "vib_") || m[2] != "run_id" {
			t.Errorf("variable run_id: query %q; want label_values(<a vib_ metric>, run_id)", v.Definition)
		} else if !knownMetrics(t)[m[1]] {
			t.Errorf("variable run_id: metric %s does not exist", m[1])
		}
	}
	if !found {
		t.Fatal("no run_id variable")
	}
	// The worker labels its series with these; instance and job come from
	// Prometheus.
	labels := map[string]bool{"instance": true, "job": true, "le": true}
	for _, f := range loadPackage(t, "worker").files {
		for _, lit := range stringLiterals(f) {
			labels[lit] = true
		}
	}
	if !labels["run_id"] {
		t.Fatal("the worker has no run_id label")
	}
	filtered := 0
	for _, p := range d.queryPanels() {
		for _, tg := range p.Targets {
			matches := vibSelectorRE.FindAllStringSubmatch(tg.Expr, -1)
			for _, m := range matches {
				if !strings.Contains(m[1], `run_id=~"$run_id"`) {
					t.Errorf("panel %q: %s is not filtered by run_id=~\"$run_id\"", p.Title, m[0])
				}
			}
			if len(matches) == 0 {
				continue
			}
			filtered++
			used := legendLabelRE.FindAllStringSubmatch(tg.LegendFormat, -1)
			for _, g := range promGroupingRE.FindAllString(tg.Expr, -1) {
				inner := g[strings.Index(g, "(")+1 : len(g)-1]
				for _, l := range strings.Split(inner, ",") {
					used = append(used, []string{"", strings.TrimSpace(l)})
				}
			}
			for _, l := range used {
				if !labels[l[1]] {
					t.Errorf("panel %q: label %q is not one the worker's metrics carry", p.Title, l[1])
				}
			}
		}
	}
	if filtered == 0 {
		t.Error("no panel uses $run_id")
	}
}

// Units by what the query returns; latency histograms in seconds are shown
// in ms when the query multiplies by 1000.
func TestDashboardUnits(t *testing.T) {
	unitFor := map[string]string{
		"DCGM_FI_DEV_POWER_USAGE":  "watt",
		"DCGM_FI_DEV_GPU_UTIL":     "percent",
		"vllm:kv_cache_usage_perc": "percentunit",
	}
	for _, p := range loadDashboard(t).queryPanels() {
		unit := p.FieldConfig.Defaults.Unit
		if unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
			continue
		}
		for _, tg := range p.Targets {
			for _, m := range promMetrics(tg.Expr) {
				want, ok := unitFor[m]
				if !ok && strings.HasSuffix(m, "_seconds_bucket") {
					want, ok = "s", true
					if strings.HasSuffix(strings.TrimSpace(tg.Expr), "* 1000") {
						want = "ms"
					}
				}
				if ok && unit != want {
					t.Errorf("panel %q: unit %q, want %q for %s", p.Title, unit, want, m)
				}
			}
		}
	}
}

func TestDashboardLayout(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" {
		t.Error("dashboard has no uid (links break on every provisioning)")
	}
	ids := map[int]bool{}
	var all []dashboardPanel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	for i, p := range all {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for _, q := range all[:i] {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap", q.Title, p.Title)
			}
		}
	}
}

func TestPrometheusScrapesComposeServices(t *testing.T) {
	c := loadCompose(t)
	prom := loadPrometheus(t)
	s := c.Services["prometheus"]
	cfg, _ := flagValue(s.args(), "config.file")
	if mounted := mountTarget(s, "./prometheus/prometheus.yml"); mounted == "" || mounted != cfg {
		t.Errorf("prometheus: --config.file %q, but prometheus/prometheus.yml is mounted at %q", cfg, mounted)
	}
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q; the worker and vLLM serve /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				checkEndpoint(t, c, "prometheus job "+sc.JobName, target)
				scraped[target] = true
			}
		}
	}
	// Every metrics endpoint of the project's services is scraped.
	for name, svc := range c.Services {
		if b := svc.binary(); b != "worker" && b != "simulator" {
			continue
		}
		for _, port := range listeningPorts(t, svc) {
			if target := name + ":" + strconv.Itoa(port); !scraped[target] {
				t.Errorf("prometheus does not scrape %s", target)
			}
		}
	}
}

type grafanaDatasources struct {
	Datasources []struct {
		UID      string `json:"uid"`
		Type     string `json:"type"`
		URL      string `json:"url"`
		JSONData struct {
			TimeInterval string `json:"timeInterval"`
		} `json:"jsonData"`
	} `json:"datasources"`
}

type grafanaProviders struct {
	Providers []struct {
		Type    string `json:"type"`
		Options struct {
			Path string `json:"path"`
		} `json:"options"`
	} `json:"providers"`
}

func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	g := c.Services["grafana"]
	// Grafana reads provisioning from /etc/grafana/provisioning by default.
	if got := mountTarget(g, "./grafana/provisioning"); got != "/etc/grafana/provisioning" {
		t.Errorf("grafana: ./grafana/provisioning mounted at %q, want /etc/grafana/provisioning", got)
	}
	dashPath := mountTarget(g, "./grafana/dashboard.json")
	if dashPath == "" {
		t.Fatal("grafana: grafana/dashboard.json is not mounted")
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != dashPath {
		t.Errorf("grafana: home dashboard %q, but the dashboard is mounted at %q", home, dashPath)
	}

	var providers grafanaProviders
	readYAML(t, "grafana/provisioning/dashboards/vib.yaml", &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" || providers.Providers[0].Options.Path != path.Dir(dashPath) {
		t.Errorf("dashboard provider %+v does not read %s", providers.Providers, path.Dir(dashPath))
	}

	var ds grafanaDatasources
	readYAML(t, "grafana/provisioning/datasources/prometheus.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("want one prometheus datasource, got %+v", ds.Datasources)
	}
	src := ds.Datasources[0]
	checkEndpoint(t, c, "grafana datasource", src.URL)
	if scrape := loadPrometheus(t).Global.ScrapeInterval; src.JSONData.TimeInterval != scrape {
		t.Errorf("datasource timeInterval %q differs from Prometheus' scrape_interval %q ($__rate_interval relies on it)", src.JSONData.TimeInterval, scrape)
	}
	d := loadDashboard(t)
	refs := []*datasourceRef{}
	for _, v := range d.Templating.List {
		refs = append(refs, v.Datasource)
	}
	for _, p := range d.queryPanels() {
		refs = append(refs, p.Datasource)
		for _, tg := range p.Targets {
			if tg.Datasource != nil {
				refs = append(refs, tg.Datasource)
			}
		}
	}
	for _, r := range refs {
		if r == nil || r.UID != src.UID {
			t.Errorf("dashboard datasource %+v is not the provisioned one (uid %q)", r, src.UID)
		}
	}
}
