package metrics

import (
	"fmt"
	"net/http"
	"strings"
)

// FailedWarnPct is the share of failed requests (percent of completed +
// failed) above which a run is flagged as failing, in the report and in the
// Web UI's run list.
const FailedWarnPct = 1.0

// FailureReason sorts a failed request's error text into a short reason
// an operator can act on: the cause, not the message (which names ports,
// addresses and request ids).
func FailureReason(errText string) string {
	lower := strings.ToLower(errText)
	for _, r := range []struct{ match, reason string }{
		{"connection refused", "connection refused"},
		{"connection reset", "connection reset"},
		{"no such host", "no such host"},
		{"no route to host", "no route to host"},
		{"i/o timeout", "connect timeout"},
		{"tls:", "TLS error"},
		{"eof", "connection closed by the server (EOF)"},
	} {
		if strings.Contains(lower, r.match) {
			return r.reason
		}
	}
	for _, prefix := range []string{"timed out", "stalled", "sample"} {
		if strings.HasPrefix(lower, prefix) {
			return prefix
		}
	}
	if code, ok := httpStatusOf[errText]; ok {
		return fmt.Sprintf("HTTP %d %s", code, errText)
	}
	if what, _, ok := strings.Cut(errText, ": "); ok {
		errText = what
	}
	if len(errText) > 60 {
		errText = errText[:60] + "…"
	}
	return errText
}

// httpStatusOf maps a status's reason phrase (what a failed request's error
// holds, as in vLLM) back to its code.
var httpStatusOf = func() map[string]int {
	m := map[string]int{}
	for code := 400; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m[text] = code
		}
	}
	return m
}()

// IsConnectFailure says a reason means the server could not be reached at
// all (as opposed to answering badly).
func IsConnectFailure(reason string) bool {
	switch reason {
	case "connection refused", "no route to host", "connect timeout", "no such host":
		return true
	}
	return false
}
