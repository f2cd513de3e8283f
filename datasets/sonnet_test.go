package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

type sonnetExample struct {
	NumPrefixLines  int      `json:"num_prefix_lines"`
	NumSampledLines int      `json:"num_sampled_lines"`
	Seed            int64    `json:"seed"`
	Prompt0         string   `json:"prompt_0"`
	SHA256          []string `json:"sha256"`
}

func loadSonnetExample(t *testing.T) sonnetExample {
	t.Helper()
	raw, err := os.ReadFile("testdata/rng.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Example sonnetExample `json:"sonnet_prompt_example"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Example
}

// lengthsFor returns sonnet input/prefix lengths that make vLLM's formulas
// give the wanted line counts with tok.
func lengthsFor(t *testing.T, tok Tokenizer, inputLines, prefixLines int) (inputLen, prefixLen int) {
	t.Helper()
	total := 0
	lines := splitLines(sonnetText)
	for _, l := range lines {
		n, _ := countTokens(tok, l)
		total += n
	}
	avg := float64(total) / float64(len(lines))
	base, _ := tok.ChatPrompt(sonnetBasePrompt)
	offset, _ := countTokens(tok, base)
	return offset + int(float64(inputLines)*avg), offset + int(float64(prefixLines)*avg)
}

func TestEmbeddedSonnetIsVLLMs(t *testing.T) {
	sum := sha256.Sum256([]byte(sonnetText))
	if hex.EncodeToString(sum[:]) != "d58663195ba6780da5f029b920c7ac00cad1e435ee1df7e03bf9ec2470f8dea4" {
		t.Fatal("embedded sonnet.txt differs from vLLM's")
	}
	lines := splitLines(sonnetText)
	if len(lines) != 518 || strings.HasSuffix(lines[517], "\n") || !strings.HasSuffix(lines[0], "\n") {
		t.Fatalf("%d lines; readlines keeps newlines and the last line has none", len(lines))
	}
}

func TestSonnetPromptsMatchVLLM(t *testing.T) {
	ex := loadSonnetExample(t)
	tok := wordTokenizer{}
	inputLen, prefixLen := lengthsFor(t, tok, ex.NumPrefixLines+ex.NumSampledLines, ex.NumPrefixLines)
	cfg := Config{DatasetName: "sonnet", NumPrompts: 3, Seed: ex.Seed, Backend: "openai-chat",
		SonnetInputLen: inputLen, SonnetPrefixLen: prefixLen, SonnetOutputLen: 7}
	d, err := New(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 {
		t.Fatalf("Len = %d", d.Len())
	}
	for i, want := range ex.SHA256 {
		s, err := d.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && s.Prompt != ex.Prompt0 {
			t.Fatalf("prompt 0 =\n%q\nwant\n%q", s.Prompt, ex.Prompt0)
		}
		sum := sha256.Sum256([]byte(s.Prompt))
		if hex.EncodeToString(sum[:]) != want {
			t.Errorf("prompt %d sha256 differs", i)
		}
		formatted, _ := tok.ChatPrompt(s.Prompt)
		if n, _ := countTokens(tok, formatted); s.PromptLen != n || s.ExpectedOutputLen != 7 || s.Index != i {
			t.Errorf("sample %d = len %d out %d index %d; want len %d (formatted count)", i, s.PromptLen, s.ExpectedOutputLen, s.Index, n)
		}
	}

	// Other backends get the formatted prompt with the same prompt_len.
	cfg.Backend = "openai"
	formattedSet, err := New(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := formattedSet.Sample(0)
	if want, _ := tok.ChatPrompt(ex.Prompt0); s.Prompt != want {
		t.Fatalf("openai backend prompt = %q, want the chat-formatted one", s.Prompt)
	}
}

// Rejected attempts still consume their draws: the accepted samples are the
// attempts, in draw order, whose formatted count fits.
// 10,000 prompts span several chunks whose picks are drawn again on
// demand: in order, backwards and at random they are the same prompts.
func TestSonnetRejectsLongPromptsAndKeepsDrawOrder(t *testing.T) {
	tok := wordTokenizer{}
	long := strings.TrimSpace(strings.Repeat("w ", 20))
	path := writeLines(t, long, "a")
	lines := []string{long + "\n", "a"}
	base, _ := tok.ChatPrompt(sonnetBasePrompt)
	offset, _ := countTokens(tok, base)
	// avg_len = (21 + 2) / 2 = 11.5: 12 input lines, 2 prefix lines, 10 drawn.
	inputLen := offset + 138
	const n = 10_000
	cfg := Config{DatasetName: "sonnet", DatasetPath: path, NumPrompts: n, Seed: 5, Backend: "openai-chat",
		SonnetInputLen: inputLen, SonnetPrefixLen: offset + 23, SonnetOutputLen: 2}
	d, err := New(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}

	rng := pyrand.NewRandom(5)
	var want []string
	rejected := 0
	for len(want) < n {
		var b strings.Builder
		b.WriteString(sonnetBasePrompt + lines[0] + lines[1])
		for range 10 {
			b.WriteString(lines[rng.ChoicesIndex(2)])
		}
		formatted, _ := tok.ChatPrompt(b.String())
		if n, _ := countTokens(tok, formatted); n <= inputLen {
			want = append(want, b.String())
		} else {
			rejected++
		}
	}
	if rejected < 1000 || rejected+n < 3*chunkAttempts {
		t.Fatalf("test setup: %d attempts rejected, %d chunks", rejected, (rejected+n)/chunkAttempts)
	}
	if d.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", d.Len(), len(want))
	}
	order := make([]int, 0, 3*n)
	for i := range n {
		order = append(order, i)
	}
	for i := range n {
		order = append(order, n-1-i)
	}
	perm := rand.New(rand.NewPCG(1, 2)).Perm(n)
	order = append(order, perm...)
	for _, i := range order {
		s, _ := d.Sample(i)
		if s.Prompt != want[i] {
			t.Fatalf("sample %d is not the %dth fitting attempt:\n%q\n%q", i, i, s.Prompt, want[i])
		}
		if s.PromptLen > inputLen {
			t.Fatalf("sample %d has %d tokens > %d", i, s.PromptLen, inputLen)
		}
	}
}

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "poem.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Python's round() is half-to-even: with 4 tokens per line, 10/4 = 2.5 lines
// rounds to 2 and 14/4 = 3.5 to 4.
func TestSonnetLineCountsRoundHalfToEven(t *testing.T) {
	tok := wordTokenizer{}
	path := writeLines(t, "a b c", "d e f", "g h i", "j k l")
	base, _ := tok.ChatPrompt(sonnetBasePrompt)
	offset, _ := countTokens(tok, base)
	cases := []struct{ in, prefix, wantPrefix, wantDrawn int }{
		{offset + 10, offset + 6, 2, 0},  // 2.5 -> 2, 1.5 -> 2
		{offset + 14, offset + 10, 2, 2}, // 3.5 -> 4, 2.5 -> 2
		{offset + 18, offset - 20, 0, 4}, // 4.5 -> 4, negative -> 0
	}
	for _, c := range cases {
		cfg := Config{DatasetName: "sonnet", DatasetPath: path, NumPrompts: 2, Backend: "openai-chat",
			SonnetInputLen: c.in, SonnetPrefixLen: c.prefix, SonnetOutputLen: 1}
		d, err := New(cfg, tok)
		if err != nil {
			t.Fatal(err)
		}
		s := d.(*sonnet)
		if prefix := strings.Count(s.fixed, "\n") - 1; prefix != c.wantPrefix || s.perPrompt != c.wantDrawn {
			t.Errorf("input %d prefix %d: %d prefix lines and %d drawn, want %d and %d",
				c.in-offset, c.prefix-offset, prefix, s.perPrompt, c.wantPrefix, c.wantDrawn)
		}
	}
	if math.Round(2.5) == math.RoundToEven(2.5) {
		t.Fatal("the cases above would not tell the rounding modes apart")
	}
}

func TestSonnetBadInputs(t *testing.T) {
	tok := wordTokenizer{}
	base, _ := tok.ChatPrompt(sonnetBasePrompt)
	offset, _ := countTokens(tok, base)
	good := Config{DatasetName: "sonnet", NumPrompts: 2, SonnetInputLen: 550, SonnetPrefixLen: 200, SonnetOutputLen: 150}
	cases := []struct {
		mutate func(*Config)
		tok    Tokenizer
		want   string
	}{
		{func(c *Config) { c.SonnetInputLen = offset }, tok, "sonnet_input_len"},
		{func(c *Config) { c.SonnetOutputLen = 0 }, tok, "sonnet_output_len"},
		{func(c *Config) { c.NumPrompts = 0 }, tok, "num_prompts"},
		{func(c *Config) { c.DatasetName = "burstgpt" }, tok, "dataset_name"},
		{func(c *Config) {}, wordTokenizer{noTemplate: true}, "chat template"},
		{func(c *Config) { c.DatasetPath = "/nonexistent/poems.txt" }, tok, "dataset_path"},
		{func(c *Config) { c.SonnetInputLen, c.SonnetPrefixLen = offset+40, offset+400 }, tok, "sonnet_input_len"},
	}
	for _, c := range cases {
		cfg := good
		c.mutate(&cfg)
		_, err := New(cfg, c.tok)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", cfg, err, c.want)
		}
	}
	msg := func() string {
		cfg := good
		cfg.SonnetInputLen = offset
		_, err := New(cfg, tok)
		return err.Error()
	}()
	if !strings.Contains(msg, "raise sonnet_input_len") {
		t.Errorf("error %q does not say how to fix it", msg)
	}
}

func TestSonnetOldContainerPathsUseEmbeddedFile(t *testing.T) {
	tok := wordTokenizer{}
	base := Config{DatasetName: "sonnet", NumPrompts: 4, SonnetInputLen: 550, SonnetPrefixLen: 200, SonnetOutputLen: 150}
	want, err := New(base, tok)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := want.Sample(3)
	for _, path := range []string{"app/sonnet.txt", "benchmarks/sonnet.txt", "/no/such/dir/sonnet.txt"} {
		cfg := base
		cfg.DatasetPath = path
		d, err := New(cfg, tok)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if s, _ := d.Sample(3); s != w {
			t.Fatalf("%s: sample differs from the embedded file's", path)
		}
	}
	if _, err := want.Sample(4); err == nil {
		t.Fatal("Sample past the end succeeded")
	}
}
