package config_test

import (
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/config"
)

func TestKubernetesSizingFields(t *testing.T) {
	kube := func(mod func(*config.Request)) error {
		r := config.Request{Deploy: "kubernetes", GPUType: "H100"}
		mod(&r)
		return r.Defaults().Validate()
	}
	if err := kube(func(r *config.Request) {
		r.VLLMVersion, r.CPU, r.Memory, r.ShmSize = "v0.9.2", "48", "1Ti", "64Gi"
	}); err != nil {
		t.Errorf("valid sizing: %v", err)
	}
	for _, tc := range []struct {
		mod   func(*config.Request)
		field string
	}{
		{func(r *config.Request) { r.VLLMVersion = "latest" }, "vllm_version"},
		{func(r *config.Request) { r.CPU = "lots" }, "cpu"},
		{func(r *config.Request) { r.Memory = "-1Gi" }, "memory"},
		{func(r *config.Request) { r.ShmSize = "0" }, "shm_size"},
		{func(r *config.Request) { r.Memory, r.ShmSize = "16Gi", "32Gi" }, "memory"},
		{func(r *config.Request) { r.Deploy, r.CPU = "existing", "8" }, "cpu"},
	} {
		err := kube(tc.mod)
		v, ok := config.AsValidationError(err)
		if !ok {
			t.Errorf("%s: err %v", tc.field, err)
			continue
		}
		found := false
		for _, p := range v.Problems {
			found = found || p.Field == tc.field && strings.TrimSpace(p.Problem) != ""
		}
		if !found {
			t.Errorf("%s not named: %v", tc.field, err)
		}
	}
}
