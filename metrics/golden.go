package metrics

import (
	"encoding/json"
	"fmt"
	"os"
)

// GoldenCase is one cases/<name>.input.json of the golden vectors: the
// `vllm bench serve` flags, the injected benchmark duration and the outputs
// vLLM's metrics were computed from.
type GoldenCase struct {
	Name            string   `json:"name"`
	Description     string   `json:"description"`
	CLI             []string `json:"cli"`
	Duration        float64  `json:"benchmark_duration_s"`
	RequestIDPrefix string   `json:"request_id_prefix"`
	// Records are the requests in dispatch order; Index is the position and
	// Status follows Success.
	Records []Record `json:"requests"`
}

// LoadGoldenCase reads a golden case file.
func LoadGoldenCase(path string) (GoldenCase, error) {
	var c GoldenCase
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("golden case %s: %w", path, err)
	}
	for i := range c.Records {
		r := &c.Records[i]
		r.Index = i
		if r.Success {
			r.Status = StatusCompleted
		} else {
			r.Status = StatusFailed
		}
	}
	return c, nil
}
