package datasets

import (
	"strings"
	"testing"
)

func TestCountingByPartsOnlyWhenTokenizationSplitsAtLines(t *testing.T) {
	cfg := Config{DatasetName: "sonnet", NumPrompts: additiveMinPrompts, Seed: 3, Backend: "openai",
		SonnetInputLen: 2000, SonnetPrefixLen: 300, SonnetOutputLen: 1}
	// The last line has no newline, so for whitespace words "me!" and the
	// next line's first word become one: a pair correction of -1.
	words, err := New(cfg, wordTokenizer{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := words.(*sonnet).additiveCounter(); c == nil || err != nil {
		t.Fatalf("word tokenizer judged not additive (%v)", err)
	}
	for i := range words.Len() {
		sample, _ := words.Sample(i)
		if full, _ := countTokens(wordTokenizer{}, sample.Prompt); sample.PromptLen != full {
			t.Fatalf("word sample %d: prompt_len %d, whole count %d", i, sample.PromptLen, full)
		}
	}
	// A tokenizer that merges across line boundaries is caught.
	if c, err := words.(*sonnet).withTokenizer(lineMergingTokenizer{}).additiveCounter(); c != nil || err != nil {
		t.Fatalf("line-merging tokenizer judged additive (%v)", err)
	}

	bytes, err := New(cfg, byteTokenizer{})
	if err != nil {
		t.Fatal(err)
	}
	s := bytes.(*sonnet)
	byParts, err := s.additiveCounter()
	if byParts == nil || err != nil {
		t.Fatalf("byte tokenizer judged not additive (%v)", err)
	}
	for i := range bytes.Len() {
		sample, _ := bytes.Sample(i)
		full, _ := countTokens(byteTokenizer{}, sample.Prompt)
		if sample.PromptLen != full {
			t.Fatalf("sample %d: prompt_len %d, whole count %d", i, sample.PromptLen, full)
		}
	}
}

func (s *sonnet) withTokenizer(tok Tokenizer) *sonnet {
	return &sonnet{tok: tok, lines: s.lines, fixed: s.fixed, perPrompt: s.perPrompt, outputLen: s.outputLen, raw: s.raw}
}

// lineMergingTokenizer counts one token per three lines of text (rounded up),
// so no split at line boundaries preserves counts.
type lineMergingTokenizer struct{ wordTokenizer }

func (lineMergingTokenizer) Encode(text string, addSpecialTokens bool) ([]int, error) {
	return make([]int, (strings.Count(text, "\n")+2)/3), nil
}
