package deploycheck

import (
	"bufio"
	"go/version"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type dockerStage struct {
	image, name string
	lines       []string // instructions after FROM, continuation lines joined
}

func loadDockerfile(t *testing.T) []dockerStage {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []dockerStage
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cur += rest + " "
			continue
		}
		cur += line
		fields := strings.Fields(cur)
		if strings.EqualFold(fields[0], "FROM") {
			s := dockerStage{image: fields[1]}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				s.name = fields[3]
			}
			stages = append(stages, s)
		} else if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, cur)
		}
		cur = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a build stage and a runtime stage, got %d stages", len(stages))
	}
	return stages
}

var debianReleases = map[string]string{"bullseye": "11", "bookworm": "12", "trixie": "13"}

var debianMajorRE = regexp.MustCompile(`^(\d+)(?:\.\d+)?(?:-|$)`)

// debianRelease is the Debian major release an image tag names: a suite
// (golang:1.26.8-bookworm, debian:bookworm-slim) or a version (debian:12.12-slim).
func debianRelease(image string) string {
	_, tag, _ := strings.Cut(image, ":")
	for suite, major := range debianReleases {
		if strings.Contains(tag, suite) {
			return major
		}
	}
	if strings.HasPrefix(image, "debian:") {
		if m := debianMajorRE.FindStringSubmatch(tag); m != nil {
			return m[1]
		}
	}
	return ""
}

func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go line")
	return ""
}

func TestDockerfile(t *testing.T) {
	stages := loadDockerfile(t)
	names := map[string]bool{}
	for _, s := range stages {
		if !names[s.image] && !pinned(s.image) {
			t.Errorf("Dockerfile: FROM %s is not pinned to a version", s.image)
		}
		names[s.name] = true
	}

	builder, runtime := stages[0], stages[len(stages)-1]
	goTag, ok := strings.CutPrefix(builder.image, "golang:")
	if !ok {
		t.Fatalf("Dockerfile: build stage %s is not the golang image", builder.image)
	}
	goVer, _, _ := strings.Cut(goTag, "-")
	if want := goDirective(t); version.Compare("go"+goVer, "go"+want) < 0 {
		t.Errorf("Dockerfile: Go %s is older than go.mod's go %s", goVer, want)
	}
	// pyrand links glibc's libm through cgo: the binaries need the glibc
	// they were built against.
	if b, r := debianRelease(builder.image), debianRelease(runtime.image); b == "" || b != r {
		t.Errorf("Dockerfile: build stage on Debian %q, runtime on Debian %q; cgo binaries need the same glibc", b, r)
	}

	var build string
	for _, l := range builder.lines {
		if strings.Contains(l, "go build") {
			build = l
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=1") {
		t.Errorf("Dockerfile: go build without CGO_ENABLED=1: %q", build)
	}
	for name, s := range loadCompose(t).Services {
		if bin := s.binary(); bin != "" && !strings.Contains(build, "./"+bin) {
			t.Errorf("compose service %s runs %s, which the Dockerfile does not build", name, bin)
		}
	}

	user := ""
	for _, l := range runtime.lines {
		if rest, ok := strings.CutPrefix(l, "USER "); ok {
			user = strings.TrimSpace(rest)
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("Dockerfile: runtime runs as %q; want a non-root USER", user)
	}
}

func TestDebianRelease(t *testing.T) {
	for image, want := range map[string]string{
		"golang:1.26.8-bookworm": "12", "debian:12.12-slim": "12", "debian:bookworm-20250929-slim": "12",
		"golang:1.26.8-trixie": "13", "debian:13": "13", "golang:1.26.8-alpine": "", "gcr.io/distroless/base-debian12": "",
	} {
		if got := debianRelease(image); got != want {
			t.Errorf("debianRelease(%q) = %q, want %q", image, got, want)
		}
	}
}

type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// loadDockerignore reads .dockerignore with Docker's rules: patterns are
// cleaned paths from the context root, * and ? stay within one path
// element, ** spans any number, ! re-includes, the last match wins, and a
// pattern that matches a directory matches everything under it.
func loadDockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var rules []ignoreRule
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, rest
		}
		pattern := strings.TrimPrefix(path.Clean(line), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(pattern); i++ {
			switch c := pattern[i]; {
			case strings.HasPrefix(pattern[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(pattern[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		r.re = regexp.MustCompile(re.String())
		rules = append(rules, r)
	}
	return rules
}

func ignored(rules []ignoreRule, file string) bool {
	out := false
	for _, r := range rules {
		for p := file; p != "." && p != "/"; p = path.Dir(p) {
			if r.re.MatchString(p) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

// The build context keeps every file the three binaries are built from.
func TestDockerignoreKeepsTheSources(t *testing.T) {
	rules := loadDockerignore(t)
	need := []string{"go.mod", "go.sum"}
	for _, bin := range []string{"worker", "starter", "simulator"} {
		for _, p := range closure(t, bin) {
			for _, f := range append(p.build.GoFiles, p.build.CgoFiles...) {
				need = append(need, path.Join(p.dir, f))
			}
			for _, pattern := range p.build.EmbedPatterns {
				matches, _ := filepath.Glob(filepath.Join(repoRoot, p.dir, pattern))
				if len(matches) == 0 {
					t.Errorf("%s: //go:embed %s matches nothing", p.dir, pattern)
				}
				for _, m := range matches {
					rel, _ := filepath.Rel(repoRoot, m)
					need = append(need, filepath.ToSlash(rel))
				}
			}
		}
	}
	for _, f := range need {
		if ignored(rules, f) {
			t.Errorf(".dockerignore drops %s, which the image's build needs", f)
		}
	}
	// What it is there for: history, caches, binaries and run outputs.
	for _, f := range []string{".git/HEAD", ".cache/bin/temporal", "bin/worker", "results/stress-1/request.json",
		"scripts/tokenizer-oracle/node_modules/x/index.js"} {
		if !ignored(rules, f) {
			t.Errorf(".dockerignore keeps %s in the build context", f)
		}
	}
}
