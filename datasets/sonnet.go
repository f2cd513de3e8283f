package datasets

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

const sonnetBasePrompt = "Pick as many lines as you can from these poem lines:\n"

// sonnet keeps, per accepted sample, only its token count. The picked
// lines are drawn again from a saved generator state when a sample is
// asked for, a chunk of samples at a time, so a 500,000-prompt plan holds
// 2 MB instead of 35 MB of picks.
type sonnet struct {
	tok        Tokenizer
	lines      []string
	fixed      string // base prompt + the fixed prefix lines
	perPrompt  int    // lines drawn per prompt
	promptLens []int32
	chunks     []sonnetChunk
	outputLen  int
	raw        bool // openai-chat: the server applies the chat template

	mu     sync.Mutex
	recent [2]drawnChunk // most recently used first
}

// chunkAttempts is how many attempts one chunk covers.
const chunkAttempts = 4096

// sonnetChunk is what it takes to draw a chunk's picks again.
type sonnetChunk struct {
	rng      pyrand.Random // the generator before the chunk's first attempt
	first    int           // index of the chunk's first accepted sample
	attempts int
	rejected []int32 // attempts too long for sonnet_input_len, in order
}

type drawnChunk struct {
	chunk int
	picks []uint16 // perPrompt per accepted sample; never changed once built
}

// splitLines is Python's readlines: every line keeps its "\n".
func splitLines(text string) []string {
	var lines []string
	for text != "" {
		n := strings.IndexByte(text, '\n') + 1
		if n == 0 {
			n = len(text)
		}
		lines = append(lines, text[:n])
		text = text[n:]
	}
	return lines
}

func countTokens(tok Tokenizer, text string) (int, error) {
	ids, err := tok.Encode(text, true)
	return len(ids), err
}

func newSonnet(cfg Config, tok Tokenizer, text string) (*sonnet, error) {
	lines := splitLines(text)
	if len(lines) == 0 || len(lines) > math.MaxUint16 {
		return nil, fmt.Errorf("dataset_path %q: a sonnet file needs 1 to 65535 lines, got %d", cfg.DatasetPath, len(lines))
	}
	if cfg.SonnetOutputLen < 1 {
		return nil, fmt.Errorf("sonnet_output_len %d must be at least 1", cfg.SonnetOutputLen)
	}
	total := 0
	for _, line := range lines {
		n, err := countTokens(tok, line)
		if err != nil {
			return nil, fmt.Errorf("tokenizing %s: %w", cfg.DatasetPath, err)
		}
		total += n
	}
	avgLen := float64(total) / float64(len(lines))

	baseFormatted, err := tok.ChatPrompt(sonnetBasePrompt)
	if err != nil {
		return nil, fmt.Errorf("dataset_name sonnet needs a tokenizer with a chat template (%s): %w", tok.Name(), err)
	}
	baseOffset, err := countTokens(tok, baseFormatted)
	if err != nil {
		return nil, err
	}
	if cfg.SonnetInputLen <= baseOffset {
		return nil, fmt.Errorf("sonnet_input_len %d must be greater than the base prompt's %d tokens; raise sonnet_input_len", cfg.SonnetInputLen, baseOffset)
	}
	numInputLines := int(math.RoundToEven(float64(cfg.SonnetInputLen-baseOffset) / avgLen))
	numPrefixLines := max(int(math.RoundToEven(float64(cfg.SonnetPrefixLen-baseOffset)/avgLen)), 0)
	numPrefixLines = min(numPrefixLines, len(lines))

	s := &sonnet{
		tok:       tok,
		lines:     lines,
		fixed:     sonnetBasePrompt + strings.Join(lines[:numPrefixLines], ""),
		perPrompt: max(numInputLines-numPrefixLines, 0),
		outputLen: cfg.SonnetOutputLen,
		raw:       cfg.Backend == "openai-chat",
	}
	count := s.countFull
	if cfg.NumPrompts >= additiveMinPrompts && s.perPrompt > 0 {
		additive, err := s.additiveCounter()
		if err != nil {
			return nil, err
		}
		if additive != nil {
			count = additive
		}
	}
	if err := s.draw(cfg, pyrand.NewRandom(cfg.Seed), count); err != nil {
		return nil, err
	}
	return s, nil
}

// draw repeats vLLM's loop: draw perPrompt lines with random.choices, accept
// the prompt iff its formatted token count is <= sonnet_input_len. Each
// attempt uses the same number of draws whether accepted or not, so attempts
// are drawn in order and tokenized in parallel.
func (s *sonnet) draw(cfg Config, rng *pyrand.Random, count func(picks []uint16) (int, error)) error {
	n := cfg.NumPrompts
	s.promptLens = make([]int32, 0, n)
	rejectedInARow := 0
	for len(s.promptLens) < n {
		batch := min(max(n-len(s.promptLens), 64), chunkAttempts)
		chunk := sonnetChunk{rng: *rng, first: len(s.promptLens)}
		picks := make([]uint16, batch*s.perPrompt)
		for j := range picks {
			picks[j] = uint16(rng.ChoicesIndex(len(s.lines)))
		}
		lens, err := s.countBatch(picks, batch, count)
		if err != nil {
			return err
		}
		for a := 0; a < batch && len(s.promptLens) < n; a++ {
			chunk.attempts = a + 1
			if lens[a] > cfg.SonnetInputLen {
				chunk.rejected = append(chunk.rejected, int32(a))
				rejectedInARow++
				continue
			}
			rejectedInARow = 0
			s.promptLens = append(s.promptLens, int32(lens[a]))
		}
		s.chunks = append(s.chunks, chunk)
		// vLLM would loop forever here.
		if rejectedInARow >= 10_000 || (s.perPrompt == 0 && rejectedInARow > 0) {
			return fmt.Errorf("%d sonnet prompts in a row were longer than sonnet_input_len %d tokens (sonnet_prefix_len %d); raise sonnet_input_len or lower sonnet_prefix_len", rejectedInARow, cfg.SonnetInputLen, cfg.SonnetPrefixLen)
		}
	}
	return nil
}

// countBatch returns the formatted token count of each attempt in picks.
func (s *sonnet) countBatch(picks []uint16, batch int, count func([]uint16) (int, error)) ([]int, error) {
	lens := make([]int, batch)
	err := parallel(batch, func(a int) (err error) {
		lens[a], err = count(picks[a*s.perPrompt : (a+1)*s.perPrompt])
		return err
	})
	return lens, err
}

// countFull tokenizes the whole formatted prompt, as vLLM does.
func (s *sonnet) countFull(picks []uint16) (int, error) {
	formatted, err := s.tok.ChatPrompt(s.prompt(picks))
	if err != nil {
		return 0, err
	}
	return countTokens(s.tok, formatted)
}

// parallel runs f(0..n-1) on all CPUs and returns the first error.
func parallel(n int, f func(i int) error) error {
	workers := max(min(runtime.GOMAXPROCS(0), n), 1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := f(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *sonnet) prompt(picks []uint16) string {
	var b strings.Builder
	b.WriteString(s.fixed)
	for _, p := range picks {
		b.WriteString(s.lines[p])
	}
	return b.String()
}

func (s *sonnet) Len() int { return len(s.promptLens) }

func (s *sonnet) Sample(i int) (Sample, error) {
	if i < 0 || i >= s.Len() {
		return Sample{}, fmt.Errorf("sample %d out of range [0, %d)", i, s.Len())
	}
	k := sort.Search(len(s.chunks), func(k int) bool { return s.chunks[k].first > i }) - 1
	at := (i - s.chunks[k].first) * s.perPrompt
	prompt := s.prompt(s.chunkPicks(k)[at : at+s.perPrompt])
	if !s.raw {
		var err error
		if prompt, err = s.tok.ChatPrompt(prompt); err != nil {
			return Sample{}, err
		}
	}
	return Sample{Index: i, Prompt: prompt, PromptLen: int(s.promptLens[i]), ExpectedOutputLen: s.outputLen}, nil
}

// chunkPicks returns chunk k's accepted picks, drawing them again unless
// one of the two most recent chunks is k (requests are sent in order).
func (s *sonnet) chunkPicks(k int) []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recent[0].picks != nil && s.recent[0].chunk == k {
		return s.recent[0].picks
	}
	if s.recent[1].picks != nil && s.recent[1].chunk == k {
		s.recent[0], s.recent[1] = s.recent[1], s.recent[0]
		return s.recent[0].picks
	}
	c := &s.chunks[k]
	rng := c.rng
	picks := make([]uint16, 0, (c.attempts-len(c.rejected))*s.perPrompt)
	rejected := c.rejected
	for a := range c.attempts {
		start := len(picks)
		for range s.perPrompt {
			picks = append(picks, uint16(rng.ChoicesIndex(len(s.lines))))
		}
		if len(rejected) > 0 && int(rejected[0]) == a {
			picks, rejected = picks[:start], rejected[1:]
		}
	}
	s.recent[1], s.recent[0] = s.recent[0], drawnChunk{chunk: k, picks: picks}
	return picks
}
