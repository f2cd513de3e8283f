package tokenizer_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

// oracle is testdata/oracle.json, written by scripts/tokenizer-oracle from
// an independent JavaScript implementation of the same tokenizer files.
type oracle struct {
	TokenizerJSONSHA256   string `json:"tokenizer_json_sha256"`
	TokenizerConfigSHA256 string `json:"tokenizer_config_sha256"`
	SonnetLines           []struct {
		Text       string `json:"text"`
		IDs        []int  `json:"ids"`
		IDsSpecial []int  `json:"ids_special"`
	} `json:"sonnet_lines"`
	SonnetWhole oracleText   `json:"sonnet_whole"`
	Corpus      []oracleText `json:"corpus"`
	Chat        []struct {
		User       string `json:"user"`
		Formatted  string `json:"formatted"`
		IDsSpecial []int  `json:"ids_special"`
	} `json:"chat"`
	RandomDecodes []struct {
		IDs       []int  `json:"ids"`
		Text      string `json:"text"`
		Reencoded []int  `json:"reencoded"`
	} `json:"random_decodes"`
}

type oracleText struct {
	Text       string `json:"text"`
	IDs        []int  `json:"ids"`
	IDsSpecial []int  `json:"ids_special"`
	Decoded    string `json:"decoded"`
}

var loadOracle = sync.OnceValues(func() (*oracle, error) {
	raw, err := os.ReadFile(filepath.Join("testdata", "oracle.json"))
	if err != nil {
		return nil, err
	}
	var o oracle
	return &o, json.Unmarshal(raw, &o)
})

func setup(t testing.TB) (*tokenizer.HF, *oracle) {
	t.Helper()
	tok, err := tokenizer.Llama31()
	if err != nil {
		t.Fatal(err)
	}
	o, err := loadOracle()
	if err != nil {
		t.Fatal(err)
	}
	return tok, o
}

func encode(t testing.TB, tok *tokenizer.HF, text string, special bool) []int {
	t.Helper()
	ids, err := tok.Encode(text, special)
	if err != nil {
		t.Fatalf("Encode(%q): %v", text, err)
	}
	return ids
}

func checkIDs(t *testing.T, what, text string, got, want []int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s of %q:\n got %v\nwant %v", what, text, got, want)
	}
}

func gunzipTokenizerJSON(t *testing.T) []byte {
	t.Helper()
	gz, err := os.ReadFile(filepath.Join("llama31", "tokenizer.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// The oracle must have been computed from the very files embedded here.
func TestEmbeddedFilesAreTheOraclesFiles(t *testing.T) {
	_, o := setup(t)
	cfg, err := os.ReadFile(filepath.Join("llama31", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sha(gunzipTokenizerJSON(t)); got != o.TokenizerJSONSHA256 {
		t.Errorf("tokenizer.json sha256 %s, oracle used %s", got, o.TokenizerJSONSHA256)
	}
	if got := sha(cfg); got != o.TokenizerConfigSHA256 {
		t.Errorf("tokenizer_config.json sha256 %s, oracle used %s", got, o.TokenizerConfigSHA256)
	}
}

func TestSonnetLinesMatchOracle(t *testing.T) {
	tok, o := setup(t)
	if len(o.SonnetLines) != 518 {
		t.Fatalf("oracle has %d sonnet lines, want 518", len(o.SonnetLines))
	}
	sonnet, err := os.ReadFile(filepath.Join("testdata", "sonnet.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var joined strings.Builder
	for _, line := range o.SonnetLines {
		joined.WriteString(line.Text)
		checkIDs(t, "ids", line.Text, encode(t, tok, line.Text, false), line.IDs)
		checkIDs(t, "ids with special tokens", line.Text, encode(t, tok, line.Text, true), line.IDsSpecial)
	}
	if joined.String() != string(sonnet) {
		t.Error("oracle sonnet lines do not rebuild testdata/sonnet.txt")
	}
}

func TestCorpusMatchesOracle(t *testing.T) {
	tok, o := setup(t)
	for _, c := range append([]oracleText{o.SonnetWhole}, o.Corpus...) {
		ids := encode(t, tok, c.Text, false)
		checkIDs(t, "ids", c.Text, ids, c.IDs)
		checkIDs(t, "ids with special tokens", c.Text, encode(t, tok, c.Text, true), c.IDsSpecial)
		got, err := tok.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.Decoded {
			t.Errorf("Decode(Encode(%q)) = %q, oracle %q", c.Text, got, c.Decoded)
		}
	}
}

func TestChatPromptsMatchOracle(t *testing.T) {
	tok, o := setup(t)
	for _, c := range o.Chat {
		formatted, err := tok.ChatPrompt(c.User)
		if err != nil {
			t.Fatal(err)
		}
		if formatted != c.Formatted {
			t.Errorf("ChatPrompt(%q):\n got %q\nwant %q", c.User, formatted, c.Formatted)
		}
		checkIDs(t, "ids with special tokens", c.Formatted, encode(t, tok, c.Formatted, true), c.IDsSpecial)
	}
}

// Random ids decode to split UTF-8 sequences and spaces before punctuation,
// as in vLLM's random dataset, which then re-encodes the text.
func TestRandomIDsDecodeAndReencodeLikeOracle(t *testing.T) {
	tok, o := setup(t)
	for _, r := range o.RandomDecodes {
		text, err := tok.Decode(r.IDs)
		if err != nil {
			t.Fatal(err)
		}
		if text != r.Text {
			t.Errorf("Decode(%v):\n got %q\nwant %q", r.IDs, text, r.Text)
		}
		checkIDs(t, "re-encoded ids", r.Text, encode(t, tok, r.Text, false), r.Reencoded)
	}
}

// llamaDir writes the Llama 3.1 files to a new directory, with edit applied
// to tokenizer_config.json, for Load.
func llamaDir(t *testing.T, edit func(cfg map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	var cfg map[string]any
	cfgJSON, err := os.ReadFile(filepath.Join("llama31", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	if cfgJSON, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfgJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), gunzipTokenizerJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// With clean_up_tokenization_spaces off, decoding gives back the exact text.
func TestDecodeInvertsEncodeWithoutCleanUp(t *testing.T) {
	_, o := setup(t)
	dir := llamaDir(t, func(cfg map[string]any) { cfg["clean_up_tokenization_spaces"] = false })
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "tokenizer.json at " + dir; tok.Name() != want {
		t.Errorf("Name() = %q, want %q", tok.Name(), want)
	}
	texts := []string{o.SonnetWhole.Text}
	for _, c := range o.Corpus {
		texts = append(texts, c.Text)
	}
	for _, text := range texts {
		for _, special := range []bool{false, true} {
			ids := encode(t, tok, text, special)
			got, err := tok.Decode(ids)
			if err != nil {
				t.Fatal(err)
			}
			want := text
			if special {
				want = "<|begin_of_text|>" + text
			}
			if got != want {
				t.Errorf("Decode(Encode(%q, %v)) = %q", text, special, got)
			}
		}
	}
}

func TestLlama31Facts(t *testing.T) {
	tok, _ := setup(t)
	if got := tok.VocabSize(); got != 128000 {
		t.Errorf("VocabSize() = %d, want 128000 (vocab_size without added tokens)", got)
	}
	if got := tok.NumSpecialTokensToAdd(); got != 1 {
		t.Errorf("NumSpecialTokensToAdd() = %d, want 1 (BOS)", got)
	}
	for id, want := range map[int]bool{128000: true, 128009: true, 128255: true, 0: false, 127999: false, 128256: false} {
		if got := tok.IsSpecial(id); got != want {
			t.Errorf("IsSpecial(%d) = %v, want %v", id, got, want)
		}
	}
	if _, err := tok.Decode([]int{128256}); err == nil {
		t.Error("Decode of an id outside the vocabulary gave no error")
	}
	if got := encode(t, tok, "", true); !slices.Equal(got, []int{128000}) {
		t.Errorf("Encode(\"\", true) = %v, want [128000]", got)
	}
}

// Invalid UTF-8 is read as Python would after decoding with errors="replace".
func TestInvalidUTF8EncodesAsReplacementCharacters(t *testing.T) {
	tok, _ := setup(t)
	for bad, good := range map[string]string{
		"a\xffb":          "a\uFFFDb",
		"x\xe2\x82y":      "x\uFFFDy", // one maximal subpart, one U+FFFD
		"\xed\xa0\x80end": "\uFFFD\uFFFD\uFFFDend",
	} {
		checkIDs(t, "ids", bad, encode(t, tok, bad, false), encode(t, tok, good, false))
	}
}

// Concurrent encodes share the word cache and must not disturb each other.
func TestConcurrentEncodeIsConsistent(t *testing.T) {
	tok, o := setup(t)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(o.SonnetLines); i += 2 {
				line := o.SonnetLines[i]
				if got, err := tok.Encode(line.Text, false); err != nil || !slices.Equal(got, line.IDs) {
					t.Errorf("concurrent Encode(%q) = %v, %v", line.Text, got, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}
