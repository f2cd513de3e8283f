package datasets

import (
	"errors"
	"sync"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

// Tokenizing 500,000 formatted prompts takes minutes, so large sonnet runs
// count tokens by parts: the formatted fixed part, each drawn line's own
// count, a correction for each adjacent pair of lines that tokenizes
// differently together (for Llama 3 the last line, which has no newline,
// followed by a line starting with "I"), and for the final line its exact
// contribution at the end of the template (the Llama 3 template trims the
// trailing newline). Before this is used the tokenizer must confirm it for
// every junction a prompt can contain: each line after the fixed part, each
// line at the end, every ordered pair of lines, and additiveCheckedAttempts
// random whole prompts. Any difference falls back to tokenizing every prompt
// whole, as vLLM does.
const (
	additiveMinPrompts      = 2000
	additiveCheckedAttempts = 256
)

var errNotAdditive = errors.New("token counts are not additive")

type partCounts struct {
	fixed int            // formatted fixed part, special tokens included
	line  []int          // each line alone, no special tokens
	last  []int          // each line's contribution as the final line
	pair  map[uint32]int // count(a+b) - count(a) - count(b) where nonzero
}

func (p *partCounts) count(picks []uint16) int {
	n := p.fixed
	for i, l := range picks {
		if i == len(picks)-1 {
			n += p.last[l]
			break
		}
		n += p.line[l] + p.pair[uint32(l)<<16|uint32(picks[i+1])]
	}
	return n
}

// additiveCounter returns a counter by parts, or nil when the tokenizer does
// not confirm it for this file.
func (s *sonnet) additiveCounter() (func([]uint16) (int, error), error) {
	fixedFormatted, err := s.tok.ChatPrompt(s.fixed)
	if err != nil {
		return nil, err
	}
	p := &partCounts{line: make([]int, len(s.lines)), last: make([]int, len(s.lines)), pair: map[uint32]int{}}
	if p.fixed, err = countTokens(s.tok, fixedFormatted); err != nil {
		return nil, err
	}
	err = parallel(len(s.lines), func(i int) error {
		ids, err := s.tok.Encode(s.lines[i], false)
		p.line[i] = len(ids)
		if err == nil {
			var n int
			n, err = s.countFull([]uint16{uint16(i)})
			p.last[i] = n - p.fixed
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	err = parallel(len(s.lines), func(a int) error {
		for b := range s.lines {
			ids, err := s.tok.Encode(s.lines[a]+s.lines[b], false)
			if err != nil {
				return err
			}
			if d := len(ids) - p.line[a] - p.line[b]; d != 0 {
				mu.Lock()
				p.pair[uint32(a)<<16|uint32(b)] = d
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Every line right after the fixed part (followed by line 0), then random
	// whole prompts from a generator of their own, so that the benchmark's
	// draws are untouched.
	var checks [][]uint16
	for i := range s.lines {
		checks = append(checks, []uint16{uint16(i), 0})
	}
	rng := pyrand.NewRandom(1)
	for range additiveCheckedAttempts {
		picks := make([]uint16, s.perPrompt)
		for j := range picks {
			picks[j] = uint16(rng.ChoicesIndex(len(s.lines)))
		}
		checks = append(checks, picks)
	}
	err = parallel(len(checks), func(c int) error {
		full, err := s.countFull(checks[c])
		if err == nil && full != p.count(checks[c]) {
			return errNotAdditive
		}
		return err
	})
	if errors.Is(err, errNotAdditive) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return func(picks []uint16) (int, error) { return p.count(picks), nil }, nil
}
