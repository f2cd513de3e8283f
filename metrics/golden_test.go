package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cliSetup maps the few `vllm bench serve` flags the golden cases use onto
// Options and RunInfo, as the config package does for real runs.
func cliSetup(t *testing.T, args []string, date string) (Options, RunInfo) {
	t.Helper()
	opts := Options{OutputTokens: func(text string) int { return len(strings.Fields(text)) }}
	run := RunInfo{Date: date, Backend: "openai", RequestRate: math.Inf(1), Burstiness: 1.0, NumPrompts: 1000}
	var tokenizer *string
	skipTokenizer := false
	// values returns the arguments of a flag up to the next flag (argparse nargs).
	values := func(i int) []string {
		j := i + 1
		for j < len(args) && !strings.HasPrefix(args[j], "--") {
			j++
		}
		return args[i+1 : j]
	}
	for i := 0; i < len(args); i++ {
		flag := args[i]
		if !strings.HasPrefix(flag, "--") {
			t.Fatalf("unexpected argument %q", flag)
		}
		vals := values(i)
		i += len(vals)
		one := func() string {
			if len(vals) != 1 {
				t.Fatalf("%s wants one value, got %q", flag, vals)
			}
			return vals[0]
		}
		atoi := func(s string) int {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		atof := func(s string) float64 {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		switch flag {
		case "--backend":
			run.Backend = one()
		case "--model":
			run.ModelID = one()
		case "--tokenizer":
			tokenizer = new(one())
		case "--skip-tokenizer-init":
			skipTokenizer = true
		case "--label":
			run.Label = new(one())
		case "--num-prompts":
			run.NumPrompts = atoi(one())
		case "--max-concurrency":
			run.MaxConcurrency = new(atoi(one()))
		case "--request-rate":
			run.RequestRate = atof(one())
		case "--burstiness":
			run.Burstiness = atof(one())
		case "--metadata":
			for _, item := range vals {
				k, v, ok := strings.Cut(item, "=")
				if !ok {
					t.Fatalf("bad metadata %q", item)
				}
				run.Metadata = append(run.Metadata, KeyValue{strings.TrimSpace(k), strings.TrimSpace(v)})
			}
		case "--percentile-metrics":
			opts.PercentileMetrics = strings.Split(one(), ",")
		case "--metric-percentiles":
			for _, p := range strings.Split(one(), ",") {
				opts.Percentiles = append(opts.Percentiles, atof(p))
			}
		case "--goodput":
			opts.Goodput = map[string]float64{}
			for _, slo := range vals {
				name, ms, _ := strings.Cut(slo, ":")
				opts.Goodput[name] = atof(ms)
			}
		case "--save-detailed":
			opts.SaveDetailed = true
		case "--ramp-up-strategy":
			if run.RampUp == nil {
				run.RampUp = &RampUp{}
			}
			run.RampUp.Strategy = one()
		case "--ramp-up-start-rps":
			run.RampUp.StartRPS = atoi(one())
		case "--ramp-up-end-rps":
			run.RampUp.EndRPS = atoi(one())
		case "--endpoint", "--dataset-name", "--dataset-path", "--seed":
			// no effect on the metrics or their rendering
		default:
			t.Fatalf("flag %s not handled by the test helper", flag)
		}
	}
	if skipTokenizer {
		opts.OutputTokens = nil
	} else if tokenizer != nil {
		run.TokenizerID = tokenizer
	} else {
		run.TokenizerID = new(run.ModelID)
	}
	return opts, run
}

type goldenExpected struct {
	SavedResultFileName string `json:"saved_result_file_name"`
	SavedResultJSONText string `json:"saved_result_json_text"`
	CalculateMetrics    struct {
		Completed             int          `json:"completed"`
		Failed                int          `json:"failed"`
		TotalInput            int          `json:"total_input"`
		TotalOutput           int          `json:"total_output"`
		RequestThroughput     float64      `json:"request_throughput"`
		RequestGoodput        float64      `json:"request_goodput"`
		OutputThroughput      float64      `json:"output_throughput"`
		TotalTokenThroughput  float64      `json:"total_token_throughput"`
		MeanTTFT              float64      `json:"mean_ttft_ms"`
		MedianTTFT            float64      `json:"median_ttft_ms"`
		StdTTFT               float64      `json:"std_ttft_ms"`
		PercentilesTTFT       [][2]float64 `json:"percentiles_ttft_ms"`
		MeanTPOT              float64      `json:"mean_tpot_ms"`
		MedianTPOT            float64      `json:"median_tpot_ms"`
		StdTPOT               float64      `json:"std_tpot_ms"`
		PercentilesTPOT       [][2]float64 `json:"percentiles_tpot_ms"`
		MeanITL               float64      `json:"mean_itl_ms"`
		MedianITL             float64      `json:"median_itl_ms"`
		StdITL                float64      `json:"std_itl_ms"`
		PercentilesITL        [][2]float64 `json:"percentiles_itl_ms"`
		MeanE2EL              float64      `json:"mean_e2el_ms"`
		MedianE2EL            float64      `json:"median_e2el_ms"`
		StdE2EL               float64      `json:"std_e2el_ms"`
		PercentilesE2EL       [][2]float64 `json:"percentiles_e2el_ms"`
		MaxOutputTokensPerS   float64      `json:"max_output_tokens_per_s"`
		MaxConcurrentRequests int          `json:"max_concurrent_requests"`
		RTFx                  float64      `json:"rtfx"`
	} `json:"calculate_metrics"`
	ActualOutputLens []int `json:"actual_output_lens"`
}

const goldenDate = "20260102-030405"

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameFloat(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Float64bits(got) != math.Float64bits(want) {
		t.Errorf("%s = %v (%s), want %v (%s)", name, got, PyFloat(got), want, PyFloat(want))
	}
}

func sameStats(t *testing.T, name string, got Stats, mean, median, std float64, pcts [][2]float64) {
	t.Helper()
	sameFloat(t, "mean_"+name, got.Mean, mean)
	sameFloat(t, "median_"+name, got.Median, median)
	sameFloat(t, "std_"+name, got.Std, std)
	if len(got.Percentiles) != len(pcts) {
		t.Fatalf("%s: %d percentiles, want %d", name, len(got.Percentiles), len(pcts))
	}
	for i, p := range pcts {
		sameFloat(t, name+" percentile key", got.Percentiles[i].P, p[0])
		sameFloat(t, "p"+PyFloat(p[0])+"_"+name, got.Percentiles[i].Value, p[1])
	}
}

func TestGoldenCases(t *testing.T) {
	paths, err := filepath.Glob("testdata/golden/cases/*.input.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".input.json")
		t.Run(name, func(t *testing.T) {
			gc, err := LoadGoldenCase(path)
			if err != nil {
				t.Fatal(err)
			}
			var want goldenExpected
			if err := json.Unmarshal([]byte(readTestFile(t, "testdata/golden/expected/"+name+".expected.json")), &want); err != nil {
				t.Fatal(err)
			}
			opts, run := cliSetup(t, gc.CLI, goldenDate)
			res := Calculate(gc.Records, gc.Duration, opts)

			cm := want.CalculateMetrics
			if res.Completed != cm.Completed || res.Failed != cm.Failed || res.TotalInput != cm.TotalInput ||
				res.TotalOutput != cm.TotalOutput || res.MaxConcurrentRequests != cm.MaxConcurrentRequests {
				t.Errorf("counts = %d/%d in %d out %d conc %d, want %d/%d in %d out %d conc %d",
					res.Completed, res.Failed, res.TotalInput, res.TotalOutput, res.MaxConcurrentRequests,
					cm.Completed, cm.Failed, cm.TotalInput, cm.TotalOutput, cm.MaxConcurrentRequests)
			}
			sameFloat(t, "request_throughput", res.RequestThroughput, cm.RequestThroughput)
			sameFloat(t, "request_goodput", res.RequestGoodput, cm.RequestGoodput)
			sameFloat(t, "output_throughput", res.OutputThroughput, cm.OutputThroughput)
			sameFloat(t, "total_token_throughput", res.TotalTokenThroughput, cm.TotalTokenThroughput)
			sameFloat(t, "max_output_tokens_per_s", res.MaxOutputTokensPerS, cm.MaxOutputTokensPerS)
			sameFloat(t, "rtfx", res.RTFx, cm.RTFx)
			sameStats(t, "ttft", res.TTFT, cm.MeanTTFT, cm.MedianTTFT, cm.StdTTFT, cm.PercentilesTTFT)
			sameStats(t, "tpot", res.TPOT, cm.MeanTPOT, cm.MedianTPOT, cm.StdTPOT, cm.PercentilesTPOT)
			sameStats(t, "itl", res.ITL, cm.MeanITL, cm.MedianITL, cm.StdITL, cm.PercentilesITL)
			sameStats(t, "e2el", res.E2EL, cm.MeanE2EL, cm.MedianE2EL, cm.StdE2EL, cm.PercentilesE2EL)

			if got := res.Statuses.Completed + res.Statuses.Failed + res.Statuses.Interrupted; got != len(gc.Records) {
				t.Errorf("status counts %+v do not add up to %d", res.Statuses, len(gc.Records))
			}

			wantTable := readTestFile(t, "testdata/golden/expected/"+name+".expected_table.txt")
			if got := FormatTable(res, run); got != wantTable {
				t.Errorf("table:\n%s\nwant:\n%s", got, wantTable)
			}
			stdout := readTestFile(t, "testdata/golden/expected/"+name+".expected_stdout.txt")
			report := FormatReport(res, run)
			before, found := strings.CutSuffix(stdout, report)
			if !found {
				t.Errorf("stdout does not end with the report:\n%s\nstdout:\n%s", report, stdout)
			} else if lines := strings.Split(strings.TrimSuffix(before, "\n"), "\n"); !strings.HasPrefix(lines[len(lines)-1], "Maximum request concurrency:") {
				t.Errorf("report does not start right after the run header; preceding line %q", lines[len(lines)-1])
			}

			fileName := ResultFileName(run)
			if fileName != want.SavedResultFileName {
				t.Errorf("file name %q, want %q", fileName, want.SavedResultFileName)
			}
			saved := readTestFile(t, "testdata/golden/expected/saved_results/"+want.SavedResultFileName)
			got := ResultJSON(res, run)
			if got != saved {
				t.Errorf("saved JSON:\n%s\nwant:\n%s", got, saved)
			}
			if got != want.SavedResultJSONText {
				t.Errorf("saved JSON differs from saved_result_json_text")
			}

			opts.SaveDetailed = true
			detailed := Calculate(gc.Records, gc.Duration, opts)
			if !slices.Equal(detailed.Details.OutputLens, want.ActualOutputLens) {
				t.Errorf("output_lens %v, want %v", detailed.Details.OutputLens, want.ActualOutputLens)
			}
		})
	}
}
