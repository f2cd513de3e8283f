package datasets_test

import (
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

func TestZZDebugJunctions(t *testing.T) {
	tok, _ := tokenizer.Llama31()
	text := strings.SplitAfter(sonnet(), "\n")
	cnt := func(s string) int { ids, _ := tok.Encode(s, false); return len(ids) }
	c := make([]int, len(text))
	for i, l := range text {
		c[i] = cnt(l)
	}
	bad := 0
	for a := range text {
		for b := range text {
			if cnt(text[a]+text[b]) != c[a]+c[b] {
				bad++
				if bad < 6 {
					t.Logf("pair %q + %q", text[a][max(0, len(text[a])-10):], text[b][:10])
				}
			}
		}
	}
	t.Logf("bad pairs %d", bad)
	base := "Pick as many lines as you can from these poem lines:\n"
	f, _ := tok.ChatPrompt(base)
	fc, _ := tok.Encode(f, true)
	badl := 0
	for i, l := range text {
		g, _ := tok.ChatPrompt(base + l)
		gc, _ := tok.Encode(g, true)
		if len(gc) != len(fc)+c[i] {
			badl++
			if badl < 4 {
				t.Logf("line %d %q: %d vs %d+%d", i, l, len(gc), len(fc), c[i])
			}
		}
	}
	t.Logf("bad lines %d", badl)
}
