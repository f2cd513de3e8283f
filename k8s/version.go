package k8s

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is a vLLM release, as in image tags (v0.8.4, v0.8.5.post1).
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less orders releases.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// Releases where the parsing of the seed's flags changes (README, "Which
// vLLM image": the source lines behind each).
var (
	// v0.5.5 added --num-scheduler-steps (multi-step scheduling, #7000).
	firstMultiStep = Version{0, 5, 5}
	// v0.8.5 builds boolean flags with argparse.BooleanOptionalAction
	// (#16533): --enable-chunked-prefill=False is "ignored explicit
	// argument"; --no-enable-chunked-prefill says it.
	firstBooleanOptional = Version{0, 8, 5}
	// v0.10.1 removed multi-step scheduling and its flags (#22138).
	firstWithoutMultiStep = Version{0, 10, 1}
)

// DefaultVersion is the vLLM release of DefaultImage.
var DefaultVersion = Version{0, 8, 4}

var versionPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)`)

// ParseVersion reads "v0.8.4", "0.10.1" or "v0.8.5.post1" (suffixes after
// the patch number are ignored).
func ParseVersion(s string) (Version, bool) {
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return Version{}, false
	}
	var n [3]int
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return Version{n[0], n[1], n[2]}, true
}

// ImageVersion is the vLLM release an image runs: the explicit version when
// given, else the image's tag (vllm/vllm-openai:v0.8.4). ok is false when
// neither says (a digest, "latest", a private build's tag).
func ImageVersion(image, explicit string) (Version, bool) {
	if explicit != "" {
		return ParseVersion(explicit)
	}
	ref, _, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return Version{}, false
	}
	return ParseVersion(ref[colon+1:])
}

// RenderArgs turns the run's server flags into the ones the image's vLLM
// parses with the same meaning, and says what it had to change. Flags whose
// parsing never changed pass through untouched.
func RenderArgs(args []string, image, version string) ([]string, []string, error) {
	v, known := ImageVersion(image, version)
	if !known {
		return args, []string{fmt.Sprintf("the vLLM version of image %q is unknown (its tag is not vX.Y.Z; set vllm_version): "+
			"arguments rendered as for %s, where the seed's flags parse as written", image, DefaultVersion)}, nil
	}
	if v.Less(firstMultiStep) {
		if _, ok := ArgValue(args, "num-scheduler-steps"); ok {
			return nil, nil, fmt.Errorf("image %q is vLLM %s, older than %s, the first release with --num-scheduler-steps: use a newer image (default %s)",
				image, v, firstMultiStep, DefaultImage)
		}
	}
	var out, warnings []string
	for _, a := range joinPairs(args) {
		name := flagName(a)
		_, value, hasValue := strings.Cut(a, "=")
		switch {
		case !v.Less(firstWithoutMultiStep) && (name == "num-scheduler-steps" || name == "multi-step-stream-outputs" || name == "no-multi-step-stream-outputs"):
			warnings = append(warnings, fmt.Sprintf("dropped %s: vLLM %s has no multi-step scheduling (removed in %s); every step is scheduled", a, v, firstWithoutMultiStep))
			continue
		case !v.Less(firstBooleanOptional) && storeBooleanFlags[name] && hasValue:
			b, err := strconv.ParseBool(value)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: want true or false", a)
			}
			rendered := "--" + name
			if !b {
				rendered = "--no-" + name
			}
			warnings = append(warnings, fmt.Sprintf("rendered %s as %s: vLLM %s parses boolean flags with argparse.BooleanOptionalAction", a, rendered, v))
			a = rendered
		}
		out = append(out, a)
	}
	return out, warnings, nil
}

// storeBooleanFlags took "--flag=False" (vLLM's StoreBoolean action)
// until v0.8.4 and are BooleanOptionalAction flags from v0.8.5 on.
var storeBooleanFlags = map[string]bool{
	"enable-chunked-prefill":    true,
	"multi-step-stream-outputs": true,
	"disable-chunked-mm-input":  true,
}
