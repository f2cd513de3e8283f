package datasets

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type turn struct {
	From  string `json:"from"`
	Value string `json:"value"`
}

// writeShareGPT writes ten valid conversations e0..e9 (e1's prompt is too
// short) with single-turn entries in between, which are dropped before the
// shuffle.
func writeShareGPT(t *testing.T) string {
	t.Helper()
	var entries []map[string]any
	for i := range 10 {
		prompt := fmt.Sprintf("e%d says hello to the model", i)
		if i == 1 {
			prompt = "e1 hi"
		}
		entries = append(entries,
			map[string]any{"id": i, "conversations": []turn{{"human", prompt}, {"gpt", "a reply of six words here"}}},
			map[string]any{"id": "single", "conversations": []turn{{"human", "only one turn in this"}}})
	}
	raw, _ := json.Marshal(entries)
	path := filepath.Join(t.TempDir(), "sharegpt.json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestShareGPTShufflesFiltersAndOversamples(t *testing.T) {
	path := writeShareGPT(t)
	// CPython: random.seed(0); shuffle(range(10)) = [7 8 1 5 3 4 2 0 9 6];
	// e1 fails the length filter; the oversampling draws random.seed(0) then
	// random.choice over 9 accepted = indices 6, 6, 0.
	want := []int{7, 8, 5, 3, 4, 2, 0, 9, 6, 0, 0, 7}
	d, err := New(Config{DatasetName: "sharegpt", DatasetPath: path, NumPrompts: 12, Seed: 0}, wordTokenizer{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != len(want) {
		t.Fatalf("Len = %d", d.Len())
	}
	for i, e := range want {
		s, _ := d.Sample(i)
		if !strings.HasPrefix(s.Prompt, fmt.Sprintf("e%d ", e)) || s.Index != i {
			t.Fatalf("sample %d = %q, want conversation e%d", i, s.Prompt, e)
		}
		// 6 words + BOS; the completion "a reply of six words here" is 7 tokens.
		if s.PromptLen != 7 || s.ExpectedOutputLen != 7 {
			t.Fatalf("sample %d lengths %d/%d", i, s.PromptLen, s.ExpectedOutputLen)
		}
	}

	fixed, err := New(Config{DatasetName: "sharegpt", DatasetPath: path, NumPrompts: 3, Seed: 0, SharegptOutputLen: 2}, wordTokenizer{})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := fixed.Sample(2); fixed.Len() != 3 || s.ExpectedOutputLen != 2 || !strings.HasPrefix(s.Prompt, "e5 ") {
		t.Fatalf("fixed output length: %d samples, sample 2 = %+v", fixed.Len(), s)
	}
}

func TestShareGPTErrorsNameDatasetPath(t *testing.T) {
	for _, path := range []string{"", "/no/such/sharegpt.json", "app/ShareGPT_V3_unfiltered_cleaned_split.json"} {
		_, err := New(Config{DatasetName: "sharegpt", DatasetPath: path, NumPrompts: 1}, wordTokenizer{})
		if err == nil || !strings.Contains(err.Error(), "dataset_path") {
			t.Errorf("path %q: error %v, want one naming dataset_path", path, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"not": "a list"}`), 0o644)
	if _, err := New(Config{DatasetName: "sharegpt", DatasetPath: bad, NumPrompts: 1}, wordTokenizer{}); err == nil || !strings.Contains(err.Error(), "dataset_path") {
		t.Errorf("malformed file: %v", err)
	}
}
