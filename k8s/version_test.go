package k8s

import (
	"reflect"
	"strings"
	"testing"
)

func TestRenderArgsPerRelease(t *testing.T) {
	seed := DefaultArgs("m", "m")
	replace := func(old, new string) []string {
		var out []string
		for _, a := range seed {
			switch {
			case a == old && new == "":
			case a == old:
				out = append(out, new)
			default:
				out = append(out, a)
			}
		}
		return out
	}
	asWritten := seed
	noNo := replace("--enable-chunked-prefill=False", "--no-enable-chunked-prefill")
	for _, tc := range []struct {
		image, version string
		want           []string
		warnings       []string // substrings, in order
	}{
		// StoreBoolean reads "=False"; the V0 engine runs 16 scheduler steps.
		{image: "vllm/vllm-openai:v0.6.6.post1", want: asWritten},
		{image: DefaultImage, want: asWritten},
		// BooleanOptionalAction from v0.8.5 on.
		{image: "vllm/vllm-openai:v0.8.5", want: noNo, warnings: []string{"as --no-enable-chunked-prefill"}},
		{image: "vllm/vllm-openai:v0.10.0", want: noNo, warnings: []string{"as --no-enable-chunked-prefill"}},
		// Multi-step scheduling gone from v0.10.1 on.
		{image: "vllm/vllm-openai:v0.10.1", want: func() []string {
			var out []string
			for _, a := range noNo {
				if a != "--num-scheduler-steps=16" {
					out = append(out, a)
				}
			}
			return out
		}(), warnings: []string{"dropped --num-scheduler-steps=16", "as --no-enable-chunked-prefill"}},
		// The tag does not say: vllm_version does, or it is rendered as written.
		{image: "registry.example/vllm@sha256:abc", version: "v0.9.2", want: noNo, warnings: []string{"as --no-enable-chunked-prefill"}},
		{image: "registry.example:5000/vllm:latest", want: asWritten, warnings: []string{"vLLM version of image \"registry.example:5000/vllm:latest\" is unknown"}},
	} {
		got, warnings, err := RenderArgs(seed, tc.image, tc.version)
		if err != nil {
			t.Errorf("%s: %v", tc.image, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s: args\n got %q\nwant %q", tc.image, tc.version, got, tc.want)
		}
		if len(warnings) != len(tc.warnings) {
			t.Errorf("%s: warnings %q, want %q", tc.image, warnings, tc.warnings)
			continue
		}
		for i, w := range tc.warnings {
			if !strings.Contains(warnings[i], w) {
				t.Errorf("%s: warning %q, want it to say %q", tc.image, warnings[i], w)
			}
		}
	}
	// "=True" becomes the bare flag; other flags pass through.
	got, _, err := RenderArgs([]string{"--enable-chunked-prefill=true", "--seed=1"}, "vllm/vllm-openai:v0.9.0", "")
	if err != nil || !reflect.DeepEqual(got, []string{"--enable-chunked-prefill", "--seed=1"}) {
		t.Errorf("got %q, %v", got, err)
	}
	for _, bad := range []struct{ image, version string }{
		{"vllm/vllm-openai:v0.5.4", ""}, // before --num-scheduler-steps
		{"vllm/vllm-openai:v0.9.0", ""}, // with a non-boolean value below
	} {
		args := seed
		if bad.image == "vllm/vllm-openai:v0.9.0" {
			args = []string{"--enable-chunked-prefill=maybe"}
		}
		if _, _, err := RenderArgs(args, bad.image, bad.version); err == nil {
			t.Errorf("%s %q: no error", bad.image, args)
		}
	}
}

func TestImageVersion(t *testing.T) {
	for image, want := range map[string]string{
		"vllm/vllm-openai:v0.8.4":              "v0.8.4",
		"vllm/vllm-openai:v0.8.5.post1":        "v0.8.5",
		"registry:5000/vllm-openai:0.10.1":     "v0.10.1",
		"registry:5000/vllm-openai":            "",
		"vllm/vllm-openai:latest":              "",
		"vllm/vllm-openai@sha256:0123456789ab": "",
	} {
		v, ok := ImageVersion(image, "")
		if got := map[bool]string{true: v.String(), false: ""}[ok]; got != want {
			t.Errorf("%s: %q, want %q", image, got, want)
		}
	}
}
