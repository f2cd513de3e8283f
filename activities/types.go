// Package activities adapts the load engine, the results store and the
// deployers to Temporal: one thin activity per workflow step.
package activities

import (
	"time"

	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

// Activity names, shared by the workflow and the worker.
const (
	PrepareName   = "Prepare"
	DeployName    = "Deploy"
	WaitReadyName = "WaitReady"
	LoadSliceName = "LoadSlice"
	AggregateName = "Aggregate"
	TeardownName  = "Teardown"
	// Between slices, for deployments whose replicas can restart.
	ResolveEndpointsName = "ResolveEndpoints"
	WaitReplicaName      = "WaitReplica"
)

// Error types that must not be retried.
const (
	ErrInvalidRequest = "InvalidRequest"
	ErrNotReady       = "DeploymentNotReady"
)

// PrepareInput asks a load worker to build the dataset and schedule once
// (catching every problem that needs a tokenizer or a file) and to store the
// validated request.
type PrepareInput struct {
	RunID   string         `json:"run_id"`
	Request config.Request `json:"request"`
	// Execution (Temporal's first run id) and StartedAt claim the run's
	// results prefix in the store.
	Execution string    `json:"execution,omitempty"`
	StartedAt time.Time `json:"started_at,omitempty"`
}

// Plan is what the workflow needs to know about the run's schedule.
type Plan struct {
	NumPrompts int     `json:"num_prompts"` // per replica
	NumSlices  int     `json:"num_slices"`
	LastOffset float64 `json:"last_offset_seconds"`
	Model      string  `json:"model"`
	// ServedModelName is what the servers answer to (the request's, or the
	// id /v1/models listed); every slice sends it.
	ServedModelName string `json:"served_model_name,omitempty"`
	TokenizerName   string `json:"tokenizer"`
	GPUType         string `json:"gpu_type,omitempty"`
	// SearchAttributes says the namespace has the VibModel, VibGPUType and
	// VibPhase search attributes, so the workflow may set them.
	SearchAttributes bool `json:"search_attributes"`
}

// DeployInput asks the deployer for the run's servers.
type DeployInput struct {
	RunID   string         `json:"run_id"`
	Request config.Request `json:"request"`
}

// Deployment says where the run's servers are.
type Deployment struct {
	Kind      string   `json:"kind"` // "existing" or "kubernetes"
	Namespace string   `json:"namespace,omitempty"`
	Endpoints []string `json:"endpoints"` // one base URL per replica

	// Kubernetes: the image and the exact server arguments the pods run
	// with, and how the arguments were adapted to the image's vLLM release
	// (e.g. a flag it no longer has, dropped).
	Image    string   `json:"image,omitempty"`
	Args     []string `json:"args,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// SliceInput is one LoadSlice activity: one replica's share of one slice.
type SliceInput struct {
	RunID   string         `json:"run_id"`
	Request config.Request `json:"request"`
	Model   string         `json:"model"`
	// ServedModelName overrides the request's (resolved by Prepare).
	ServedModelName string    `json:"served_model_name,omitempty"`
	Slice           int       `json:"slice"`
	NumSlices       int       `json:"num_slices"`
	Replica         int       `json:"replica"`
	Endpoint        string    `json:"endpoint"`
	T0              time.Time `json:"t0"` // wall-clock anchor of offset 0
	// Gap, when set, says why the replica started this slice late (it was
	// restarting): requests already due are recorded as interrupted with it.
	Gap string `json:"gap,omitempty"`
}

// WaitReplicaInput waits for one replica that is not ready.
type WaitReplicaInput struct {
	RunID      string         `json:"run_id"`
	Request    config.Request `json:"request"`
	Deployment Deployment     `json:"deployment"`
	Replica    int            `json:"replica"`
}

// SliceProgress is LoadSlice's heartbeat: what is safely in the store.
type SliceProgress struct {
	Attempt        int `json:"attempt"`
	PartsFlushed   int `json:"parts_flushed"`
	RecordsFlushed int `json:"records_flushed"`
}

// SliceResult is what one LoadSlice returns; its Summary merges into the
// run's totals.
type SliceResult struct {
	Slice   int              `json:"slice"`
	Replica int              `json:"replica"`
	Summary *metrics.Summary `json:"summary"`
	// FirstSendDelay is the time from the slice's scheduled start to its
	// first request, seconds (negative when the slice had no requests).
	FirstSendDelay float64 `json:"first_send_delay"`
	Parts          int     `json:"parts"`
	Resumed        bool    `json:"resumed"`
}

// AggregateInput asks for the whole-run result.
type AggregateInput struct {
	RunID           string         `json:"run_id"`
	Request         config.Request `json:"request"`
	Model           string         `json:"model"`
	ServedModelName string         `json:"served_model_name,omitempty"`
	Execution       string         `json:"execution,omitempty"`
	NumSlices       int            `json:"num_slices"`
	StartedAt       time.Time      `json:"started_at"`
	Replicas        int            `json:"replicas"`
	Partial         bool           `json:"partial"`
	Reason          string         `json:"reason,omitempty"`
	// Deployment is where the run's servers were; a deployed image and its
	// arguments go into the manifest and result.json.
	Deployment Deployment `json:"deployment"`
}

// AggregateResult points at what Aggregate wrote.
type AggregateResult struct {
	ResultKey   string `json:"result_key"`
	Location    string `json:"location"`
	Table       string `json:"table"`
	Completed   int    `json:"completed"`
	Failed      int    `json:"failed"`
	Interrupted int    `json:"interrupted"`
}

// TeardownInput removes what Deploy created.
type TeardownInput struct {
	RunID      string         `json:"run_id"`
	Request    config.Request `json:"request"`
	Deployment Deployment     `json:"deployment"`
}
