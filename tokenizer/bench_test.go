//go:build unix

package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this process has used; on a shared, busy machine
// it shows the cost that wall time hides behind waiting.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEncode encodes texts per iteration and reports ns per token, in wall
// time and in CPU time.
func benchEncode(b *testing.B, tok *HF, texts []string, special bool) {
	tokens := 0
	for _, text := range texts {
		ids, err := tok.Encode(text, special)
		if err != nil {
			b.Fatal(err)
		}
		tokens += len(ids)
	}
	cpuStart := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		for _, text := range texts {
			if _, err := tok.Encode(text, special); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tokens), "ns/token")
	b.ReportMetric(float64((cpuTime(b)-cpuStart).Nanoseconds())/float64(b.N*tokens), "cpu-ns/token")
}

// BenchmarkEncode measures Llama 3.1 encoding on sonnet text: every line on
// its own (as the sonnet dataset measures lines), a 550-token chat prompt,
// and the lines again with the word cache disabled (BPE merges every time).
func BenchmarkEncode(b *testing.B) {
	tok, err := Llama31()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "sonnet.txt"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	base := "Pick as many lines as you can from these poem lines:\n"
	prompt, err := tok.ChatPrompt(base + strings.Join(lines[100:130], ""))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sonnet-lines", func(b *testing.B) { benchEncode(b, tok, lines, true) })
	b.Run("chat-prompt", func(b *testing.B) { benchEncode(b, tok, []string{prompt}, true) })
	b.Run("sonnet-lines-no-cache", func(b *testing.B) {
		model := *tok.model
		model.cache = newWordCache(0)
		uncached := *tok
		uncached.model = &model
		benchEncode(b, &uncached, lines, true)
	})
}
