package config

import (
	"regexp"

	"k8s.io/apimachinery/pkg/api/resource"
)

var vllmVersionPattern = regexp.MustCompile(`^v?\d+\.\d+\.\d+`)

// checkKubernetes checks the pod sizing and vllm_version fields, which only
// a Kubernetes deployment uses.
func (r Request) checkKubernetes(p *problems) {
	fields := []struct {
		name, value string
	}{{"vllm_version", r.VLLMVersion}, {"cpu", r.CPU}, {"memory", r.Memory}, {"shm_size", r.ShmSize}}
	if r.Deploy != "kubernetes" {
		for _, f := range fields {
			if f.value != "" {
				p.add(f.name, "sizes the vLLM pods of deploy \"kubernetes\"; leave it out for deploy %q", r.Deploy)
			}
		}
		return
	}
	if r.VLLMVersion != "" && !vllmVersionPattern.MatchString(r.VLLMVersion) {
		p.add("vllm_version", "want the vLLM release of image as vX.Y.Z (e.g. v0.8.4), got %q", r.VLLMVersion)
	}
	quantities := map[string]resource.Quantity{}
	for _, f := range fields[1:] {
		if f.value == "" {
			continue
		}
		q, err := resource.ParseQuantity(f.value)
		if err != nil || q.Sign() <= 0 {
			p.add(f.name, "want a positive Kubernetes quantity (cpu: \"32\" or \"32000m\"; memory, shm_size: \"512Gi\"), got %q", f.value)
			continue
		}
		quantities[f.name] = q
	}
	mem, okMem := quantities["memory"]
	shm, okShm := quantities["shm_size"]
	if okMem && okShm && mem.Cmp(shm) <= 0 {
		p.add("memory", "%s must exceed shm_size %s: /dev/shm is memory charged to the pod, on top of what vLLM itself holds", r.Memory, r.ShmSize)
	}
}
