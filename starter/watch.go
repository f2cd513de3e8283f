package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"github.com/vibench/vllm-inference-benchmark/workflows"
)

const noData = "—"

// pollEvery is how often a followed run's progress is asked for.
const pollEvery = 2 * time.Second

// liveView is where and how a followed run's progress is shown.
type liveView struct {
	w    io.Writer
	tty  bool // redraw the lines in place
	json bool // one Progress JSON line per poll instead
}

func viewOn(f *os.File, asJSON bool) liveView {
	return liveView{w: f, tty: !asJSON && term.IsTerminal(int(f.Fd())), json: asJSON}
}

func watchCommand(fs *flag.FlagSet) runFunc {
	t := bindTemporalFlags(fs)
	asJSON := fs.Bool("json", false, "print the progress as JSON, one line per poll (for scripts)")
	return func(ctx context.Context, args []string) error {
		c, err := t.dial(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		return follow(ctx, c, args[0], viewOn(os.Stdout, *asJSON))
	}
}

// follow shows progress until the run ends and prints its table.
func follow(ctx context.Context, c client.Client, id string, v liveView) error {
	run := c.GetWorkflow(ctx, id, "")
	done := make(chan error, 1)
	var out workflows.Outcome
	go func() { done <- run.Get(ctx, &out) }()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var shown []string
	var last []byte
	poll := func() {
		p, err := queryProgress(ctx, c, id)
		if err != nil {
			return
		}
		b, _ := json.Marshal(p)
		switch {
		case v.json:
			fmt.Fprintf(v.w, "%s\n", b)
		case v.tty:
			shown = redraw(v.w, shown, liveLines(p, time.Now()))
		case !bytes.Equal(b, last): // without redraw, a block only when something changed
			fmt.Fprintf(v.w, "%s\n", strings.Join(liveLines(p, time.Now()), "\n"))
		}
		last = b
	}
	poll()
	for {
		select {
		case err := <-done:
			if out.Result.Table != "" {
				fmt.Print(out.Result.Table)
				fmt.Printf("result: %s\n", out.Result.Location)
			}
			if err != nil {
				return fmt.Errorf("run %s: %w", id, err)
			}
			if out.Partial {
				return fmt.Errorf("run %s ended early: %s", id, out.Reason)
			}
			return nil
		case <-tick.C:
			poll()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// redraw replaces the lines shown last with lines, on a terminal.
func redraw(w io.Writer, shown, lines []string) []string {
	var b strings.Builder
	if len(shown) > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", len(shown))
	}
	for _, l := range lines {
		b.WriteString("\r\x1b[2K" + l + "\n")
	}
	for range len(shown) - len(lines) { // clear what a shorter view leaves
		b.WriteString("\r\x1b[2K\n")
	}
	fmt.Fprint(w, b.String())
	return append(lines, make([]string, max(len(shown)-len(lines), 0))...)
}

// liveLines are the run's warnings, then one line per replica (one line for
// the run before its replicas are known), from the fields the workflow has
// filled so far: SlicesTotal once the plan is made, Replicas once deployed,
// T0 and ETA once every replica serves, ByReplica once a slice finished.
func liveLines(p workflows.Progress, now time.Time) []string {
	var lines []string
	for _, w := range p.Warnings {
		lines = append(lines, "WARNING: "+w)
	}
	run := fmt.Sprintf("%s  slice %s  elapsed %s  left %s", p.Phase, sliceOf(p), elapsed(p, now), left(p, now))
	n := max(p.Replicas, len(p.ByReplica))
	if n == 0 {
		return append(lines, "run  "+run)
	}
	for i := range n {
		name := fmt.Sprintf("replica %d", i)
		counts := fmt.Sprintf("ok %s  failed %s  TTFT p99 %s  last error %s", noData, noData, noData, noData)
		if i < len(p.ByReplica) {
			rp := p.ByReplica[i]
			if rp.URL != "" {
				name += " " + rp.URL
			}
			ttft := noData
			if rp.Completed > 0 {
				ttft = fmt.Sprintf("%.1f ms", rp.TTFTp99)
			}
			lastErr := noData
			if rp.LastError != "" {
				lastErr = shorten(rp.LastError, 80)
			}
			counts = fmt.Sprintf("ok %d  failed %d  TTFT p99 %s  last error %s", rp.Completed, rp.Failed, ttft, lastErr)
			if rp.UnreachableSlices > 0 {
				counts = fmt.Sprintf("UNREACHABLE %d slice(s)  ", rp.UnreachableSlices) + counts
			}
		}
		lines = append(lines, name+"  "+run+"  "+counts)
	}
	return lines
}

// sliceOf is "k/N": the slice last started, counting from 1.
func sliceOf(p workflows.Progress) string {
	if p.SlicesTotal == 0 {
		return noData
	}
	if p.SlicesStarted == 0 {
		return fmt.Sprintf("%s/%d", noData, p.SlicesTotal)
	}
	return fmt.Sprintf("%d/%d", p.SlicesStarted, p.SlicesTotal)
}

func elapsed(p workflows.Progress, now time.Time) string {
	switch {
	case p.T0.IsZero():
		return noData
	case now.Before(p.T0):
		return "starts in " + p.T0.Sub(now).Round(time.Second).String()
	}
	return now.Sub(p.T0).Round(time.Second).String()
}

// left is the time until the last request is due.
func left(p workflows.Progress, now time.Time) string {
	switch {
	case p.Stopped:
		return noData + " (stopping: " + p.StopReason + ")"
	case p.ETA.IsZero():
		return noData
	case now.After(p.ETA):
		return "0s"
	}
	return p.ETA.Sub(now).Round(time.Second).String()
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
