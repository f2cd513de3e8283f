package loadgen

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
	"github.com/vibench/vllm-inference-benchmark/datasets"
	"github.com/vibench/vllm-inference-benchmark/metrics"
)

type read struct {
	t     float64
	bytes string
}

// doScripted runs Do against reads delivered one per Read at fake times,
// with the request starting at 10.0.
func doScripted(t *testing.T, chat bool, reads []read) metrics.Record {
	t.Helper()
	gc := goldenCase{HTTPStatus: 200, Reason: "OK", Start: 10}
	for _, r := range reads {
		gc.StreamReads = append(gc.StreamReads, struct {
			T     float64 `json:"t"`
			Bytes string  `json:"bytes"`
		}{r.t, r.bytes})
	}
	srv := &scriptedServer{gc: gc, clock: gc.Start}
	c := newTestClient(t, "http://h", chat, nil)
	srv.serve(c)
	return c.Do(context.Background(), datasets.Sample{PromptLen: 1, ExpectedOutputLen: 4}, "r")
}

func TestSSEFraming(t *testing.T) {
	usage := `{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}`
	cases := map[string][]read{
		"crlf":                {{11, "data: {\"choices\":[{\"text\":\"a\"}]}\r\n\r\n"}, {12, "data: {\"choices\":[{\"text\":\"b\"}]}\r\n\r\ndata: " + usage + "\r\n\r\ndata: [DONE]\r\n\r\n"}},
		"multi-line data":     {{11, "data: {\"choices\":\ndata: [{\"text\":\"a\"}]}\n\n"}, {12, "data:{\"choices\":[{\"text\":\"b\"}]}\n\ndata: " + usage + "\n\n"}},
		"comments and fields": {{11, ": ping\n\nevent: message\nid: 1\ndata: {\"choices\":[{\"text\":\"a\"}]}\nretry: 5\n\n"}, {11.5, ": keep-alive\n\n"}, {12, "data: {\"choices\":[{\"text\":\"b\"}]}\n\n: x\ndata: " + usage + "\n\n"}},
		"no final blank line": {{11, "data: {\"choices\":[{\"text\":\"a\"}]}\n\n"}, {12, "data: {\"choices\":[{\"text\":\"b\"}]}\n\ndata: " + usage}},
		"split everywhere":    {{11, "da"}, {11, "ta: {\"choices\":[{\"te"}, {11, "xt\":\"a\"}]}\n"}, {11, "\n"}, {12, "data: {\"choices\":[{\"text\":\"b\"}]}\r"}, {12, "\n\r\ndata: " + usage[:10]}, {12, usage[10:] + "\n\n"}},
	}
	for name, reads := range cases {
		rec := doScripted(t, false, reads)
		if !rec.Success || rec.GeneratedText != "ab" || rec.OutputTokens != 2 || rec.PromptLen != 3 ||
			rec.TTFT != 1 || !reflect.DeepEqual(rec.ITL, []float64{1}) || rec.Latency != 2 {
			t.Errorf("%s: %+v", name, rec)
		}
	}
}

func TestEscapedTextAndNulls(t *testing.T) {
	rec := doScripted(t, true, []read{
		{11, `data: {"choices":[{"delta":{"role":"assistant","content":null}}]}` + "\n\n"},
		{12, `data: {"choices":[{"delta":{"content":"\"q\"\n\u00e9\ud83d\ude00\\\/"}}],"usage":null}` + "\n\n"},
		{13, `data: {"choices":[{"delta":{}}]}` + "\n\n"},
		{14, `data: {"choices":[],"usage":{"prompt_tokens":null,"completion_tokens":2}}` + "\n\n"},
	})
	if !rec.Success || rec.GeneratedText != "\"q\"\né😀\\/" || rec.OutputTokens != 2 || rec.PromptLen != 1 ||
		!reflect.DeepEqual(rec.ITL, []float64{1, 1}) || rec.Latency != 4 {
		t.Errorf("%+v", rec)
	}
}

// The chat rule keys "first token" on ttft == 0, exactly as vLLM does.
func TestChatTTFTSentinel(t *testing.T) {
	rec := doScripted(t, true, []read{
		{10, `data: {"choices":[{"delta":{"content":"a"}}]}` + "\n\n"},
		{11, `data: {"choices":[{"delta":{"content":"b"}}]}` + "\n\n"},
		{12, `data: {"choices":[{"delta":{"content":"c"}}]}` + "\n\n"},
	})
	if rec.TTFT != 1 || !reflect.DeepEqual(rec.ITL, []float64{1}) || rec.Latency != 2 {
		t.Errorf("%+v", rec)
	}
}

// decodeEvent must agree with encoding/json into go-openai's stream types.
func TestDecoderAgreesWithEncodingJSON(t *testing.T) {
	texts := []string{"", "plain", `with \"quotes\" and \\`, `\u00e9\u4e2d\ud83d\ude00`, `tab\tnl\ncr\r`, `{\"not\":\"json\"}`}
	for _, tx := range texts {
		for _, chat := range []bool{true, false} {
			var msg string
			if chat {
				msg = `{"id":"c","choices":[{"index":0,"delta":{"content":"` + tx + `","tool_calls":[{"a":[1,2.5e3,-1]}]},"logprobs":{"content":[{"token":"x","logprob":-0.1}]},"finish_reason":null}],"usage":null}`
			} else {
				msg = `{"id":"c","choices":[{"index":0,"text":"` + tx + `","logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":6}}`
			}
			var ev event
			if err := decodeEvent([]byte(msg), chat, &ev, nil); err != nil {
				t.Fatalf("%s: %v", msg, err)
			}
			got := string(appendUnescaped(nil, ev.text))
			var want string
			if chat {
				var r openai.ChatCompletionStreamResponse
				if err := json.Unmarshal([]byte(msg), &r); err != nil {
					t.Fatal(err)
				}
				want = r.Choices[0].Delta.Content
			} else {
				var r openai.CompletionResponse
				if err := json.Unmarshal([]byte(msg), &r); err != nil {
					t.Fatal(err)
				}
				want = r.Choices[0].Text
			}
			if got != want || !ev.choices {
				t.Errorf("%s: got %q want %q", msg, got, want)
			}
		}
	}
	for _, bad := range []string{`{"a":}`, `{"a":1`, `{"a" 1}`, `{"a":tru}`, `{"a":"x\q"}`, `{"a":[1 2]}`, `{}{}`} {
		var ev event
		if err := decodeEvent([]byte(bad), false, &ev, nil); err == nil {
			t.Errorf("%s: accepted", bad)
		}
		if json.Valid([]byte(bad)) {
			t.Errorf("%s is valid JSON; fix the test", bad)
		}
	}
	var ev event
	if err := decodeEvent([]byte(`"s"`), false, &ev, nil); err == nil {
		t.Error("a message that is not an object was accepted") // vLLM's data.get would raise
	}
}

func TestCompletionsWithoutChoicesFail(t *testing.T) {
	rec := doScripted(t, false, []read{{11, "data: " + strings.TrimSpace(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":0}}`) + "\n\ndata: [DONE]\n\n"}})
	if rec.Success || rec.Error != errNoValidChunk || rec.Latency != 0 || rec.PromptLen != 3 {
		t.Errorf("%+v", rec)
	}
}

// A memo from earlier messages never changes what a message decodes to,
// whether its prefix matches, half-matches or differs.
func TestEventMemoNeverChangesTheResult(t *testing.T) {
	msgs := []string{
		`{"id":"c","created":17,"choices":[{"index":0,"text":"a"}]}`,
		`{"id":"c","created":17,"choices":[{"index":0,"text":"b"}]}`,
		`{"id":"c","created":1717,"choices":[{"index":0,"text":"c"}]}`,
		`{"id":"c","created":17,"choices":  [{"index":0,"text":"d"}]}`,
		`{"id":"c","created":17,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}`,
		`{"id":"c","created":17,"usage":{"prompt_tokens":3,"completion_tokens":5},"choices":[]}`,
		`{"id":"c","created":17,"choices":[{"index":0,"text":"e"}]}`,
		`{"choices":[{"index":0,"text":"f"}],"id":"c"}`,
		`{"choices":[{"index":0,"text":"g"}],"id":"c"}`,
		`{"id":"c","created":17,"choices":[{"index":0,"text":"h"}]} trailing`,
		`{"id":"c","created":17,"choices":`,
		`{"id":"c","created":17,"choices":[{"index":0,"text":"i"}]}`,
	}
	var memo eventMemo
	for _, m := range msgs {
		var want, got event
		wantErr := decodeEvent([]byte(m), false, &want, nil)
		gotErr := decodeEvent([]byte(m), false, &got, &memo)
		if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(want, got) {
			t.Errorf("%s:\n with memo %+v, %v\n without   %+v, %v", m, got, gotErr, want, wantErr)
		}
	}
}
