package datasets

import (
	"errors"
	"fmt"
	"math"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

// fitMaxTries is gen_prompt_decode_to_target_len's max_retry.
const fitMaxTries = 10

// randomMaxLen bounds the length flags so every length fits an int32.
const randomMaxLen = 1 << 28

// randomChunk is how many requests are fitted in parallel before the ones
// that need padding draws are finished in order.
const randomChunk = 128

// random is vLLM's RandomDataset. Per request it keeps the sampled lengths,
// the offset, the final prompt length and the padding ids the fitting loop
// drew (rarely any), so Sample can rebuild the prompt exactly.
type random struct {
	tok        Tokenizer
	allowed    []int32 // ids below vocab_size that are not special, ascending
	prefix     []int   // the shared prefix after its own fitting
	prefixLen  int     // random_prefix_len: part of every request's target
	inputLens  []int32
	outputLens []int32
	offsets    []int32
	promptLens []int32
	padStart   []uint32 // request i drew pads[padStart[i]:padStart[i+1]]
	pads       []int32
}

func newRandom(cfg Config, tok Tokenizer) (*random, error) {
	ratio := cfg.RandomRangeRatio
	if !(ratio >= 0 && ratio < 1) {
		return nil, fmt.Errorf("random_range_ratio %v must be in [0, 1)", ratio)
	}
	for _, f := range []struct {
		name  string
		value int
	}{{"random_input_len", cfg.RandomInputLen}, {"random_output_len", cfg.RandomOutputLen}, {"random_prefix_len", cfg.RandomPrefixLen}} {
		if f.value < 0 || f.value > randomMaxLen {
			return nil, fmt.Errorf("%s %d must be between 0 and %d", f.name, f.value, randomMaxLen)
		}
	}
	vocab := tok.VocabSize()
	if vocab < 1 || vocab > math.MaxInt32 {
		return nil, fmt.Errorf("dataset_name random needs a vocabulary of 1 to 2^31-1 ids; %s has %d", tok.Name(), vocab)
	}

	numSpecial := tok.NumSpecialTokensToAdd()
	realIn := max(0, cfg.RandomInputLen-numSpecial)
	inLow := int64(math.Floor(float64(realIn) * (1 - ratio)))
	inHigh := int64(math.Ceil(float64(realIn) * (1 + ratio)))
	outLow := max(int64(math.Floor(float64(cfg.RandomOutputLen)*(1-ratio))), 1)
	outHigh := max(int64(math.Ceil(float64(cfg.RandomOutputLen)*(1+ratio))), 1)
	if int64(cfg.RandomPrefixLen)+inLow < 1 {
		return nil, fmt.Errorf("random_input_len %d is too small: after the tokenizer's %d special tokens and random_range_ratio %v, a prompt could have %d tokens; raise random_input_len or random_prefix_len",
			cfg.RandomInputLen, numSpecial, ratio, int64(cfg.RandomPrefixLen)+inLow)
	}

	rng, err := pyrand.DefaultRNG(cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("seed %d: %w", cfg.Seed, err)
	}
	n := cfg.NumPrompts
	d := &random{
		tok:        tok,
		prefixLen:  cfg.RandomPrefixLen,
		inputLens:  make([]int32, n),
		outputLens: make([]int32, n),
		offsets:    make([]int32, n),
		promptLens: make([]int32, n),
		padStart:   make([]uint32, n+1),
	}
	for i := range n {
		d.inputLens[i] = int32(rng.Integers(inLow, inHigh+1))
	}
	for i := range n {
		d.outputLens[i] = int32(rng.Integers(outLow, outHigh+1))
	}
	for i := range n {
		d.offsets[i] = int32(rng.Integers(0, int64(vocab)))
	}
	for id := range vocab {
		if !tok.IsSpecial(id) {
			d.allowed = append(d.allowed, int32(id))
		}
	}
	if len(d.allowed) == 0 {
		return nil, fmt.Errorf("dataset_name random: every id below vocab_size %d of %s is special", vocab, tok.Name())
	}
	if err := d.drawPrefix(rng, vocab); err != nil {
		return nil, err
	}
	if err := d.fitAll(rng, vocab); err != nil {
		return nil, err
	}
	return d, nil
}

// drawPrefix is RandomDataset.get_prefix: prefix_len allowed ids drawn with
// replacement, then fitted to prefix_len tokens like any prompt.
func (d *random) drawPrefix(rng *pyrand.Generator, vocab int) error {
	if d.prefixLen == 0 {
		return nil
	}
	ids := make([]int, d.prefixLen)
	for k := range ids {
		ids[k] = int(d.allowed[rng.Integers(0, int64(len(d.allowed)))])
	}
	_, st, _, err := fitPrompt(d.tok, fitState{ids: ids, tries: fitMaxTries}, d.prefixLen, drawPads(rng, vocab, nil))
	if err != nil {
		return fmt.Errorf("random_prefix_len %d: %w", d.prefixLen, err)
	}
	d.prefix = st.ids
	return nil
}

// fitAll fits every request's prompt. Only the padding draws tie a request
// to the ones before it, and few requests need any: each chunk is fitted in
// parallel up to a request's first draw, then the requests that stopped
// there are finished in order with the generator.
func (d *random) fitAll(rng *pyrand.Generator, vocab int) error {
	n := len(d.inputLens)
	stopped := make([]*fitState, randomChunk)
	for start := 0; start < n; start += randomChunk {
		end := min(start+randomChunk, n)
		err := parallel(end-start, func(j int) error {
			i := start + j
			_, st, done, err := fitPrompt(d.tok, fitState{ids: d.firstIDs(i), tries: fitMaxTries}, d.target(i), noPads)
			if err != nil {
				return fmt.Errorf("random prompt %d: %w", i, err)
			}
			stopped[j] = nil
			if done {
				d.promptLens[i] = int32(len(st.ids))
			} else {
				stopped[j] = &st
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := start; i < end; i++ {
			if st := stopped[i-start]; st != nil {
				var drawn []int32
				_, final, _, err := fitPrompt(d.tok, *st, d.target(i), drawPads(rng, vocab, &drawn))
				if err != nil {
					return fmt.Errorf("random prompt %d: %w", i, err)
				}
				d.promptLens[i] = int32(len(final.ids))
				d.pads = append(d.pads, drawn...)
			}
			if len(d.pads) > math.MaxUint32 {
				return errors.New("dataset_name random: the prompts drew more than 2^32 padding ids")
			}
			d.padStart[i+1] = uint32(len(d.pads))
		}
	}
	return nil
}

func (d *random) target(i int) int { return d.prefixLen + int(d.inputLens[i]) }

// firstIDs is the prefix followed by request i's body:
// allowed[(offset + i + k) mod len(allowed)] for k < input length.
func (d *random) firstIDs(i int) []int {
	body := int(d.inputLens[i])
	ids := make([]int, len(d.prefix), len(d.prefix)+body)
	copy(ids, d.prefix)
	start := (int(d.offsets[i]) + i) % len(d.allowed)
	for k := range body {
		ids = append(ids, int(d.allowed[(start+k)%len(d.allowed)]))
	}
	return ids
}

func (d *random) Len() int { return len(d.inputLens) }

// Sample replays request i's fitting loop with the padding ids it drew.
func (d *random) Sample(i int) (Sample, error) {
	if i < 0 || i >= d.Len() {
		return Sample{}, fmt.Errorf("sample %d out of range [0, %d)", i, d.Len())
	}
	recorded := d.pads[d.padStart[i]:d.padStart[i+1]]
	replay := func(n int) []int {
		if n > len(recorded) {
			return nil
		}
		ids := make([]int, n)
		for k := range ids {
			ids[k] = int(recorded[k])
		}
		recorded = recorded[n:]
		return ids
	}
	prompt, st, done, err := fitPrompt(d.tok, fitState{ids: d.firstIDs(i), tries: fitMaxTries}, d.target(i), replay)
	if err != nil {
		return Sample{}, fmt.Errorf("random prompt %d: %w", i, err)
	}
	if !done || len(st.ids) != int(d.promptLens[i]) || len(recorded) != 0 {
		return Sample{}, fmt.Errorf("random prompt %d: the tokenizer (%s) gave a different result when the prompt was rebuilt", i, d.tok.Name())
	}
	return Sample{Index: i, Prompt: prompt, PromptLen: len(st.ids), ExpectedOutputLen: int(d.outputLens[i])}, nil
}

// fitState is where a run of fitPrompt stands.
type fitState struct {
	ids   []int // the ids to decode next, or a short re-encoding awaiting padding
	tries int   // adjustments left (vLLM's remain_num_try)
	short bool  // ids is a short re-encoding; padding comes first
}

// fitPrompt is vLLM's gen_prompt_decode_to_target_len (max_retry 10,
// add_special_tokens False): decode the ids, re-encode the text, and while
// the count is not target and tries remain, pad with random ids or truncate
// and go again. pad(n) returns n padding ids (rng.integers(0, vocab_size))
// or nil to stop: fitPrompt then returns done false and a state to resume
// from. When done, the prompt is the last decoded text and st.ids its
// re-encoding.
func fitPrompt(tok Tokenizer, st fitState, target int, pad func(n int) []int) (prompt string, _ fitState, done bool, err error) {
	ids, tries := st.ids, st.tries
	if st.short {
		extra := pad(target - len(ids))
		if extra == nil {
			return "", st, false, nil
		}
		ids = append(ids, extra...)
		tries--
	}
	for {
		if prompt, err = tok.Decode(ids); err != nil {
			return "", st, false, err
		}
		if ids, err = tok.Encode(prompt, false); err != nil {
			return "", st, false, err
		}
		if tries <= 0 || len(ids) == target {
			return prompt, fitState{ids: ids}, true, nil
		}
		if len(ids) < target {
			extra := pad(target - len(ids))
			if extra == nil {
				return "", fitState{ids: ids, tries: tries, short: true}, false, nil
			}
			ids = append(ids, extra...)
		} else {
			ids = ids[:target]
		}
		tries--
	}
}

func noPads(int) []int { return nil }

// drawPads draws padding ids from rng as vLLM does and, when record is not
// nil, appends them to it.
func drawPads(rng *pyrand.Generator, vocab int, record *[]int32) func(n int) []int {
	return func(n int) []int {
		ids := make([]int, n)
		for k := range ids {
			ids[k] = int(rng.Integers(0, int64(vocab)))
			if record != nil {
				*record = append(*record, int32(ids[k]))
			}
		}
		return ids
	}
}
