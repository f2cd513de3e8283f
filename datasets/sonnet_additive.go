package datasets

import (
	"errors"
	"sync/atomic"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

// Tokenizing 500,000 formatted prompts takes minutes, so large sonnet runs
// count tokens by parts: the formatted fixed part plus each drawn line's own
// count. That equals vLLM's count of the whole formatted prompt only when
// tokenization splits at every line boundary, so before it is used the
// tokenizer must show it for every junction a prompt can contain: fixed part,
// line, template tail for every line, and line, line for every ordered pair
// of lines; additiveCheckedAttempts random prompts are also tokenized whole
// and compared. Any difference falls back to tokenizing every prompt whole.
const (
	additiveMinPrompts      = 2000
	additiveCheckedAttempts = 256
)

var errNotAdditive = errors.New("token counts are not additive")

// additiveCounter returns a counter by parts, or nil when the tokenizer does
// not split this file's prompts at line boundaries.
func (s *sonnet) additiveCounter() (func([]uint16) (int, error), error) {
	fixedFormatted, err := s.tok.ChatPrompt(s.fixed)
	if err != nil {
		return nil, err
	}
	fixedCount, err := countTokens(s.tok, fixedFormatted)
	if err != nil {
		return nil, err
	}
	lineCounts := make([]int, len(s.lines))
	err = parallel(len(s.lines), func(i int) error {
		ids, err := s.tok.Encode(s.lines[i], false)
		lineCounts[i] = len(ids)
		if err != nil {
			return err
		}
		n, err := s.countFull([]uint16{uint16(i)})
		if err == nil && n != fixedCount+lineCounts[i] {
			return errNotAdditive
		}
		return err
	})
	if err == nil {
		var failed atomic.Bool
		err = parallel(len(s.lines), func(a int) error {
			for b := range s.lines {
				if failed.Load() {
					return errNotAdditive
				}
				ids, err := s.tok.Encode(s.lines[a]+s.lines[b], false)
				if err != nil {
					return err
				}
				if len(ids) != lineCounts[a]+lineCounts[b] {
					failed.Store(true)
					return errNotAdditive
				}
			}
			return nil
		})
	}
	if errors.Is(err, errNotAdditive) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	byParts := func(picks []uint16) (int, error) {
		n := fixedCount
		for _, p := range picks {
			n += lineCounts[p]
		}
		return n, nil
	}
	// Whole prompts from a generator of their own, so that the benchmark's
	// draws are untouched.
	rng := pyrand.NewRandom(1)
	probes := make([]uint16, additiveCheckedAttempts*s.perPrompt)
	for i := range probes {
		probes[i] = uint16(rng.ChoicesIndex(len(s.lines)))
	}
	err = parallel(additiveCheckedAttempts, func(a int) error {
		picks := probes[a*s.perPrompt : (a+1)*s.perPrompt]
		full, err := s.countFull(picks)
		if parts, _ := byParts(picks); err == nil && parts != full {
			return errNotAdditive
		}
		return err
	})
	if errors.Is(err, errNotAdditive) {
		return nil, nil
	}
	return byParts, err
}
