package workflows

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// recordedHistories are the histories written by testdata/record (a real
// dev server running the workflow with stub activities).
func recordedHistories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "history-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d recorded histories, want the 3 runs of the chain and the stopped run; run testdata/record", len(files))
	}
	return files
}

// TestReplay replays every recorded run: a change to the workflow that
// would break runs in flight fails here.
func TestReplay(t *testing.T) {
	for _, file := range recordedHistories(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(StressTestWorkflow, workflow.RegisterOptions{Name: WorkflowName})
			replayer.RegisterWorkflowWithOptions(SliceWorkflow, workflow.RegisterOptions{Name: SliceWorkflowName})
			logger := log.NewStructuredLogger(slog.New(slog.DiscardHandler))
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// The run's workflow id names its slice children.
			started := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
			exec := workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
			if err := replayer.ReplayWorkflowHistoryWithOptions(logger, hist, worker.ReplayWorkflowHistoryOptions{OriginalExecution: exec}); err != nil {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

var secretPatterns = map[string]*regexp.Regexp{
	"HF_TOKEN":              regexp.MustCompile(`HF_TOKEN`),
	"AWS_SECRET_ACCESS_KEY": regexp.MustCompile(`AWS_SECRET_ACCESS_KEY`),
	"a Hugging Face token":  regexp.MustCompile(`hf_[A-Za-z0-9]{20,}`),
	"a bearer token":        regexp.MustCompile(`Bearer `),
}

// Payloads in a history are base64: scan the decoded text of the file too.
func TestRecordedHistoriesHoldNoSecrets(t *testing.T) {
	for _, file := range recordedHistories(t) {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw) + "\n" + decodedPayloads(t, raw)
		for what, re := range secretPatterns {
			if loc := re.FindStringIndex(text); loc != nil {
				t.Errorf("%s holds %s near %q", file, what, text[max(loc[0]-40, 0):min(loc[1]+40, len(text))])
			}
		}
	}
}

// decodedPayloads returns the decoded "data" of every payload in a history
// JSON file, one per line.
func decodedPayloads(t *testing.T, raw []byte) string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("history is not JSON: %v", err)
	}
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "data" {
					if d, err := base64.StdEncoding.DecodeString(s); err == nil {
						b.Write(d)
						b.WriteByte('\n')
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if !strings.Contains(b.String(), `"sonnet_input_len"`) {
		t.Fatal("no payload decoded to the request: the scan would see nothing")
	}
	return b.String()
}
