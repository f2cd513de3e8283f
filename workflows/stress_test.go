package workflows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/vibench/vllm-inference-benchmark/activities"
	"github.com/vibench/vllm-inference-benchmark/config"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

const testWorkflowID = "stress-test-run"

var testStart = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// stressRequest is the 11.5-hour shape: 500,000 sonnet prompts at 12 req/s
// against two existing replicas, in 5-minute slices, continuing as new
// every 48 slices (as a server's suggestion would for a longer run).
func stressRequest() config.Request {
	rate := config.Rate(12)
	return config.Request{
		Model: "meta-llama/Llama-3.1-8B-Instruct", NumPrompts: 500000, RequestRate: &rate,
		DatasetName: "sonnet", SonnetInputLen: 512, SonnetOutputLen: 128, SonnetPrefixLen: 2,
		SliceSeconds: 300, ReplicasBaseURLs: config.List{"http://replica-0:8000", "http://replica-1:8000"},
		ContinueAsNewEach: 48,
	}
}

// With the defaults the 11.5-hour shape never continues as new, so no
// slice ever waits for the ones in flight: all 139 start on time in one run.
func TestRealShapeRunsInOneHistoryByDefault(t *testing.T) {
	f := newFake()
	req := stressRequest()
	req.ContinueAsNewEach = 0
	segs, out, err := runChain(t, f, req, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if len(segs) != 1 || out.Partial {
		t.Fatalf("%d runs (partial %v), want the whole shape in one", len(segs), out.Partial)
	}
	if n := len(segs[0].loadSlices()); n != 139*2 {
		t.Errorf("%d slice activities, want %d", n, 139*2)
	}
	checkSliceStarts(t, segs, req.SliceSeconds)
}

func stressPlan() activities.Plan {
	return activities.Plan{NumPrompts: 500000, NumSlices: int(math.Ceil(500000.0 / 12 / 300)),
		LastOffset: 41666.67, Model: "meta-llama/Llama-3.1-8B-Instruct", TokenizerName: "meta-llama/Llama-3.1-8B-Instruct"}
}

// Each fake slice result holds perSliceCompleted successes and one failure.
const perSliceCompleted = 3

// fakeSummary is a small summary built from a few fake records.
func fakeSummary() *metrics.Summary {
	s := metrics.NewSummary()
	for i := range perSliceCompleted {
		s.Add(metrics.Record{Success: true, Status: metrics.StatusCompleted, PromptLen: 512, OutputTokens: 128,
			TTFT: 0.100 + 0.01*float64(i), ITL: []float64{0.020, 0.020, 0.020}, Latency: 2.6})
	}
	s.Add(metrics.Record{Status: metrics.StatusFailed, Error: "HTTP 500"})
	return s
}

func quietSuite() *testsuite.WorkflowTestSuite {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	return &suite
}

type sliceKey struct{ slice, replica int }

// fakeActivities stands in for the real activities and records every call.
// The test environment runs activities on their own goroutines.
type fakeActivities struct {
	plan      activities.Plan
	endpoints []string
	kind      string // deployment kind; "existing" when empty
	// sliceTime is how long one LoadSlice takes on the workflow clock.
	sliceTime  time.Duration
	prepareErr error
	sliceErr   func(in activities.SliceInput) error
	// sliceSummary replaces fakeSummary for some slices (nil: none).
	sliceSummary func(in activities.SliceInput) *metrics.Summary
	// lostChildren: the slice children a run leaves in flight never report
	// (terminated by hand).
	lostChildren bool

	mu         sync.Mutex
	prepares   int
	deploys    int
	waits      int
	teardowns  []activities.TeardownInput
	aggregates []activities.AggregateInput
	slices     map[sliceKey]int
}

func newFake() *fakeActivities {
	return &fakeActivities{plan: stressPlan(), endpoints: []string{"http://replica-0:8000", "http://replica-1:8000"},
		slices: map[sliceKey]int{}}
}

func (f *fakeActivities) Prepare(_ context.Context, in activities.PrepareInput) (activities.Plan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepares++
	return f.plan, f.prepareErr
}

func (f *fakeActivities) Deploy(_ context.Context, in activities.DeployInput) (activities.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deploys++
	kind := f.kind
	if kind == "" {
		kind = "existing"
	}
	return activities.Deployment{Kind: kind, Endpoints: f.endpoints}, nil
}

func (f *fakeActivities) WaitReady(_ context.Context, in activities.TeardownInput) (activities.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits++
	return in.Deployment, nil
}

func (f *fakeActivities) LoadSlice(_ context.Context, in activities.SliceInput) (activities.SliceResult, error) {
	f.mu.Lock()
	f.slices[sliceKey{in.Slice, in.Replica}]++
	f.mu.Unlock()
	if f.sliceErr != nil {
		if err := f.sliceErr(in); err != nil {
			return activities.SliceResult{}, err
		}
	}
	summary := fakeSummary()
	if f.sliceSummary != nil {
		if s := f.sliceSummary(in); s != nil {
			summary = s
		}
	}
	return activities.SliceResult{Slice: in.Slice, Replica: in.Replica, Summary: summary, Parts: 1}, nil
}

func (f *fakeActivities) Aggregate(_ context.Context, in activities.AggregateInput) (activities.AggregateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aggregates = append(f.aggregates, in)
	return activities.AggregateResult{ResultKey: "runs/" + in.RunID + "/result.json", Location: "file:///results"}, nil
}

func (f *fakeActivities) Teardown(_ context.Context, in activities.TeardownInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.teardowns = append(f.teardowns, in)
	return nil
}

func (f *fakeActivities) sliceCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.slices {
		n += c
	}
	return n
}

// started is one activity start seen on the workflow clock.
type started struct {
	name string
	at   time.Time
	in   activities.SliceInput // LoadSlice only
}

// segment is one workflow run of the continue-as-new chain, in its own
// test environment.
type segment struct {
	env      *testsuite.TestWorkflowEnvironment
	starts   []started
	timers   int
	canceled []string // activity types cancelled
}

func (s *segment) loadSlices() []started {
	var out []started
	for _, st := range s.starts {
		if st.name == activities.LoadSliceName {
			out = append(out, st)
		}
	}
	return out
}

func (s *segment) first(name string) (started, bool) {
	for _, st := range s.starts {
		if st.name == name {
			return st, true
		}
	}
	return started{}, false
}

func newSegment(t *testing.T, suite *testsuite.WorkflowTestSuite, f *fakeActivities, start time.Time) *segment {
	t.Helper()
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(start)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testWorkflowID})
	// A run ends when it continues as new; the slice children it abandons
	// report to the next run (reportInherited).
	env.SetDetachedChildWait(false)
	env.RegisterWorkflowWithOptions(StressTestWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterWorkflowWithOptions(SliceWorkflow, workflow.RegisterOptions{Name: SliceWorkflowName})
	reg := func(fn any, name string) {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	reg(f.Prepare, activities.PrepareName)
	reg(f.Deploy, activities.DeployName)
	reg(f.WaitReady, activities.WaitReadyName)
	reg(f.LoadSlice, activities.LoadSliceName)
	reg(f.Aggregate, activities.AggregateName)
	reg(f.Teardown, activities.TeardownName)
	if f.sliceTime > 0 {
		env.OnActivity(activities.LoadSliceName, mock.Anything, mock.Anything).Return(f.LoadSlice).After(f.sliceTime)
	}
	seg := &segment{env: env}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		st := started{name: info.ActivityType.Name, at: env.Now()}
		if st.name == activities.LoadSliceName {
			if err := args.Get(&st.in); err != nil {
				t.Errorf("decode LoadSlice input: %v", err)
			}
		}
		seg.starts = append(seg.starts, st)
	})
	env.SetOnTimerScheduledListener(func(string, time.Duration) { seg.timers++ })
	env.SetOnActivityCanceledListener(func(info *activity.Info) {
		seg.canceled = append(seg.canceled, info.ActivityType.Name)
	})
	return seg
}

// runChain runs the workflow and every continue-as-new run after it, each
// in a fresh environment started where the previous one stopped, until a
// run completes or fails. setup, when given, prepares each segment's
// environment before it runs.
func runChain(t *testing.T, f *fakeActivities, req config.Request, setup func(i int, s *segment)) ([]*segment, *Outcome, error) {
	t.Helper()
	suite := quietSuite()
	var carry *Carry
	start := testStart
	var segs []*segment
	for i := 0; i < 200; i++ {
		seg := newSegment(t, suite, f, start)
		if setup != nil {
			setup(i, seg)
		}
		if carry != nil && !f.lostChildren {
			reportInherited(t, seg, f, carry, req.SliceSeconds)
		}
		segs = append(segs, seg)
		seg.env.ExecuteWorkflow(WorkflowName, req, carry)
		if !seg.env.IsWorkflowCompleted() {
			t.Fatalf("segment %d did not complete", i)
		}
		err := seg.env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if errors.As(err, &can) {
			if can.WorkflowType.Name != WorkflowName {
				t.Fatalf("continued as %q, want %q", can.WorkflowType.Name, WorkflowName)
			}
			carry = nil
			if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &req, &carry); err != nil {
				t.Fatalf("decode continue-as-new input: %v", err)
			}
			if carry == nil {
				t.Fatal("continue-as-new carried no state")
			}
			start = seg.env.Now()
			continue
		}
		if err != nil {
			return segs, nil, err
		}
		var out Outcome
		if err := seg.env.GetWorkflowResult(&out); err != nil {
			t.Fatalf("decode outcome: %v", err)
		}
		return segs, &out, nil
	}
	t.Fatal("the workflow never finished")
	return nil, nil, nil
}

// realLengthSlices is a fake run of numSlices slices that each last their
// real length: the start lead, 300 s, and a 20 s tail.
func realLengthSlices(numSlices int) *fakeActivities {
	f := newFake()
	f.plan.NumSlices = numSlices
	f.sliceTime = sliceLead + 300*time.Second + 20*time.Second
	return f
}

// progressOf answers the progress query of a segment's run.
func progressOf(t *testing.T, seg *segment) Progress {
	t.Helper()
	var p Progress
	if v, err := seg.env.QueryWorkflow(ProgressQuery); err != nil || v.Get(&p) != nil {
		t.Fatalf("progress query: %v", err)
	}
	return p
}

// reportInherited stands in for the slice children an earlier run of the
// chain left running: each environment holds one run, so a child's report
// to the run's workflow id is sent here, when its slice ends, as the child
// would send it to the run that is current.
func reportInherited(t *testing.T, seg *segment, f *fakeActivities, carry *Carry, sliceSeconds float64) {
	t.Helper()
	for _, fl := range carry.InFlight {
		rep := SliceReport{Slice: fl.Slice}
		for replica := range f.endpoints {
			in := activities.SliceInput{RunID: carry.RunID, Slice: fl.Slice, Replica: replica, NumSlices: carry.Plan.NumSlices, T0: carry.T0}
			f.mu.Lock()
			ran := f.slices[sliceKey{fl.Slice, replica}] > 0
			f.mu.Unlock()
			res := activities.SliceResult{Slice: fl.Slice, Replica: replica, Summary: fakeSummary(), Parts: 1}
			if !ran {
				var err error
				if res, err = f.LoadSlice(context.Background(), in); err != nil {
					rep.Err = err.Error()
					continue
				}
			}
			rep.Results = append(rep.Results, res)
		}
		childStart := carry.T0.Add(time.Duration(float64(fl.Slice)*sliceSeconds*float64(time.Second)) - sliceLead)
		delay := max(childStart.Add(f.sliceTime).Sub(seg.env.Now()), time.Millisecond)
		seg.env.RegisterDelayedCallback(func() { seg.env.SignalWorkflow(SliceReportSignal, rep) }, delay)
	}
}

// sliceStartTimes checks that every LoadSlice started sliceLead before its
// slice's scheduled start, T0 + k*S.
func checkSliceStarts(t *testing.T, segs []*segment, sliceSeconds float64) {
	t.Helper()
	slice := time.Duration(sliceSeconds * float64(time.Second))
	for i, seg := range segs {
		for _, st := range seg.loadSlices() {
			want := st.in.T0.Add(time.Duration(st.in.Slice)*slice - sliceLead)
			if !st.at.Equal(want) {
				t.Errorf("segment %d: slice %d replica %d started at %s, want T0+k*S-lead = %s (late by %s)",
					i, st.in.Slice, st.in.Replica, st.at.Format(time.TimeOnly), want.Format(time.TimeOnly), st.at.Sub(want))
			}
		}
	}
}

func TestFullStressRunContinuesAsNewAndCoversEverySlice(t *testing.T) {
	f := newFake()
	req := stressRequest()
	segs, out, err := runChain(t, f, req, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	const numSlices, replicas, every = 139, 2, 48
	if want := (numSlices + every - 1) / every; len(segs) != want {
		t.Errorf("ran %d segments, want %d (continue-as-new every %d slices)", len(segs), want, every)
	}

	for k := range numSlices {
		for rep := range replicas {
			if n := f.slices[sliceKey{k, rep}]; n != 1 {
				t.Errorf("slice %d replica %d started %d times, want 1", k, rep, n)
			}
		}
	}
	if n := len(f.slices); n != numSlices*replicas {
		t.Errorf("%d distinct (slice, replica) pairs started, want %d", n, numSlices*replicas)
	}
	checkSliceStarts(t, segs, req.SliceSeconds)

	var t0 time.Time
	for i, seg := range segs {
		slices := seg.loadSlices()
		if len(slices) > every*replicas {
			t.Errorf("segment %d started %d slice activities, want at most %d", i, len(slices), every*replicas)
		}
		if seg.timers > every {
			t.Errorf("segment %d scheduled %d timers, want at most %d", i, seg.timers, every)
		}
		for _, st := range slices {
			if t0.IsZero() {
				t0 = st.in.T0
			}
			if !st.in.T0.Equal(t0) {
				t.Errorf("segment %d: slice %d has T0 %s, want the run's T0 %s", i, st.in.Slice, st.in.T0, t0)
			}
			if st.in.NumSlices != numSlices || st.in.Endpoint != f.endpoints[st.in.Replica] || st.in.RunID != testWorkflowID {
				t.Errorf("segment %d: unexpected slice input %+v", i, st.in)
			}
		}
		_, agg := seg.first(activities.AggregateName)
		_, td := seg.first(activities.TeardownName)
		if last := i == len(segs)-1; agg != last || td != last {
			t.Errorf("segment %d (last=%v): aggregate started %v, teardown started %v", i, last, agg, td)
		}
		t.Logf("segment %d: %d slice activities, %d timers, %d activities in all", i, len(slices), seg.timers, len(seg.starts))
	}
	if f.prepares != 1 || f.deploys != 1 || f.waits != 1 {
		t.Errorf("prepare/deploy/wait-ready ran %d/%d/%d times, want once each", f.prepares, f.deploys, f.waits)
	}
	if len(f.aggregates) != 1 {
		t.Fatalf("aggregate ran %d times, want 1", len(f.aggregates))
	}
	agg := f.aggregates[0]
	if agg.NumSlices != numSlices || agg.Replicas != replicas || agg.Partial || agg.RunID != testWorkflowID || !agg.StartedAt.Equal(testStart) {
		t.Errorf("aggregate input = %+v, want 139 slices, 2 replicas, not partial, started %s", agg, testStart)
	}
	if len(f.teardowns) != 1 || len(f.teardowns[0].Deployment.Endpoints) != replicas {
		t.Errorf("teardown calls = %+v, want one for the 2-replica deployment", f.teardowns)
	}
	if out.Partial || out.RunID != testWorkflowID || out.Result.ResultKey == "" {
		t.Errorf("outcome = %+v", out)
	}
	// The last slice starts at T0 + 138*S - lead; the whole run spans ~11.5 h.
	end := segs[len(segs)-1].env.Now()
	if d := end.Sub(testStart); d < 11*time.Hour+30*time.Minute || d > 12*time.Hour {
		t.Errorf("the run took %s on the workflow clock, want about 11.5 h", d)
	}
}

// With slices that really last a slice (plus the start lead and a tail of
// in-flight requests), consecutive slices overlap and each still starts on
// its own timer, not when the previous one ends.
func TestSlicesStartOnScheduleWhileThePreviousSliceRuns(t *testing.T) {
	f := realLengthSlices(6)
	req := stressRequest()
	req.ContinueAsNewEach = 100
	segs, _, err := runChain(t, f, req, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if len(segs) != 1 {
		t.Fatalf("ran %d segments, want 1", len(segs))
	}
	checkSliceStarts(t, segs, req.SliceSeconds)
	if n := f.sliceCalls(); n != 12 {
		t.Errorf("%d slice activities ran, want 12", n)
	}
}

// Continue-as-new hands the slice in flight on to the next run (its child
// reports there), so the next segment's first slice starts on time even
// when slices take their real length.
func TestContinueAsNewNeverDelaysASlice(t *testing.T) {
	f := realLengthSlices(6)
	req := stressRequest()
	req.ContinueAsNewEach = 3
	segs, out, err := runChain(t, f, req, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if len(segs) != 2 {
		t.Fatalf("ran %d segments, want 2", len(segs))
	}
	checkSliceStarts(t, segs, req.SliceSeconds)
	if n := f.sliceCalls(); n != 12 {
		t.Errorf("%d slice activities ran, want 12", n)
	}
	if len(f.aggregates) != 1 || f.aggregates[0].NumSlices != 6 || out.Partial {
		t.Errorf("aggregates %+v, outcome %+v: want one over 6 slices, not partial", f.aggregates, out)
	}
	// The slice the first run left in flight reported to the second: the
	// totals hold every slice.
	p := progressOf(t, segs[1])
	if p.SlicesDone != 6 || p.Completed != 6*2*perSliceCompleted {
		t.Errorf("progress after the run: %d slices done, %d completed; want 6 and %d", p.SlicesDone, p.Completed, 6*2*perSliceCompleted)
	}
}

func TestCancelMidRunAggregatesPartialAndTearsDown(t *testing.T) {
	f := newFake()
	f.sliceTime = sliceLead + 300*time.Second + 5*time.Second
	cancelAt := sliceLead + 3*300*time.Second + 100*time.Second // inside slice 3
	segs, _, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.RegisterDelayedCallback(s.env.CancelWorkflow, cancelAt)
	})
	var canceled *temporal.CanceledError
	if !errors.As(err, &canceled) {
		t.Fatalf("workflow error = %v, want cancelled", err)
	}
	if len(segs) != 1 {
		t.Fatalf("ran %d segments, want 1", len(segs))
	}
	seg := segs[0]
	for _, st := range seg.loadSlices() {
		if st.at.Sub(testStart) > cancelAt {
			t.Errorf("slice %d replica %d started after the cancel", st.in.Slice, st.in.Replica)
		}
	}
	if n := len(seg.loadSlices()); n != 4*2 {
		t.Errorf("%d slice activities started, want 8 (slices 0-3 on 2 replicas)", n)
	}
	if len(f.aggregates) != 1 {
		t.Fatalf("aggregate ran %d times, want 1", len(f.aggregates))
	}
	if agg := f.aggregates[0]; !agg.Partial || agg.Reason != "cancelled" || agg.NumSlices != 4 || agg.Replicas != 2 {
		t.Errorf("aggregate input = %+v, want partial, cancelled, 4 slices", agg)
	}
	if len(f.teardowns) != 1 {
		t.Errorf("teardown ran %d times, want 1", len(f.teardowns))
	}
	if n := countOf(seg.canceled, activities.LoadSliceName); n != 2 {
		t.Errorf("%d in-flight slice activities cancelled, want 2 (slice 3 on both replicas)", n)
	}
}

func countOf(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

// checkStoppedEarly checks a run stopped at stopAt, inside slice 3: no
// slice starts afterwards, the in-flight ones are cancelled (they flush
// what they sent) before the run aggregates right away, and it completes.
func checkStoppedEarly(t *testing.T, f *fakeActivities, segs []*segment, out *Outcome, err error, stopAt time.Duration, reason string) {
	t.Helper()
	if err != nil {
		t.Fatalf("stopped run failed: %v", err)
	}
	if len(segs) != 1 {
		t.Fatalf("ran %d segments, want 1", len(segs))
	}
	seg := segs[0]
	for _, st := range seg.loadSlices() {
		if st.at.Sub(testStart) > stopAt {
			t.Errorf("slice %d replica %d started after the stop", st.in.Slice, st.in.Replica)
		}
	}
	if n := len(seg.loadSlices()); n != 4*2 {
		t.Errorf("%d slice activities started, want 8", n)
	}
	if n := countOf(seg.canceled, activities.LoadSliceName); n != 2 {
		t.Errorf("%d in-flight slice activities cancelled, want 2", n)
	}
	agg, ok := seg.first(activities.AggregateName)
	if !ok {
		t.Fatal("aggregate never started")
	}
	if d := agg.at.Sub(testStart.Add(stopAt)); d < 0 || d > time.Second {
		t.Errorf("aggregate started %s after the stop, want at once", d)
	}
	if a := f.aggregates[0]; len(f.aggregates) != 1 || !a.Partial || a.Reason != reason || a.NumSlices != 4 {
		t.Errorf("aggregate inputs = %+v, want one, partial, reason %q, 4 slices", f.aggregates, reason)
	}
	if len(f.teardowns) != 1 {
		t.Errorf("teardown ran %d times, want 1", len(f.teardowns))
	}
	if !out.Partial || out.Reason != reason {
		t.Errorf("outcome = %+v, want partial with reason %q", out, reason)
	}
}

func TestStopUpdateEndsTheRunEarly(t *testing.T) {
	f := newFake()
	f.sliceTime = sliceLead + 300*time.Second + 5*time.Second
	stopAt := sliceLead + 3*300*time.Second + 100*time.Second
	const reason = "enough data for today"
	var accepted bool
	var reply Progress
	segs, out, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.RegisterDelayedCallback(func() {
			s.env.UpdateWorkflow(StopUpdate, "stop-1", &testsuite.TestUpdateCallback{
				OnAccept: func() { accepted = true },
				OnReject: func(err error) { t.Errorf("stop update rejected: %v", err) },
				OnComplete: func(v any, err error) {
					if err != nil {
						t.Errorf("stop update failed: %v", err)
						return
					}
					reply = v.(Progress)
				},
			}, reason)
		}, stopAt)
	})
	checkStoppedEarly(t, f, segs, out, err, stopAt, reason)
	if !accepted || !reply.Stopped || reply.StopReason != reason || reply.SlicesStarted != 4 {
		t.Errorf("update accepted=%v, reply %+v; want stopped with the reason after 4 slices started", accepted, reply)
	}
}

func TestStopSignalEndsTheRunEarly(t *testing.T) {
	f := newFake()
	f.sliceTime = sliceLead + 300*time.Second + 5*time.Second
	stopAt := sliceLead + 3*300*time.Second + 100*time.Second
	segs, out, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(StopSignal, "") }, stopAt)
	})
	checkStoppedEarly(t, f, segs, out, err, stopAt, "stopped early on request")
}

// A stop in the run after continue-as-new cancels, by its workflow id, the
// slice child the earlier run left in flight, and aggregates once it has
// reported.
func TestStopAfterContinueAsNewCancelsTheInheritedSlice(t *testing.T) {
	f := realLengthSlices(6)
	req := stressRequest()
	req.ContinueAsNewEach = 3
	var cancelled []string
	segs, out, err := runChain(t, f, req, func(i int, s *segment) {
		if i != 1 {
			return
		}
		s.env.OnRequestCancelExternalWorkflow(mock.Anything, mock.Anything, mock.Anything).Return(nil).
			Run(func(args mock.Arguments) { cancelled = append(cancelled, args.String(1)) })
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(StopSignal, "enough") }, time.Minute)
	})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if len(segs) != 2 {
		t.Fatalf("ran %d segments, want 2", len(segs))
	}
	if len(cancelled) != 1 || !strings.HasSuffix(cancelled[0], "/slice-3") || !strings.HasPrefix(cancelled[0], testWorkflowID+"/") {
		t.Errorf("cancel requests for %q, want one for slice 3's child", cancelled)
	}
	if n := len(segs[1].loadSlices()); n != 0 {
		t.Errorf("the stopped run started %d slice activities, want 0", n)
	}
	if len(f.aggregates) != 1 || f.aggregates[0].NumSlices != 3 || !out.Partial || out.Reason != "enough" {
		t.Errorf("aggregates %+v, outcome %+v: want one over 3 slices, partial with the reason", f.aggregates, out)
	}
	p := progressOf(t, segs[1])
	if p.SlicesDone != 3 {
		t.Errorf("%d slices done, want 3 (the inherited slice reported before the aggregate)", p.SlicesDone)
	}
}

// A slice child that never reports (terminated by hand) holds the run only
// until its execution timeout: then the run aggregates what is stored.
func TestAnInheritedSliceThatNeverReportsEndsAtItsDeadline(t *testing.T) {
	f := realLengthSlices(6)
	f.lostChildren = true
	req := stressRequest()
	req.ContinueAsNewEach = 5
	segs, out, err := runChain(t, f, req, nil)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if len(segs) != 2 || len(f.aggregates) != 1 || f.aggregates[0].NumSlices != 6 || out.Partial {
		t.Fatalf("%d segments, aggregates %+v, outcome %+v: want 2 and one aggregate over 6 slices", len(segs), f.aggregates, out)
	}
	agg, _ := segs[1].first(activities.AggregateName)
	first := segs[0].loadSlices()
	if len(first) == 0 {
		t.Fatal("the first run started no slice")
	}
	// Slice 5 is the one the first run left in flight.
	childStart := first[0].in.T0.Add(4*300*time.Second - sliceLead)
	timeout := sliceLead + 300*time.Second + time.Duration((req.Defaults().RequestTimeoutSeconds+req.Defaults().ReplicaGoneLimitSeconds)*float64(time.Second)) + 15*time.Minute
	if d := agg.at.Sub(childStart); d < timeout || d > timeout+time.Minute {
		t.Errorf("aggregate started %s after the lost slice began, want its execution timeout %s", d, timeout)
	}
}

// A stop that arrives before the load starts still deploys nothing more,
// tears down, and completes without aggregating an empty run.
func TestStopSignalBeforeLoadStartsNoSlice(t *testing.T) {
	f := newFake()
	segs, out, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(StopSignal, "changed my mind") }, 0)
	})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if n := len(segs[0].loadSlices()); n != 0 || len(f.aggregates) != 0 || len(f.teardowns) != 1 {
		t.Errorf("slices %d, aggregates %d, teardowns %d; want 0, 0, 1", n, len(f.aggregates), len(f.teardowns))
	}
	if !out.Partial || out.Reason != "changed my mind" || len(segs) != 1 {
		t.Errorf("outcome = %+v", out)
	}
}

func TestInvalidRequestFailsBeforeAnyActivity(t *testing.T) {
	f := newFake()
	req := stressRequest()
	rate := config.Rate(-1)
	req.RequestRate = &rate
	req.Backend = "grpc"
	segs, _, err := runChain(t, f, req, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("workflow error = %v, want an application error", err)
	}
	if appErr.Type() != activities.ErrInvalidRequest || !appErr.NonRetryable() {
		t.Errorf("error type %q non-retryable %v, want %q non-retryable", appErr.Type(), appErr.NonRetryable(), activities.ErrInvalidRequest)
	}
	for _, field := range []string{"request_rate", "backend"} {
		if !strings.Contains(appErr.Error(), field) {
			t.Errorf("error %q does not name %s", appErr.Error(), field)
		}
	}
	if n := len(segs[0].starts); n != 0 {
		t.Errorf("%d activities started, want none", n)
	}
}

func TestPrepareRejectingTheRequestFailsWithoutDeploying(t *testing.T) {
	f := newFake()
	f.prepareErr = temporal.NewNonRetryableApplicationError("sonnet_input_len: 512 is shorter than the base prompt",
		activities.ErrInvalidRequest, nil)
	_, _, err := runChain(t, f, stressRequest(), nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrInvalidRequest {
		t.Fatalf("workflow error = %v, want the InvalidRequest application error", err)
	}
	if !strings.Contains(err.Error(), "sonnet_input_len") {
		t.Errorf("error %q lost the field", err)
	}
	if f.prepares != 1 || f.deploys != 0 || len(f.teardowns) != 0 || len(f.aggregates) != 0 {
		t.Errorf("prepare %d, deploy %d, teardown %d, aggregate %d; want 1, 0, 0, 0",
			f.prepares, f.deploys, len(f.teardowns), len(f.aggregates))
	}
}

func TestFailingSliceAggregatesWhatRanAndFails(t *testing.T) {
	f := newFake()
	f.sliceTime = sliceLead + 300*time.Second + 5*time.Second
	f.sliceErr = func(in activities.SliceInput) error {
		if in.Slice == 2 && in.Replica == 1 {
			return temporal.NewNonRetryableApplicationError("model not served", "ModelMissing", nil)
		}
		return nil
	}
	segs, _, err := runChain(t, f, stressRequest(), nil)
	if err == nil || !strings.Contains(err.Error(), "slice 3 replica 1") || !strings.Contains(err.Error(), "model not served") {
		t.Fatalf("workflow error = %v, want the slice error", err)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == activities.ErrInvalidRequest {
		t.Errorf("a slice failure reported as an invalid request: %v", err)
	}
	failedAt := testStart.Add(sliceLead + 2*300*time.Second + f.sliceTime - sliceLead)
	for _, st := range segs[0].loadSlices() {
		if st.at.After(failedAt) {
			t.Errorf("slice %d started after slice 3 failed", st.in.Slice)
		}
	}
	if len(f.aggregates) != 1 {
		t.Fatalf("aggregate ran %d times, want 1", len(f.aggregates))
	}
	if a := f.aggregates[0]; !a.Partial || !strings.Contains(a.Reason, "model not served") || a.NumSlices != 4 {
		t.Errorf("aggregate input = %+v, want partial over the 4 slices started, with the slice error", a)
	}
	if len(f.teardowns) != 1 {
		t.Errorf("teardown ran %d times, want 1", len(f.teardowns))
	}
}

func TestProgressQueryMidRun(t *testing.T) {
	f := newFake()
	f.sliceTime = sliceLead + 300*time.Second + 5*time.Second
	// Slice k starts at k*300 s and ends at k*300 + 315 s: at 1,300 s
	// slices 0-3 have ended and slice 4 (started at 1,200 s) is running.
	queryAt := 1300 * time.Second
	var p Progress
	var queried bool
	_, _, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		if i > 0 {
			return
		}
		s.env.RegisterDelayedCallback(func() {
			v, err := s.env.QueryWorkflow(ProgressQuery)
			if err != nil {
				t.Errorf("query: %v", err)
				return
			}
			queried = v.Get(&p) == nil
		}, queryAt)
	})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if !queried {
		t.Fatal("progress query never answered")
	}
	const done, replicas = 4, 2
	if p.Phase != PhaseLoading || p.SlicesDone != done || p.SlicesStarted != 5 || p.SlicesTotal != 139 || p.Replicas != replicas {
		t.Errorf("progress = %+v, want loading, 4 done, 5 started of 139, 2 replicas", p)
	}
	if p.Completed != done*replicas*perSliceCompleted || p.Failed != done*replicas || p.Interrupted != 0 {
		t.Errorf("counts completed/failed/interrupted = %d/%d/%d, want %d/%d/0",
			p.Completed, p.Failed, p.Interrupted, done*replicas*perSliceCompleted, done*replicas)
	}
	if p.Scheduled != 500000*replicas || p.RunID != testWorkflowID || !p.StartedAt.Equal(testStart) {
		t.Errorf("progress = %+v, want 1,000,000 scheduled", p)
	}
	t0 := testStart.Add(sliceLead)
	if !p.T0.Equal(t0) || !p.ETA.Equal(t0.Add(time.Duration(41666.67*float64(time.Second)))) {
		t.Errorf("T0 %s ETA %s, want T0 %s and ETA T0+41666.67 s", p.T0, p.ETA, t0)
	}
	// Each slice replica completes 3 requests of 128 output tokens.
	wantTokS := float64(done*replicas*perSliceCompleted*128) / (done * 300)
	if math.Abs(p.Run.OutTokS-wantTokS) > 1e-9 || p.LatestSlice != done {
		t.Errorf("run output tok/s %g (want %g), latest slice %d (want %d)", p.Run.OutTokS, wantTokS, p.LatestSlice, done)
	}
	if math.Abs(p.Run.TTFTp50-110)/110 > 0.02 || math.Abs(p.Run.ITLp50-20)/20 > 0.02 {
		t.Errorf("TTFT p50 %g ms, ITL p50 %g ms; want about 110 and 20", p.Run.TTFTp50, p.Run.ITLp50)
	}
	if md := p.Markdown(); !strings.Contains(md, "· 4 done ·") || !strings.Contains(md, " of 139 ·") {
		t.Errorf("markdown lacks the slice count:\n%s", md)
	}
}

func TestDeployFailureStillTearsDown(t *testing.T) {
	f := newFake()
	seg := newSegment(t, quietSuite(), f, testStart)
	seg.env.OnActivity(activities.DeployName, mock.Anything, mock.Anything).
		Return(activities.Deployment{}, temporal.NewNonRetryableApplicationError("0/3 nodes: Insufficient nvidia.com/gpu", activities.ErrNotReady, nil))
	seg.env.ExecuteWorkflow(WorkflowName, stressRequest(), (*Carry)(nil))
	if err := seg.env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "Insufficient") {
		t.Fatalf("workflow error = %v, want the deploy error", err)
	}
	if len(f.teardowns) != 1 || len(f.aggregates) != 0 || f.sliceCalls() != 0 {
		t.Errorf("teardowns %d, aggregates %d, slices %d; want 1, 0, 0", len(f.teardowns), len(f.aggregates), f.sliceCalls())
	}
}

// When the server suggests continue-as-new, each run hands over after one
// more slice, and the chain still starts every slice once.
func TestContinueAsNewSuggested(t *testing.T) {
	f := newFake()
	f.plan.NumSlices = 5
	segs, out, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.SetContinueAsNewSuggested(true)
	})
	if err != nil || out.Partial {
		t.Fatalf("run: %v, outcome %+v", err, out)
	}
	if len(segs) != 5 || len(f.slices) != 10 || f.sliceCalls() != 10 {
		t.Errorf("%d segments, %d slice activities; want 5 segments of one slice on 2 replicas", len(segs), f.sliceCalls())
	}
	if len(f.aggregates) != 1 || f.aggregates[0].NumSlices != 5 {
		t.Errorf("aggregates = %+v", f.aggregates)
	}
	checkSliceStarts(t, segs, 300)
}

// When the namespace has the custom search attributes, the run sets its
// model and GPU type once and its phase at every step.
func TestSearchAttributesFollowTheRun(t *testing.T) {
	f := newFake()
	f.plan.NumSlices = 2
	f.plan.SearchAttributes = true
	f.plan.GPUType = "H100"
	var phases []string
	var model, gpu string
	_, _, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
			sa := args.Get(0).(temporal.SearchAttributes)
			if v, ok := sa.GetKeyword(PhaseAttr); ok {
				phases = append(phases, v)
			}
			if v, ok := sa.GetKeyword(ModelAttr); ok {
				model = v
			}
			if v, ok := sa.GetKeyword(GPUTypeAttr); ok {
				gpu = v
			}
		}).Return(nil)
	})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	want := []string{PhaseDeploying, PhaseWaiting, PhaseLoading, PhaseAggregating, PhaseTearingDown, PhaseDone}
	if strings.Join(phases, ",") != strings.Join(want, ",") {
		t.Errorf("phases = %v, want %v", phases, want)
	}
	if model != f.plan.Model || gpu != "H100" {
		t.Errorf("model %q gpu %q, want %q and H100", model, gpu, f.plan.Model)
	}
}

// A replica that refuses every connection from its second slice on is
// named in the progress (query and current details) with its reason, and
// warned about once it has been unreachable for more than one slice. The
// query comes when five slices are done.
func TestProgressWarnsOfAnUnreachableReplica(t *testing.T) {
	f := newFake()
	f.plan.NumSlices = 6
	const refused = `request failed: Post "http://replica-1:8000/v1/completions": dial tcp 10.0.0.7:8000: connect: connection refused`
	f.sliceSummary = func(in activities.SliceInput) *metrics.Summary {
		if in.Replica != 1 || in.Slice == 0 {
			return nil
		}
		s := metrics.NewSummary()
		for range 40 {
			s.Add(metrics.Record{Status: metrics.StatusFailed, Error: refused})
		}
		return s
	}
	var p Progress
	_, _, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
		s.env.RegisterDelayedCallback(func() {
			v, err := s.env.QueryWorkflow(ProgressQuery)
			if err != nil {
				t.Errorf("progress query: %v", err)
				return
			}
			if err := v.Get(&p); err != nil {
				t.Error(err)
			}
		}, sliceLead+4*300*time.Second+5*time.Second)
	})
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	if len(p.ByReplica) != 2 {
		t.Fatalf("progress by replica %+v", p.ByReplica)
	}
	r1 := p.ByReplica[1]
	if r1.URL != "http://replica-1:8000" || r1.Failed != 1+4*40 || r1.Failures["connection refused"] != 4*40 ||
		r1.UnreachableSlices != 4 || r1.LastError != refused {
		t.Errorf("replica 1: %+v", r1)
	}
	if r0 := p.ByReplica[0]; r0.UnreachableSlices != 0 || r0.Failures["HTTP 500"] != 5 || r0.Completed != 5*perSliceCompleted {
		t.Errorf("replica 0: %+v", r0)
	}
	if len(p.Warnings) != 1 || !strings.HasPrefix(p.Warnings[0], "replica 1 (http://replica-1:8000) unreachable for the last 4 slices") {
		t.Errorf("warnings %q", p.Warnings)
	}
	md := p.Markdown()
	if !strings.Contains(md, "**WARNING**: replica 1") || !strings.Contains(md, "- replica 1: 3 ok · 161 failed (98.2%, 160 connection refused) · TTFT p99 118.6 ms · http://replica-1:8000\n") {
		t.Errorf("current details do not show the dead replica:\n%s", md)
	}
}

// The Web UI's run list tells a failing run from a clean one: VibHealth
// and VibFailedPct follow the run and hold the exact share at the end.
func TestSearchAttributesMarkAFailingRun(t *testing.T) {
	const refused = `dial tcp 10.0.0.7:8000: connect: connection refused`
	for _, tc := range []struct {
		name       string
		summary    func(activities.SliceInput) *metrics.Summary
		wantHealth []string
		wantPct    float64
	}{
		{"clean", func(activities.SliceInput) *metrics.Summary {
			s := metrics.NewSummary()
			for range 3 {
				s.Add(metrics.Record{Status: metrics.StatusCompleted, Success: true, OutputTokens: 2, TTFT: 0.01, Latency: 0.02})
			}
			return s
		}, []string{HealthOK, HealthOK}, 0},
		{"replica 1 refuses from its second slice", func(in activities.SliceInput) *metrics.Summary {
			if in.Replica != 1 || in.Slice == 0 {
				return nil // 3 completed, 1 failed
			}
			s := metrics.NewSummary()
			for range 40 {
				s.Add(metrics.Record{Status: metrics.StatusFailed, Error: refused})
			}
			return s
			// Failed share by slice: 25%, 82.7%, 87.5%, 89.3%, 90.2%, 90.8%
			// (the same whole percent: no upsert), then the final one.
		}, []string{HealthFailing, HealthFailing, HealthUnreachable, HealthUnreachable, HealthUnreachable, HealthUnreachable}, 100 * 207.0 / (207 + 21)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.plan.NumSlices = 6
			f.plan.SearchAttributes = true
			f.sliceSummary = tc.summary
			var healths []string
			pct := -1.0
			_, _, err := runChain(t, f, stressRequest(), func(i int, s *segment) {
				s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
					sa := args.Get(0).(temporal.SearchAttributes)
					if v, ok := sa.GetKeyword(HealthAttr); ok {
						healths = append(healths, v)
					}
					if v, ok := sa.GetFloat64(FailedPctAttr); ok {
						pct = v
					}
				}).Return(nil)
			})
			if err != nil {
				t.Fatalf("run failed: %v", err)
			}
			if strings.Join(healths, ",") != strings.Join(tc.wantHealth, ",") {
				t.Errorf("health set %v, want %v", healths, tc.wantHealth)
			}
			if math.Abs(pct-tc.wantPct) > 1e-9 {
				t.Errorf("failed pct %v, want %v", pct, tc.wantPct)
			}
		})
	}
}

// Before any slice ends the current details say so with "—", not zeros
// that read as a run that measured nothing.
func TestProgressMarkdownBeforeData(t *testing.T) {
	md := Progress{Phase: PhaseWaiting, SlicesTotal: 139, Replicas: 2,
		ByReplica: []ReplicaProgress{{Replica: 0, URL: "http://replica-0:8000"}}}.Markdown()
	for _, want := range []string{"**waiting-ready** · slice — of 139 · 0 done · 2 replica(s)", "- run: —\n", "- replica 0: — · http://replica-0:8000\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("current details lack %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "latency") || strings.Contains(md, "- slice") {
		t.Errorf("current details show figures before data:\n%s", md)
	}
}

// With eight replicas the current details stay short: the failing replica
// first, then healthy ones up to four lines, the rest in one line.
func TestProgressMarkdownKeepsManyReplicasShort(t *testing.T) {
	p := Progress{Phase: PhaseLoading, SlicesStarted: 3, SlicesDone: 2, SlicesTotal: 139, Replicas: 8, Completed: 700, Failed: 20}
	for i := range 8 {
		rp := ReplicaProgress{Replica: i, URL: fmt.Sprintf("http://r%d:8000", i), Completed: 100, TTFTp99: 110}
		if i == 5 {
			rp.Completed, rp.Failed, rp.Failures = 0, 20, map[string]int{"HTTP 500 Internal Server Error": 20}
		}
		p.ByReplica = append(p.ByReplica, rp)
	}
	md := p.Markdown()
	lines := strings.Split(strings.TrimSpace(md), "\n")
	want := []string{
		"- run: 700 ok · 20 failed (2.8%, 20 HTTP 500 Internal Server Error) · TTFT p99 0.0 ms · ITL p99 0.0 ms · 0.0 out tok/s",
		"- replica 5: 0 ok · 20 failed (100.0%, 20 HTTP 500 Internal Server Error) · http://r5:8000",
		"- replica 0: 100 ok · 0 failed · TTFT p99 110.0 ms · http://r0:8000",
		"- replica 1: 100 ok · 0 failed · TTFT p99 110.0 ms · http://r1:8000",
		"- replica 2: 100 ok · 0 failed · TTFT p99 110.0 ms · http://r2:8000",
		"- 4 more replica(s), none failing",
	}
	if len(lines) != 2+len(want) || !slices.Equal(lines[2:], want) {
		t.Errorf("current details:\n%s\nwant after the header:\n%s", md, strings.Join(want, "\n"))
	}
}
