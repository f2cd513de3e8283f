package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/tokenizer"
)

// runTokenize prints the token ids of stdin's text as a JSON array, with no
// special tokens added; with --chat, the ids of the text as one user
// message through the chat template with the generation prompt.
func tokenizeCommand(fs *flag.FlagSet) runFunc {
	dir := fs.String("tokenizer", "", "directory with tokenizer.json (default: the bundled Llama 3.1 tokenizer)")
	chat := fs.Bool("chat", false, "tokenize the text as one user message through the chat template")
	return func(context.Context, []string) error { return runTokenize(*dir, *chat) }
}

func runTokenize(dir string, chat bool) error {
	var tok datasets.Tokenizer
	var err error
	if dir == "" {
		tok, err = tokenizer.Llama31()
	} else {
		tok, err = tokenizer.Load(dir)
	}
	if err != nil {
		return err
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	text := string(in)
	if chat {
		if text, err = tok.ChatPrompt(text); err != nil {
			return err
		}
	}
	ids, err := tok.Encode(text, false)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []int{}
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	fmt.Fprintf(os.Stderr, "%d tokens (%s)\n", len(ids), tok.Name())
	return nil
}
