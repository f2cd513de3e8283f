package k8s

import (
	"reflect"
	"testing"
)

func TestMergeArgs(t *testing.T) {
	defaults := []string{"--a=1", "--b-c=2", "--flag=False"}
	for _, tc := range []struct {
		name  string
		extra []string
		want  []string
	}{
		{"none", nil, []string{"--a=1", "--b-c=2", "--flag=False"}},
		{"override in place", []string{"--b-c=3"}, []string{"--a=1", "--b-c=3", "--flag=False"}},
		{"underscore spelling", []string{"--b_c=4"}, []string{"--a=1", "--b_c=4", "--flag=False"}},
		{"pair form", []string{"--a", "9"}, []string{"--a=9", "--b-c=2", "--flag=False"}},
		{"no- form of a boolean", []string{"--no-flag"}, []string{"--a=1", "--b-c=2", "--no-flag"}},
		{"append others in order", []string{"--x=1", "--y", "--a=5"}, []string{"--a=5", "--b-c=2", "--flag=False", "--x=1", "--y"}},
	} {
		got := MergeArgs(defaults, tc.extra)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q want %q", tc.name, got, tc.want)
		}
	}
	if !reflect.DeepEqual(defaults, []string{"--a=1", "--b-c=2", "--flag=False"}) {
		t.Errorf("defaults modified: %q", defaults)
	}
}

func TestTensorParallelSize(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
		ok   bool
	}{
		{[]string{"--tensor-parallel-size=8"}, 8, true},
		{[]string{"--tensor_parallel_size", "2"}, 2, true},
		{[]string{"-tp=4"}, 4, true},
		{[]string{"--seed=1"}, 1, true},
		{[]string{"--tensor-parallel-size=0"}, 0, false},
		{[]string{"--tensor-parallel-size=x"}, 0, false},
	} {
		got, err := TensorParallelSize(tc.args)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: got %d, %v", tc.args, got, err)
		}
	}
}
