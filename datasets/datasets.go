// Package datasets builds benchmark prompts the way vLLM's benchmark does:
// sonnet, random and sharegpt.
package datasets

// Sample is one prompt to send.
type Sample struct {
	Index             int    `json:"index"`
	Prompt            string `json:"prompt"`
	PromptLen         int    `json:"prompt_len"`
	ExpectedOutputLen int    `json:"expected_output_len"`
}

// Tokenizer is what the datasets need from a tokenizer. The tokenizer
// package implements it for Hugging Face tokenizer.json files and for a
// server's /tokenize endpoint.
type Tokenizer interface {
	// Encode returns the token ids of text; with addSpecialTokens the
	// tokenizer's BOS (or other template tokens) are added as Hugging Face
	// does by default.
	Encode(text string, addSpecialTokens bool) ([]int, error)
	Decode(ids []int) (string, error)
	// ChatPrompt renders one user message through the chat template with the
	// generation prompt (apply_chat_template(..., add_generation_prompt=True,
	// tokenize=False)).
	ChatPrompt(user string) (string, error)
	VocabSize() int
	IsSpecial(id int) bool
	NumSpecialTokensToAdd() int
	// Name says which tokenizer this is, for the result ("tokenizer.json at
	// DIR", "server /tokenize at URL").
	Name() string
}
