package datasets_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

func llama(t testing.TB) *tokenizer.HF {
	t.Helper()
	tok, err := tokenizer.Llama31()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Sonnet 512/128/2, seed 0, with the real Llama 3.1 tokenizer: every
// prompt_len is the full formatted prompt's token count (BOS counted twice)
// and fits in the input length.
func TestSonnetWithLlama31(t *testing.T) {
	tok := llama(t)
	// 3000 prompts: enough to count tokens by parts, which must agree with
	// tokenizing each formatted prompt whole.
	cfg := datasets.Config{DatasetName: "sonnet", NumPrompts: 3000, Seed: 0, Backend: "openai-chat",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2}
	d, err := datasets.New(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Len() {
		s, err := d.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		formatted, err := tok.ChatPrompt(s.Prompt)
		if err != nil {
			t.Fatal(err)
		}
		ids, _ := tok.Encode(formatted, true)
		if s.PromptLen != len(ids) || s.PromptLen > 512 || s.ExpectedOutputLen != 2 {
			t.Fatalf("sample %d: prompt_len %d, formatted count %d", i, s.PromptLen, len(ids))
		}
	}
	s0, _ := d.Sample(0)
	t.Logf("sample 0: prompt_len %d, %d bytes", s0.PromptLen, len(s0.Prompt))
}

func BenchmarkSonnet500kLlama31(b *testing.B) {
	tok := llama(b)
	cfg := datasets.Config{DatasetName: "sonnet", NumPrompts: 500_000, Seed: 0, Backend: "openai",
		SonnetInputLen: 512, SonnetPrefixLen: 128, SonnetOutputLen: 2}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		d, err := datasets.New(cfg, tok)
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(elapsed.Seconds(), "build-s")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(d.Len()), "retained-B/sample")
		runtime.KeepAlive(d)
	}
}
