package datasets

import (
	"encoding/json"
	"fmt"

	"github.com/vibench/vllm-inference-benchmark/pyrand"
)

// vLLM's is_valid_sequence limits.
const (
	sharegptMinLen       = 4
	sharegptMaxPromptLen = 1024
	sharegptMaxTotalLen  = 2048
)

type sharegptEntry struct {
	Conversations []struct {
		Value string `json:"value"`
	} `json:"conversations"`
}

type sharegptSample struct {
	prompt    string
	promptLen int
	outputLen int
}

// sharegpt holds the accepted conversations; picks maps each sample to one of
// them (oversampled samples repeat earlier ones).
type sharegpt struct {
	accepted []sharegptSample
	picks    []int
}

func newShareGPT(cfg Config, tok Tokenizer, raw []byte) (*sharegpt, error) {
	var entries []sharegptEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("dataset_path %q is not a ShareGPT JSON list: %w", cfg.DatasetPath, err)
	}
	if cfg.SharegptOutputLen < 0 {
		return nil, fmt.Errorf("sharegpt_output_len %d must not be negative (0 uses each reference completion's length)", cfg.SharegptOutputLen)
	}
	kept := entries[:0]
	for _, e := range entries {
		if len(e.Conversations) >= 2 {
			kept = append(kept, e)
		}
	}
	rng := pyrand.NewRandom(cfg.Seed)
	rng.Shuffle(len(kept), func(i, j int) { kept[i], kept[j] = kept[j], kept[i] })

	d := &sharegpt{}
	for _, e := range kept {
		if len(d.accepted) >= cfg.NumPrompts {
			break
		}
		prompt, completion := e.Conversations[0].Value, e.Conversations[1].Value
		promptLen, err := countTokens(tok, prompt)
		if err != nil {
			return nil, err
		}
		outputLen := cfg.SharegptOutputLen
		if outputLen == 0 {
			if outputLen, err = countTokens(tok, completion); err != nil {
				return nil, err
			}
		}
		if promptLen < sharegptMinLen || promptLen > sharegptMaxPromptLen || promptLen+outputLen > sharegptMaxTotalLen ||
			(cfg.SharegptOutputLen == 0 && outputLen < sharegptMinLen) {
			continue
		}
		d.picks = append(d.picks, len(d.accepted))
		d.accepted = append(d.accepted, sharegptSample{prompt: prompt, promptLen: promptLen, outputLen: outputLen})
	}
	if len(d.accepted) == 0 {
		return nil, fmt.Errorf("dataset_path %q: no conversation passed the length filters (prompt 4..1024 tokens, prompt+output <= 2048)", cfg.DatasetPath)
	}
	if missing := cfg.NumPrompts - len(d.accepted); missing > 0 {
		rng.Seed(cfg.Seed)
		for range missing {
			d.picks = append(d.picks, rng.Choice(len(d.accepted)))
		}
	}
	return d, nil
}

func (d *sharegpt) Len() int { return len(d.picks) }

func (d *sharegpt) Sample(i int) (Sample, error) {
	if i < 0 || i >= d.Len() {
		return Sample{}, fmt.Errorf("sample %d out of range [0, %d)", i, d.Len())
	}
	s := d.accepted[d.picks[i]]
	return Sample{Index: i, Prompt: s.prompt, PromptLen: s.promptLen, ExpectedOutputLen: s.outputLen}, nil
}
