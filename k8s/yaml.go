package k8s

import (
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// RenderYAML writes a run's objects as YAML documents, as a run would apply
// them (a dry run). With tokenSecret, the run's own HF token Secret that
// `starter start` creates from $HF_TOKEN comes first, without its value;
// opts.HFTokenSecret must name it.
func RenderYAML(w io.Writer, opts Options, tokenSecret bool) error {
	m, err := Objects(opts)
	if err != nil {
		return err
	}
	var docs []any
	if tokenSecret {
		docs = append(docs, TokenSecret(*m.Service.Namespace, opts.HFTokenSecret, opts.RunID))
	}
	docs = append(docs, m.Service, m.StatefulSet, m.DisruptionBudget)
	for i, obj := range docs {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("k8s: render yaml: %w", err)
		}
		comment := ""
		if tokenSecret && i == 0 {
			comment = "# data.token: the value of $HF_TOKEN, set by `starter start` (never printed)\n" +
				"# ownerReferences: the StatefulSet, set when it is applied\n"
		}
		if i == len(docs)-1 {
			comment = "# ownerReferences: the StatefulSet, set when it is applied\n"
		}
		if _, err := fmt.Fprintf(w, "---\n%s%s", comment, b); err != nil {
			return err
		}
	}
	return nil
}
