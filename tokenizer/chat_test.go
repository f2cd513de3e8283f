package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// instructTemplate has the constructs of the Llama 3.1 Instruct chat template
// (the embedded file has the shorter Llama 3 one): defaults set under
// "is defined" tests, slicing, "in", "is not none", escapes in string
// literals, filters inside concatenation and whitespace control.
const instructTemplate = `{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
`

// loadTinyWithTemplate loads the tiny tokenizer with a tokenizer_config.json
// holding template and Llama's BOS.
func loadTinyWithTemplate(t *testing.T, template any) *HF {
	t.Helper()
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{"chat_template": template, "bos_token": "<|begin_of_text|>"})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tokenizer.json": tinyTokenizerJSON(t, nil), "tokenizer_config.json": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInstructStyleChatTemplate(t *testing.T) {
	tok := loadTinyWithTemplate(t, instructTemplate)
	got, err := tok.ChatPrompt("  Pick as many lines as you can:\nline one\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
		"Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nPick as many lines as you can:\nline one<|eot_id|>" +
		"<|start_header_id|>assistant<|end_header_id|>\n\n"
	if got != want {
		t.Errorf("ChatPrompt:\n got %q\nwant %q", got, want)
	}
}

// A list of named templates is read as transformers does: "default".
func TestNamedChatTemplates(t *testing.T) {
	tok := loadTinyWithTemplate(t, []any{
		map[string]any{"name": "tool_use", "template": "tools"},
		map[string]any{"name": "default", "template": "{{ bos_token }}[{{ messages[0].content }}]"},
	})
	if got, err := tok.ChatPrompt("hi"); err != nil || got != "<|begin_of_text|>[hi]" {
		t.Errorf("ChatPrompt = %q, %v", got, err)
	}
}
