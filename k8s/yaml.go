package k8s

import (
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// RenderYAML writes a run's objects as YAML documents (for a dry run).
func RenderYAML(w io.Writer, opts Options) error {
	m, err := Objects(opts)
	if err != nil {
		return err
	}
	for _, obj := range []any{m.Service, m.StatefulSet} {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("k8s: render yaml: %w", err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}
