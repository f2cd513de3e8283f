package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/vibench/vllm-inference-benchmark/workflows"
)

// runRow is one run in starter list.
type runRow struct {
	ID        string     `json:"id"`
	Status    string     `json:"status"`
	StartTime time.Time  `json:"start_time"`
	CloseTime *time.Time `json:"close_time,omitempty"`
}

func listCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	asJSON := fs.Bool("json", false, "print the runs as a JSON array")
	limit := fs.Int("limit", 20, "list at most this many runs")
	return func(ctx context.Context, _ []string) error {
		if *limit < 1 {
			return usageError{"list", fmt.Sprintf("--limit wants a positive number, got %d", *limit)}
		}
		c, err := t.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		rows, err := listRuns(ctx, c, t.namespace, *limit)
		if err != nil {
			return t.namespaceHint(err)
		}
		return printRuns(os.Stdout, rows, *asJSON)
	}
}

// listRuns are the newest runs of the stress-test workflow, newest first.
func listRuns(ctx context.Context, c client.Client, namespace string, limit int) ([]runRow, error) {
	var rows []runRow
	var token []byte
	for len(rows) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace,
			PageSize: int32(min(limit, 1000)), NextPageToken: token, Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.Executions {
			r := runRow{ID: e.GetExecution().GetWorkflowId(), Status: e.GetStatus().String(), StartTime: e.GetStartTime().AsTime()}
			if e.GetCloseTime() != nil {
				ct := e.GetCloseTime().AsTime()
				r.CloseTime = &ct
			}
			rows = append(rows, r)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	// Visibility stores order by start time, newest first, but not all
	// promise it.
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].StartTime.After(rows[j].StartTime) })
	return rows[:min(limit, len(rows))], nil
}

func printRuns(w io.Writer, rows []runRow, asJSON bool) error {
	if asJSON {
		if rows == nil {
			rows = []runRow{}
		}
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSTART\tCLOSE")
	for _, r := range rows {
		closed := noData
		if r.CloseTime != nil {
			closed = r.CloseTime.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Status, r.StartTime.UTC().Format(time.RFC3339), closed)
	}
	return tw.Flush()
}
