package results_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vibench/vllm-inference-benchmark/metrics"
	"github.com/vibench/vllm-inference-benchmark/results/s3test"
)

// makeRecords builds n varied records: successes with ITLs and text that
// needs JSON escaping, failures, interruptions.
func makeRecords(n int, seed uint64) []metrics.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	recs := make([]metrics.Record, n)
	for i := range recs {
		r := metrics.Record{
			RequestID:         fmt.Sprintf("req-%d", i),
			PromptLen:         rng.IntN(2000) + 1,
			ExpectedOutputLen: 128,
			Index:             i,
			Replica:           i % 3,
			ScheduledAt:       float64(i) * 0.013,
			StartTime:         1000 + rng.Float64()*100,
		}
		switch i % 10 {
		case 8:
			r.Status = metrics.StatusFailed
			r.Error = "HTTP 500: <internal> \"oops\" & \u00e9\n"
		case 9:
			r.Status = metrics.StatusInterrupted
			r.Error = "worker lost"
		default:
			r.Status = metrics.StatusCompleted
			r.Success = true
			r.OutputTokens = 64
			r.TTFT = rng.Float64()
			r.ITL = make([]float64, 63)
			for j := range r.ITL {
				r.ITL[j] = rng.ExpFloat64() / 50
			}
			r.Latency = r.TTFT + 1.5
			r.Lateness = rng.Float64() / 1000
			r.QueueTime = rng.Float64() / 100
			r.GeneratedText = "Shall I compare thee <b>to</b> a summer's day? \u2603 \t"
		}
		recs[i] = r
	}
	return recs
}

func staticCreds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s3test.AccessKeyID, s3test.SecretAccessKey, "")
}
