// Package k8s deploys vLLM for one benchmark run on Kubernetes: it builds
// the objects in Go (server-side apply configurations), applies them with
// one field manager, waits until every replica serves the model, diagnoses
// why it does not, and tears everything down by the run's label.
package k8s

import (
	"net/http"
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
)

// FieldManager owns every field this tool applies.
const FieldManager = "vllm-inference-benchmark"

// Defaults.
const (
	// DefaultImage is the newest vLLM release that parses the seed's
	// arguments exactly as written and with the seed's meaning: v0.8.4 reads
	// --enable-chunked-prefill=False with vLLM's StoreBoolean action (v0.8.5
	// switched to argparse.BooleanOptionalAction, which rejects it) and
	// honours --num-scheduler-steps=16 by running the V0 engine's multi-step
	// scheduler (removed in v0.10.1). README "Which vLLM image" cites the
	// source lines; RenderArgs adapts the flags to other releases.
	DefaultImage = "vllm/vllm-openai:v0.8.4"

	DefaultModelStoragePVC = "model-storage"
	DefaultTokenSecretKey  = "token"
	DefaultShmSize         = "32Gi"
	// DefaultCPU and DefaultMemory size one replica of a 405B model on an
	// 8-GPU node (requests = limits, so the pod is Guaranteed QoS):
	// the API server, eight tensor-parallel workers and their CPU swap
	// space (4 GiB per GPU), with room for safetensors shards in flight
	// while the weights load. The memory includes /dev/shm, which is
	// charged to the pod.
	DefaultCPU          = "32"
	DefaultMemory       = "512Gi"
	DefaultReadyTimeout = time.Hour
	DefaultPollInterval = 2 * time.Second

	ModelH100 = "meta-llama/Llama-3.1-405B-Instruct-FP8"
	ModelH200 = "meta-llama/Llama-3.1-405B-Instruct"

	GPUH100 = "H100"
	GPUH200 = "H200"
	GPUAuto = "auto"

	// ServerPort is where the vLLM OpenAI server listens in each pod.
	ServerPort = 8000
	// ModelStorageMount is where the model-storage volume is mounted.
	ModelStorageMount = "/model-storage"
)

// Options says what to deploy for one run. The zero values of optional
// fields mean the defaults above.
type Options struct {
	RunID     string
	Namespace string
	Replicas  int
	// GPUType is H100, H200 or auto (resolved from node labels by Deploy
	// or ResolveGPUType). It picks the model unless Model is set.
	GPUType         string
	Model           string
	ServedModelName string
	Image           string
	// VLLMArgs override the default server flags of the same name
	// (--flag=value) and are appended otherwise.
	VLLMArgs []string
	// HFTokenSecret names a Secret whose key HFTokenSecretKey becomes the
	// HF_TOKEN environment variable; empty means no token.
	HFTokenSecret    string
	HFTokenSecretKey string
	ModelStoragePVC  string
	// NodeSelector is added to the GPU product selector of GPUType (a
	// nvidia.com/gpu.product key here replaces it).
	NodeSelector map[string]string
	// VLLMVersion is the vLLM release of Image when its tag does not say.
	VLLMVersion string
	// CPU and Memory are each replica's requests and limits; Memory
	// includes ShmSize (/dev/shm in memory).
	CPU     string
	Memory  string
	ShmSize string

	ReadyTimeout time.Duration
	PollInterval time.Duration
	// HTTPClient probes /health and /v1/models; nil means a client with a
	// 10 s timeout.
	HTTPClient *http.Client
}

// OptionsFromRequest takes the deployment settings of a validated request.
func OptionsFromRequest(req config.Request, runID string) Options {
	return Options{
		RunID:           runID,
		Namespace:       req.Namespace,
		Replicas:        req.ReplicaCount,
		GPUType:         req.GPUType,
		Model:           req.Model,
		ServedModelName: req.ServedModelName,
		Image:           req.Image,
		VLLMArgs:        req.VLLMArgs,
		HFTokenSecret:   req.HFTokenSecret,
		ModelStoragePVC: req.ModelStoragePVC,
		NodeSelector:    req.NodeSelector,
		VLLMVersion:     req.VLLMVersion,
		CPU:             req.CPU,
		Memory:          req.Memory,
		ShmSize:         req.ShmSize,
		ReadyTimeout:    time.Duration(req.ReadyTimeoutSeconds * float64(time.Second)),
	}
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.HFTokenSecretKey == "" {
		o.HFTokenSecretKey = DefaultTokenSecretKey
	}
	if o.ModelStoragePVC == "" {
		o.ModelStoragePVC = DefaultModelStoragePVC
	}
	if o.ShmSize == "" {
		o.ShmSize = DefaultShmSize
	}
	if o.CPU == "" {
		o.CPU = DefaultCPU
	}
	if o.Memory == "" {
		o.Memory = DefaultMemory
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return o
}
