// Package metrics computes vLLM's serving-benchmark numbers from per-request
// records, prints vLLM's table, writes vLLM's result JSON, and keeps
// mergeable summaries for live progress.
package metrics

// Status says how a scheduled request ended. Every request of a run ends in
// exactly one of these.
type Status string

const (
	StatusCompleted   Status = "completed"
	StatusFailed      Status = "failed"
	StatusInterrupted Status = "interrupted" // never sent or cut off because no worker ran it
)

// Record is one request's outcome. The first block holds vLLM's
// RequestFuncOutput fields (times in seconds, StartTime on the monotonic
// clock); the second where the request sits in the run and how it was sent.
type Record struct {
	RequestID         string    `json:"request_id"`
	PromptLen         int       `json:"prompt_len"`
	ExpectedOutputLen int       `json:"expected_output_len"`
	Success           bool      `json:"success"`
	OutputTokens      int       `json:"output_tokens"`
	TTFT              float64   `json:"ttft"`
	ITL               []float64 `json:"itl"`
	Latency           float64   `json:"latency"`
	StartTime         float64   `json:"start_time"`
	Error             string    `json:"error"`
	GeneratedText     string    `json:"generated_text"`

	Index       int     `json:"index"`                  // position in the run's schedule (dispatch order)
	Replica     int     `json:"replica"`                // which server replica it was sent to
	Status      Status  `json:"status,omitempty"`       // completed | failed | interrupted
	ScheduledAt float64 `json:"scheduled_at,omitempty"` // arrival offset from the run's T0, seconds
	Lateness    float64 `json:"lateness,omitempty"`     // actual send minus scheduled send, seconds
	QueueTime   float64 `json:"queue_time,omitempty"`   // time waiting for a max_concurrency slot, seconds
}
