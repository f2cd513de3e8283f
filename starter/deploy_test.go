package main

import (
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// `deploy --dry-run -o yaml --gpu-type H100|H200` with HF_TOKEN exported
// (the seed's install step) shows what `start` would deploy: the seed's
// flags, 8 GPUs, the GPU type's model from model-storage, /dev/shm, the
// token by Secret reference (and the Secret, without the token), requests
// equal to limits and the GPU product selector.
func TestDeployDryRunShowsTheRun(t *testing.T) {
	const token = "hf_dryRunMustNotPrintThis"
	for _, tc := range []struct{ gpu, model, product string }{
		{"H100", "meta-llama/Llama-3.1-405B-Instruct-FP8", "NVIDIA-H100-80GB-HBM3"},
		{"H200", "meta-llama/Llama-3.1-405B-Instruct", "NVIDIA-H200"},
	} {
		t.Run(tc.gpu, func(t *testing.T) {
			cmd := exec.Command(starterBin, "deploy", "--dry-run", "-o", "yaml", "--gpu-type", tc.gpu, "--run-id", "r1")
			cmd.Env = append(os.Environ(), "HF_TOKEN="+token)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %s", err, errOut.String())
			}
			if strings.Contains(out.String()+errOut.String(), token) {
				t.Fatal("the dry run printed the token")
			}
			docs := map[string]string{}
			for _, doc := range strings.Split(out.String(), "\n---\n") {
				var meta struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
					t.Fatal(err)
				}
				docs[meta.Kind] = doc
			}
			var secret corev1.Secret
			var sts appsv1.StatefulSet
			if err := yaml.UnmarshalStrict([]byte(docs["Secret"]), &secret); err != nil {
				t.Fatalf("secret: %v\n%s", err, out.String())
			}
			if err := yaml.UnmarshalStrict([]byte(docs["StatefulSet"]), &sts); err != nil {
				t.Fatal(err)
			}
			if _, ok := docs["PodDisruptionBudget"]; !ok {
				t.Error("no PodDisruptionBudget")
			}
			pod := sts.Spec.Template.Spec
			c := pod.Containers[0]
			wantArgs := []string{"--model=/model-storage/" + tc.model, "--served-model-name=" + tc.model,
				"--tensor-parallel-size=8", "--max-num-batched-tokens=16384", "--max-model-len=16384",
				"--num-scheduler-steps=16", "--enable-chunked-prefill=False", "--seed=42"}
			if !reflect.DeepEqual(c.Args, wantArgs) {
				t.Errorf("args %q", c.Args)
			}
			if gpus := c.Resources.Limits["nvidia.com/gpu"]; gpus.Value() != 8 {
				t.Errorf("gpus %s", gpus.String())
			}
			if !reflect.DeepEqual(c.Resources.Requests, c.Resources.Limits) || c.Resources.Limits.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("requests %v, limits %v: want cpu and memory, equal", c.Resources.Requests, c.Resources.Limits)
			}
			if pod.NodeSelector["nvidia.com/gpu.product"] != tc.product {
				t.Errorf("node selector %v", pod.NodeSelector)
			}
			mounts := map[string]string{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m.Name
			}
			claims := map[string]string{}
			for _, v := range pod.Volumes {
				if v.PersistentVolumeClaim != nil {
					claims[v.Name] = v.PersistentVolumeClaim.ClaimName
				}
				if v.Name == mounts["/dev/shm"] && (v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory) {
					t.Errorf("/dev/shm volume %+v", v)
				}
			}
			if claims[mounts["/model-storage"]] != "model-storage" || mounts["/dev/shm"] == "" {
				t.Errorf("mounts %v, claims %v", mounts, claims)
			}
			if len(c.Env) != 1 || c.Env[0].Name != "HF_TOKEN" || c.Env[0].ValueFrom.SecretKeyRef.Name != secret.Name || c.Env[0].ValueFrom.SecretKeyRef.Key != "token" {
				t.Errorf("env %+v, secret %s", c.Env, secret.Name)
			}
			if secret.Name != "vllm-r1-hf-token" || len(secret.Data)+len(secret.StringData) != 0 || secret.Annotations["vllm-bench/created-by"] == "" {
				t.Errorf("secret %+v", secret)
			}
		})
	}
}

// Without HF_TOKEN there is no Secret and no reference; an image of
// another vLLM release gets its flags adapted, and stderr says so.
func TestDeployDryRunWithoutTokenOtherImage(t *testing.T) {
	cmd := exec.Command(starterBin, "deploy", "--dry-run", "--gpu-type", "H100", "--image", "vllm/vllm-openai:v0.10.1")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HF_TOKEN=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	if strings.Contains(out.String(), "kind: Secret") || strings.Contains(out.String(), "HF_TOKEN") {
		t.Errorf("token Secret without HF_TOKEN:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "--no-enable-chunked-prefill") || strings.Contains(out.String(), "--num-scheduler-steps") {
		t.Errorf("flags not adapted to v0.10.1:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "warning: dropped --num-scheduler-steps=16") {
		t.Errorf("stderr %q", errOut.String())
	}
}
