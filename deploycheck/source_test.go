package deploycheck

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the module root, seen from this package's directory.
const repoRoot = ".."

// goPackage is one parsed package of this module (non-test files, selected
// by the build constraints of this test run).
type goPackage struct {
	dir    string // relative to repoRoot
	build  *build.Package
	files  []*ast.File
	consts map[string]string // string constants by name
}

// packages caches parsed packages across tests.
var packages = map[string]*goPackage{}

// loadPackage parses the package in dir (relative to repoRoot).
func loadPackage(t *testing.T, dir string) *goPackage {
	t.Helper()
	if p := packages[dir]; p != nil {
		return p
	}
	bp, err := build.ImportDir(filepath.Join(repoRoot, dir), 0)
	if err != nil {
		t.Fatalf("read package %s: %v", dir, err)
	}
	p := &goPackage{dir: dir, build: bp, consts: map[string]string{}}
	fset := token.NewFileSet()
	for _, name := range append(bp.GoFiles, bp.CgoFiles...) {
		f, err := parser.ParseFile(fset, filepath.Join(repoRoot, dir, name), nil, 0)
		if err != nil {
			t.Fatalf("parse %s/%s: %v", dir, name, err)
		}
		p.files = append(p.files, f)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringLit(vs.Values[i]); ok {
							p.consts[name.Name] = s
						}
					}
				}
			}
		}
	}
	packages[dir] = p
	return p
}

func modulePath(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatal("go.mod has no module line")
	return ""
}

// closure is the binary in dir and every package of this module it
// imports, directly or not.
func closure(t *testing.T, dir string) []*goPackage {
	t.Helper()
	mod := modulePath(t) + "/"
	seen := map[string]bool{dir: true}
	queue := []string{dir}
	var out []*goPackage
	for len(queue) > 0 {
		p := loadPackage(t, queue[0])
		queue = queue[1:]
		out = append(out, p)
		for _, imp := range p.build.Imports {
			if rest, ok := strings.CutPrefix(imp, mod); ok && !seen[rest] {
				seen[rest] = true
				queue = append(queue, rest)
			}
		}
	}
	return out
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// resolveString gives the value of a string literal or of a string constant
// of this module (Name in pkg, or otherpkg.Name).
func resolveString(pkg *goPackage, all []*goPackage, e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		s, ok := pkg.consts[e.Name]
		return s, ok
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return "", false
		}
		for _, p := range all {
			if p.build.Name == x.Name {
				if s, ok := p.consts[e.Sel.Name]; ok {
					return s, true
				}
			}
		}
		return "", false
	}
	return stringLit(e)
}

func stringLiterals(f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if s, ok := stringLit(exprOrNil(n)); ok {
			out = append(out, s)
		}
		return true
	})
	return out
}

func calleeName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// envReaders are the functions through which this module reads environment
// variables; every argument that is a variable name counts.
var envReaders = map[string]bool{"Getenv": true, "LookupEnv": true, "getenv": true, "envOr": true, "firstSet": true}

var envNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// envNames is every environment variable name the binary in dir reads
// through envReaders, in its own packages and the module packages it links.
func envNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	all := closure(t, dir)
	names := map[string]bool{}
	for _, p := range all {
		for _, f := range p.files {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !envReaders[calleeName(call)] {
					return true
				}
				for _, arg := range call.Args {
					if s, ok := resolveString(p, all, arg); ok && envNameRE.MatchString(s) {
						names[s] = true
					}
				}
				return true
			})
		}
	}
	return names
}

// flagNameArg gives, for each flag.FlagSet method that defines a flag, the
// position of the flag's name; its default follows it.
var flagNameArg = map[string]int{
	"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
	"Func": 0, "BoolFunc": 0,
	"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1,
	"Float64Var": 1, "DurationVar": 1, "Var": 1, "TextVar": 1,
}

// flagDef is a flag a binary defines and its default as written in the
// source ("" when it is not a literal).
type flagDef struct{ def string }

// flags is every flag defined in the binary in dir and the module packages
// it links (flag.X or a FlagSet variable; calls on other imported packages,
// such as zap.String, are not flags).
func flags(t *testing.T, dir string) map[string]flagDef {
	t.Helper()
	all := closure(t, dir)
	out := map[string]flagDef{}
	for _, p := range all {
		for _, f := range p.files {
			imported := map[string]bool{}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				name := filepath.Base(path)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				imported[name] = true
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				i, isFlag := flagNameArg[sel.Sel.Name]
				if x, ok := sel.X.(*ast.Ident); !isFlag || len(call.Args) <= i || (ok && imported[x.Name] && x.Name != "flag") {
					return true
				}
				name, ok := resolveString(p, all, call.Args[i])
				if !ok {
					return true
				}
				var def string
				if i+1 < len(call.Args) {
					def = literalDefault(p, all, call.Args[i+1])
				}
				out[name] = flagDef{def: def}
				return true
			})
		}
	}
	return out
}

// literalDefault reads a flag default: a literal, or envOr(KEY, literal).
func literalDefault(p *goPackage, all []*goPackage, e ast.Expr) string {
	if call, ok := e.(*ast.CallExpr); ok && calleeName(call) == "envOr" && len(call.Args) == 2 {
		e = call.Args[1]
	}
	if s, ok := resolveString(p, all, e); ok {
		return s
	}
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.INT {
		return lit.Value
	}
	return ""
}

// subcommands is the starter's command table: string keys of map literals
// whose values are functions of the package.
func subcommands(t *testing.T, dir string) map[string]bool {
	t.Helper()
	p := loadPackage(t, dir)
	funcs := map[string]bool{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = true
			}
		}
	}
	out := map[string]bool{}
	for _, f := range p.files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr: // map[string]func{"bench": runBench}
				key, okKey := stringLit(n.Key)
				if v, ok := n.Value.(*ast.Ident); ok && okKey && funcs[v.Name] {
					out[key] = true
				}
			case *ast.CompositeLit: // command{name: "bench", setup: benchCommand}
				name, hasFunc := "", false
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "name" {
						name, _ = stringLit(kv.Value)
					}
					if v, ok := kv.Value.(*ast.Ident); ok && funcs[v.Name] {
						hasFunc = true
					}
				}
				if name != "" && hasFunc {
					out[name] = true
				}
			}
			return true
		})
	}
	return out
}

// searchAttributes are the search attribute keys the package in dir
// declares, by name, with their type: temporal.NewSearchAttributeKeyKeyword("VibModel")
// is VibModel: Keyword.
func searchAttributes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range loadPackage(t, dir).files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			typ, ok := strings.CutPrefix(calleeName(call), "NewSearchAttributeKey")
			if name, isLit := stringLit(call.Args[0]); ok && isLit && typ != "" {
				out[name] = devServerType[typ]
			}
			return true
		})
	}
	return out
}

// devServerType is the Temporal CLI's name (--search-attribute K=TYPE) of
// the type behind each Go SDK search attribute key constructor.
var devServerType = map[string]string{"Keyword": "Keyword", "String": "Text", "Float64": "Double", "Int64": "Int",
	"Bool": "Bool", "Time": "Datetime", "KeywordList": "KeywordList"}

// metricKind says how a metric declared in Go is exposed.
type metricKind int

const (
	plainMetric     metricKind = iota + 1 // counter or gauge: exposed under its name
	histogramMetric                       // exposed as _bucket, _sum and _count
)

// declaredMetrics finds the metric names with the given prefix declared in
// the package in dir: string literals inside prometheus.*Opts literals or
// passed to helper functions; a histogram when that literal or function is
// one (HistogramOpts, histogram(...)).
func declaredMetrics(t *testing.T, dir, prefix string) map[string]metricKind {
	t.Helper()
	out := map[string]metricKind{}
	for _, f := range loadPackage(t, dir).files {
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			s, ok := stringLit(exprOrNil(n))
			if !ok || !strings.HasPrefix(s, prefix) || strings.ContainsAny(s, " .") {
				return true
			}
			out[s] = plainMetric
			for i := len(stack) - 2; i >= 0; i-- {
				var encl string
				switch e := stack[i].(type) {
				case *ast.CallExpr:
					encl = calleeName(e)
				case *ast.CompositeLit:
					encl = typeName(e.Type)
				default:
					continue
				}
				if strings.Contains(strings.ToLower(encl), "histogram") {
					out[s] = histogramMetric
				}
				break
			}
			return true
		})
	}
	return out
}

func exprOrNil(n ast.Node) ast.Expr {
	e, _ := n.(ast.Expr)
	return e
}

func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	}
	return ""
}

// exposedNames turns declared metrics into the series names Prometheus
// stores.
func exposedNames(declared map[string]metricKind) map[string]bool {
	out := map[string]bool{}
	for name, kind := range declared {
		if kind == histogramMetric {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				out[name+suffix] = true
			}
			continue
		}
		out[name] = true
	}
	return out
}

func TestSourceScannersFindKnownDeclarations(t *testing.T) {
	// Anchors for the scanners above: if the sources change shape so that
	// these are no longer found, every other test here would check nothing.
	env := envNames(t, "worker")
	for _, name := range []string{"TEMPORAL_ADDRESS", "WORKER_METRICS_ADDR", "BENCHMARK_RESULTS_BUCKET", "AWS_ENDPOINT_URL_S3"} {
		if !env[name] {
			t.Errorf("worker environment: %s not found; got %v", name, keys(env))
		}
	}
	if env[":9464"] || env["default"] {
		t.Errorf("worker environment holds a default value, not a name: %v", keys(env))
	}
	sim := flags(t, "simulator")
	if sim["port"].def != "8000" || sim["replicas"].def != "1" {
		t.Errorf("simulator flags: port %+v, replicas %+v", sim["port"], sim["replicas"])
	}
	if w := flags(t, "worker"); w["metrics-addr"].def != ":9464" {
		t.Errorf("worker --metrics-addr default %q, want its envOr default", w["metrics-addr"].def)
	}
	st := flags(t, "starter")
	for _, name := range []string{"wait", "config", "replicas-base-urls"} {
		if _, ok := st[name]; !ok {
			t.Errorf("starter flag --%s not found", name)
		}
	}
	if _, ok := st["location"]; ok {
		t.Error("a zap field was taken for a flag")
	}
	if cmds := subcommands(t, "starter"); !cmds["start"] || !cmds["bench"] || cmds["usage"] {
		t.Errorf("starter subcommands: %v", keys(cmds))
	}
	if sa := searchAttributes(t, "workflows"); sa["VibModel"] != "Keyword" || sa["VibFailedPct"] != "Double" || len(sa) != 5 {
		t.Errorf("search attributes: %v", sa)
	}
	vib := declaredMetrics(t, "worker", "vib_")
	if vib["vib_ttft_seconds"] != histogramMetric || vib["vib_requests_total"] != plainMetric {
		t.Errorf("worker metrics: %v", vib)
	}
	vllm := declaredMetrics(t, "simulator/vllmsim", "vllm:")
	if vllm["vllm:e2e_request_latency_seconds"] != histogramMetric || vllm["vllm:num_requests_running"] != plainMetric {
		t.Errorf("simulator metrics: %v", vllm)
	}
}
