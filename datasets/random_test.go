package datasets_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibench/vllm-inference-benchmark/datasets"
)

// toyTokenizer is the toy tokenizer of testdata/gen_random_vectors.py: id n
// decodes to "w<n>", except that an id with n%vanish == vanishRem decodes
// to nothing (re-encodings come out short: padding) and one with
// n%dup == dupRem decodes to "v<n> v<n>", two words that each encode to
// (n+1) % vocab (too long: truncation).
type toyTokenizer struct {
	Vocab      int   `json:"vocab_size"`
	Special    []int `json:"special"`
	NumSpecial int   `json:"num_special"`
	Vanish     int   `json:"vanish"`
	VanishRem  int   `json:"vanish_rem"`
	Dup        int   `json:"dup"`
	DupRem     int   `json:"dup_rem"`
}

func (t toyTokenizer) Decode(ids []int) (string, error) {
	var words []string
	for _, n := range ids {
		switch {
		case t.Vanish != 0 && n%t.Vanish == t.VanishRem:
		case t.Dup != 0 && n%t.Dup == t.DupRem:
			words = append(words, "v"+strconv.Itoa(n), "v"+strconv.Itoa(n))
		default:
			words = append(words, "w"+strconv.Itoa(n))
		}
	}
	return strings.Join(words, " "), nil
}

func (t toyTokenizer) Encode(text string, addSpecialTokens bool) ([]int, error) {
	if addSpecialTokens {
		return nil, errors.New("the random dataset encodes without special tokens")
	}
	var ids []int
	for _, w := range strings.Fields(text) {
		n, err := strconv.Atoi(w[1:])
		if err != nil {
			return nil, err
		}
		if w[0] == 'v' {
			n = (n + 1) % t.Vocab
		}
		ids = append(ids, n)
	}
	return ids, nil
}

func (toyTokenizer) ChatPrompt(string) (string, error) { return "", errors.New("no chat template") }
func (t toyTokenizer) VocabSize() int                  { return t.Vocab }
func (t toyTokenizer) NumSpecialTokensToAdd() int      { return t.NumSpecial }
func (toyTokenizer) Name() string                      { return "toy tokenizer" }
func (t toyTokenizer) IsSpecial(id int) bool {
	for _, s := range t.Special {
		if s == id {
			return true
		}
	}
	return false
}

type randomCase struct {
	Name       string       `json:"name"`
	Seed       int64        `json:"seed"`
	NumPrompts int          `json:"num_prompts"`
	InputLen   int          `json:"input_len"`
	OutputLen  int          `json:"output_len"`
	PrefixLen  int          `json:"prefix_len"`
	RangeRatio float64      `json:"range_ratio"`
	Tok        toyTokenizer `json:"tok"`
	Samples    [][3]any     `json:"samples"` // prompt, prompt_len, expected_output_len
}

func (c randomCase) config() datasets.Config {
	return datasets.Config{DatasetName: "random", NumPrompts: c.NumPrompts, Seed: c.Seed,
		RandomInputLen: c.InputLen, RandomOutputLen: c.OutputLen, RandomPrefixLen: c.PrefixLen, RandomRangeRatio: c.RangeRatio}
}

// testdata/random_vectors.json holds what vLLM v0.20.0's own RandomDataset
// code sampled with numpy 1.24.2 and the toy tokenizer.
func loadRandomCases(t *testing.T) []randomCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/random_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []randomCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no cases in random_vectors.json")
	}
	return v.Cases
}

func TestRandomMatchesVLLM(t *testing.T) {
	for _, c := range loadRandomCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			d, err := datasets.New(c.config(), c.Tok)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != len(c.Samples) {
				t.Fatalf("Len %d, want %d", d.Len(), len(c.Samples))
			}
			// Backwards: each sample must stand on its own.
			for i := d.Len() - 1; i >= 0; i-- {
				s, err := d.Sample(i)
				if err != nil {
					t.Fatal(err)
				}
				want := c.Samples[i]
				if s.Index != i || s.Prompt != want[0].(string) || s.PromptLen != int(want[1].(float64)) || s.ExpectedOutputLen != int(want[2].(float64)) {
					t.Fatalf("sample %d = (%q, %d, %d), want (%q, %v, %v)", i, s.Prompt, s.PromptLen, s.ExpectedOutputLen, want[0], want[1], want[2])
				}
			}
		})
	}
}

func TestRandomErrorsNameTheField(t *testing.T) {
	tok := toyTokenizer{Vocab: 100, NumSpecial: 1}
	base := datasets.Config{DatasetName: "random", NumPrompts: 3, RandomInputLen: 10, RandomOutputLen: 4}
	cases := []struct {
		field string
		edit  func(*datasets.Config)
	}{
		{"random_range_ratio", func(c *datasets.Config) { c.RandomRangeRatio = 1 }},
		{"random_range_ratio", func(c *datasets.Config) { c.RandomRangeRatio = -0.1 }},
		{"random_range_ratio", func(c *datasets.Config) { c.RandomRangeRatio = math.NaN() }},
		// One special token leaves nothing of an input length of 1.
		{"random_input_len", func(c *datasets.Config) { c.RandomInputLen = 1 }},
		{"random_input_len", func(c *datasets.Config) { c.RandomInputLen = -5 }},
		{"random_output_len", func(c *datasets.Config) { c.RandomOutputLen = -1 }},
		{"random_prefix_len", func(c *datasets.Config) { c.RandomPrefixLen = -1 }},
		{"seed", func(c *datasets.Config) { c.Seed = -1 }},
	}
	for _, c := range cases {
		cfg := base
		c.edit(&cfg)
		_, err := datasets.New(cfg, tok)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: error %v, want one naming %s", cfg, err, c.field)
		}
	}
	// A prefix makes up for an input length that the special tokens eat.
	cfg := base
	cfg.RandomInputLen, cfg.RandomPrefixLen = 1, 2
	if _, err := datasets.New(cfg, tok); err != nil {
		t.Fatalf("input 1 with prefix 2: %v", err)
	}
	if _, err := datasets.New(base, toyTokenizer{Vocab: 2, Special: []int{0, 1}}); err == nil {
		t.Fatal("a vocabulary of special ids only was accepted")
	}
}

// Random 256/8, seed 0, range ratio 0.25, prefix 16, with the Llama 3.1
// tokenizer. Every prompt_len is the re-encoded length of the prompt, and
// the prompt text starts with the request's first body token (Llama 3.1
// has no special ids below vocab_size, so allowed[k] = k).
func TestRandomWithLlama31(t *testing.T) {
	tok := llama(t)
	cfg := datasets.Config{DatasetName: "random", NumPrompts: 48, Seed: 0,
		RandomInputLen: 256, RandomOutputLen: 8, RandomPrefixLen: 16, RandomRangeRatio: 0.25}
	d, err := datasets.New(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	inRange := 0
	for i := range d.Len() {
		s, err := d.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := tok.Encode(s.Prompt, false)
		if err != nil {
			t.Fatal(err)
		}
		if s.PromptLen != len(ids) {
			t.Fatalf("sample %d: prompt_len %d, re-encoded %d", i, s.PromptLen, len(ids))
		}
		// real input 255 * (1 -+ 0.25) -> [191, 319], plus the 16-token prefix.
		if s.PromptLen >= 16+191 && s.PromptLen <= 16+319 {
			inRange++
		}
		if s.ExpectedOutputLen < 6 || s.ExpectedOutputLen > 10 {
			t.Fatalf("sample %d: expected_output_len %d outside [6, 10]", i, s.ExpectedOutputLen)
		}
	}
	if inRange < d.Len()*9/10 {
		t.Fatalf("only %d of %d prompt lengths in [207, 335]", inRange, d.Len())
	}
	// Range ratio 0 draws no lengths: the offsets are default_rng(0)'s first
	// integers(0, 128000) draws, the same for any number of prompts.
	cfg.RandomRangeRatio, cfg.RandomPrefixLen, cfg.NumPrompts = 0, 0, 3
	d, err = datasets.New(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	for i, offset := range loadLlamaOffsets(t) {
		s, err := d.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := tok.Decode([]int{(offset + i) % tok.VocabSize()})
		if s.PromptLen != 255 || !strings.HasPrefix(s.Prompt, first) {
			t.Fatalf("sample %d: prompt_len %d, prompt %.40q does not start with token %d %q", i, s.PromptLen, s.Prompt, offset+i, first)
		}
	}
}

func loadLlamaOffsets(t *testing.T) []int {
	t.Helper()
	raw, err := os.ReadFile("testdata/random_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Offsets []int `json:"default_rng0_integers_0_128000"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || len(v.Offsets) != 3 {
		t.Fatalf("default_rng0_integers_0_128000: %v %v", v.Offsets, err)
	}
	return v.Offsets
}

// BenchmarkRandomLlama31 builds 2000 prompts of 1024 tokens with Llama 3.1
// and then rebuilds each prompt; scale build-s linearly for larger runs.
func BenchmarkRandomLlama31(b *testing.B) {
	tok := llama(b)
	cfg := datasets.Config{DatasetName: "random", NumPrompts: 2000, Seed: 0, RandomInputLen: 1024, RandomOutputLen: 128}
	for b.Loop() {
		start := time.Now()
		d, err := datasets.New(cfg, tok)
		if err != nil {
			b.Fatal(err)
		}
		built := time.Since(start)
		start = time.Now()
		for i := range d.Len() {
			if _, err := d.Sample(i); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(built.Seconds(), "build-s")
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(d.Len()), "sample-us")
	}
}

// BenchmarkRandom500kMemory measures what the dataset keeps per sample for
// 500k prompts (toy tokenizer, a tenth of them padded).
func BenchmarkRandom500kMemory(b *testing.B) {
	tok := toyTokenizer{Vocab: 128000, Vanish: 1000, VanishRem: 7}
	cfg := datasets.Config{DatasetName: "random", NumPrompts: 500_000, Seed: 0, RandomInputLen: 100, RandomOutputLen: 128, RandomRangeRatio: 0.5}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d, err := datasets.New(cfg, tok)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(d.Len()), "retained-B/sample")
		runtime.KeepAlive(d)
	}
}
