package datasets

import "testing"

func TestCountingByPartsOnlyWhenTokenizationSplitsAtLines(t *testing.T) {
	cfg := Config{DatasetName: "sonnet", NumPrompts: additiveMinPrompts, Seed: 3, Backend: "openai",
		SonnetInputLen: 2000, SonnetPrefixLen: 300, SonnetOutputLen: 1}
	// Whitespace words are not additive: the last line has no newline, so
	// "me!" and the next line's first word become one word.
	words, err := New(cfg, wordTokenizer{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := words.(*sonnet).additiveCounter(); c != nil || err != nil {
		t.Fatalf("word tokenizer judged additive (%v)", err)
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
