package k8s

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Label keys put on everything created for a run.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelRunID     = "vllm-bench/run-id"

	// AnnotationRunID keeps the run id verbatim (the label may be hashed).
	AnnotationRunID = "vllm-bench/run-id"
	// AnnotationCreatedBy marks Secrets this tool created, the only ones
	// Teardown deletes.
	AnnotationCreatedBy = "vllm-bench/created-by"
)

// maxNameLen keeps StatefulSet names short enough for the pods'
// controller-revision-hash label (<name>-<10 chars> must fit in 63).
const maxNameLen = 52

// ResourceName is the StatefulSet and headless Service name of a run:
// "vllm-" and the run id as a lowercase DNS label, with a hash suffix when
// the id had to be changed or shortened (so different ids never collide).
func ResourceName(runID string) string {
	return dnsName("vllm-"+runID, maxNameLen)
}

// TokenSecretName is the name EnsureTokenSecret callers should use for a
// run's own HF token Secret.
func TokenSecretName(runID string) string {
	return dnsName("vllm-"+runID, maxNameLen-len("-hf-token")) + "-hf-token"
}

// RunLabelValue is the vllm-bench/run-id label value of a run: the id if it
// is a valid label value, otherwise a sanitised form with a hash suffix.
func RunLabelValue(runID string) string {
	if validLabelValue(runID) {
		return runID
	}
	clean := strings.Map(func(r rune) rune {
		if isAlnum(r) || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, runID)
	return withHash(clean, runID, 63)
}

func dnsName(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	clean := trimNonAlnum(collapseDashes(b.String()))
	if clean == s && len(clean) <= max {
		return clean
	}
	return withHash(clean, s, max)
}

// withHash appends an 8-hex-digit hash of the original to a cleaned value,
// shortening the value so the result fits in max.
func withHash(clean, original string, max int) string {
	sum := sha256.Sum256([]byte(original))
	suffix := hex.EncodeToString(sum[:4])
	keep := max - len(suffix) - 1
	if len(clean) > keep {
		clean = clean[:keep]
	}
	clean = trimNonAlnum(clean)
	if clean == "" {
		return "x" + suffix
	}
	return clean + "-" + suffix
}

func validLabelValue(s string) bool {
	if len(s) > 63 {
		return false
	}
	if s == "" {
		return true
	}
	for _, r := range s {
		if !isAlnum(r) && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return isAlnum(rune(s[0])) && isAlnum(rune(s[len(s)-1]))
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func collapseDashes(s string) string {
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return s
}

func trimNonAlnum(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return !isAlnum(r) })
}

func runLabels(runID string) map[string]string {
	return map[string]string{
		LabelName:      "vllm",
		LabelInstance:  RunLabelValue(runID),
		LabelComponent: "inference-server",
		LabelManagedBy: FieldManager,
		LabelPartOf:    "vllm-inference-benchmark",
		LabelRunID:     RunLabelValue(runID),
	}
}

func runSelector(runID string) string {
	return LabelRunID + "=" + RunLabelValue(runID)
}
