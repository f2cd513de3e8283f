package datasets

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// sonnetText is vLLM's benchmarks/sonnet.txt (518 lines, last one without a
// trailing newline).
//
//go:embed sonnet.txt
var sonnetText string

// Config selects and sizes a dataset; the field names follow vLLM's flags.
type Config struct {
	DatasetName string // "sonnet", "random" or "sharegpt"
	DatasetPath string
	NumPrompts  int
	Seed        int64
	Backend     string // "openai-chat" sends sonnet prompts unformatted

	SonnetInputLen  int
	SonnetPrefixLen int
	SonnetOutputLen int

	RandomInputLen   int
	RandomOutputLen  int
	RandomPrefixLen  int
	RandomRangeRatio float64

	SharegptOutputLen int // 0: the reference completion's token count
}

// Dataset is a fixed list of samples. Sample(i) depends only on the config,
// the seed and i.
type Dataset interface {
	Len() int
	Sample(i int) (Sample, error)
}

// New samples the dataset the way vLLM v0.20 does for the same flags and seed.
func New(cfg Config, tok Tokenizer) (Dataset, error) {
	if cfg.NumPrompts <= 0 {
		return nil, fmt.Errorf("num_prompts %d must be at least 1", cfg.NumPrompts)
	}
	if tok == nil {
		return nil, fmt.Errorf("dataset_name %s needs a tokenizer", cfg.DatasetName)
	}
	switch cfg.DatasetName {
	case "sonnet":
		text, err := sonnetSource(cfg.DatasetPath)
		if err != nil {
			return nil, err
		}
		return newSonnet(cfg, tok, text)
	case "sharegpt":
		if cfg.DatasetPath == "" {
			return nil, errors.New("dataset_path is required for dataset_name sharegpt (a ShareGPT JSON file)")
		}
		raw, err := os.ReadFile(cfg.DatasetPath)
		if err != nil {
			return nil, fmt.Errorf("dataset_path %q: %w", cfg.DatasetPath, err)
		}
		return newShareGPT(cfg, tok, raw)
	case "random":
		return newRandom(cfg, tok)
	default:
		return nil, fmt.Errorf("dataset_name %q is not supported; use sonnet, random or sharegpt", cfg.DatasetName)
	}
}

// sonnetSource reads dataset_path for sonnet. An empty path, or a path to a
// missing file named sonnet.txt (such as "benchmarks/sonnet.txt" from vLLM's
// examples or "app/sonnet.txt" from an old container), means the embedded copy.
func sonnetSource(path string) (string, error) {
	if path == "" {
		return sonnetText, nil
	}
	raw, err := os.ReadFile(path)
	if err == nil {
		return string(raw), nil
	}
	if errors.Is(err, fs.ErrNotExist) && filepath.Base(path) == "sonnet.txt" {
		return sonnetText, nil
	}
	return "", fmt.Errorf("dataset_path %q: %w", path, err)
}
