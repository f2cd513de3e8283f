package config

import (
	"flag"
	"reflect"
	"slices"
	"strings"
)

// NoteFlagsGiven records which request fields fs's flags set (after
// fs.Parse), so Validate treats them as given: a flag that does not belong
// to the chosen dataset is refused, and a flag set to 0 where 0 means
// nothing is refused instead of turned into the default.
func (r *Request) NoteFlagsGiven(fs *flag.FlagSet) {
	v := reflect.ValueOf(r).Elem()
	fs.Visit(func(f *flag.Flag) {
		name := strings.ReplaceAll(f.Name, "-", "_")
		i, ok := fieldIndex()[name]
		if !ok {
			if i, ok = fieldIndex()[name+"_seconds"]; ok {
				name += "_seconds"
			}
		}
		if ok {
			r.noteGiven(name, v.Field(i))
		}
	})
}

func (r *Request) noteGiven(name string, v reflect.Value) {
	if !slices.Contains(r.given, name) {
		r.given = append(r.given, name)
	}
	empty := v.IsZero() || ((v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0)
	if empty && !slices.Contains(r.givenZero, name) {
		r.givenZero = append(r.givenZero, name)
	}
}

// Given says whether a field was given in the JSON or the flags the request
// was read from.
func (r Request) Given(field string) bool { return slices.Contains(r.given, field) }

func (r Request) given0(name string) bool { return slices.Contains(r.givenZero, name) }

// zeroMeansNothing are the fields where a given 0 (or empty) has no
// meaning: Defaults would silently replace it.
var zeroMeansNothing = []string{
	"port", "host", "slice_seconds", "stall_timeout_seconds", "request_timeout_seconds",
	"continue_as_new_every_slices", "ready_timeout_seconds", "replica_gone_limit_seconds",
	"sonnet_input_len", "sonnet_output_len", "random_input_len", "random_output_len",
	"max_run_hours", "max_plan_gib", "replica_count",
	"replicas_base_urls", "percentile_metrics", "metric_percentiles",
}

func (r Request) checkGivenZeros(p *problems) {
	if r.given0("num_prompts") && r.DurationSeconds == 0 {
		p.add("num_prompts", "got 0; give a positive number of requests (leave it out for 1000), or duration_seconds with a finite request_rate")
	}
	def := reflect.ValueOf(Request{DatasetName: r.DatasetName, Backend: r.Backend}.Defaults())
	for _, name := range zeroMeansNothing {
		if !r.given0(name) {
			continue
		}
		switch d := def.Field(fieldIndex()[name]); {
		case d.Kind() == reflect.Slice:
			p.add(name, "is empty; give at least one value, or leave it out for %v", d.Interface())
		case d.IsZero():
			p.add(name, "got %v; give a positive value or leave it out", zeroText(d))
		default:
			p.add(name, "got %v, which means nothing here; give a positive value, or leave it out for the default %v", zeroText(d), d.Interface())
		}
	}
}

func zeroText(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return `""`
	}
	return "0"
}

// datasetFields are the fields only one dataset reads.
var datasetFields = map[string][]string{
	"sonnet":   {"sonnet_input_len", "sonnet_prefix_len", "sonnet_output_len"},
	"random":   {"random_input_len", "random_output_len", "random_prefix_len", "random_range_ratio"},
	"sharegpt": {"sharegpt_output_len"},
}

// legacyFilled are the lengths Defaults filled for every dataset before it
// filled only the chosen one's: workflows started then carry them in their
// input, and replaying their first task must validate as it did.
var legacyFilled = map[string]int{
	"sonnet_input_len": 550, "sonnet_output_len": 150, "sonnet_prefix_len": 200,
	"random_input_len": 1024, "random_output_len": 128,
}

// checkBelonging refuses fields that the chosen dataset, backend, rate or
// deploy target would ignore: a user who gives them expects them to act.
// (hf_token_secret is not among them: workflows started before this rule
// carry it with existing servers.)
func (r Request) checkBelonging(p *problems) {
	v := reflect.ValueOf(r)
	for _, ds := range DatasetNames {
		if ds == r.DatasetName {
			continue
		}
		for _, f := range datasetFields[ds] {
			if old, ok := legacyFilled[f]; ok && v.Field(fieldIndex()[f]).Int() == int64(old) {
				continue
			}
			if r.Given(f) {
				p.add(f, "belongs to dataset_name %q, but the dataset is %q%s; set dataset_name %q or leave %s out",
					ds, r.DatasetName, defaultNote(r, "dataset_name"), ds, f)
			}
		}
	}
	if r.DatasetName == "random" && r.DatasetPath != "" {
		p.add("dataset_path", "the random dataset reads no file, got %q; set dataset_name \"sharegpt\" or \"sonnet\" for a file, or leave dataset_path out", r.DatasetPath)
	}
	if r.Backend == "openai-chat" && r.Logprobs != nil {
		p.add("logprobs", "backend \"openai-chat\" sends no logprobs (vLLM's chat body has none); leave it out or use backend \"openai\"")
	}
	if r.RequestRate != nil && r.RequestRate.IsInf() && r.RampUpStrategy == "" && r.Burstiness != nil && *r.Burstiness != 1 {
		p.add("burstiness", "shapes the gaps between requests, but request_rate is \"inf\"%s (all sent at once); give a finite request_rate or leave burstiness out",
			defaultNote(r, "request_rate"))
	}
	if r.Deploy != "kubernetes" {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"gpu_type", r.GPUType != ""}, {"replica_count", r.ReplicaCount != 0}, {"namespace", r.Namespace != ""},
			{"image", r.Image != ""}, {"vllm_args", len(r.VLLMArgs) > 0},
			{"model_storage_pvc", r.ModelStoragePVC != ""}, {"node_selector", len(r.NodeSelector) > 0},
			{"keep_deployment", r.KeepDeployment}, {"vllm_version", r.VLLMVersion != ""},
			{"cpu", r.CPU != ""}, {"memory", r.Memory != ""}, {"shm_size", r.ShmSize != ""},
		} {
			if f.set {
				p.add(f.name, "only acts when vLLM is deployed for the run, but deploy is %q%s; set deploy \"kubernetes\" or leave %s out",
					r.Deploy, defaultNote(r, "deploy"), f.name)
			}
		}
	}
}

// defaultNote says " (the default)" when field holds its default because
// it was not given.
func defaultNote(r Request, field string) string {
	def := reflect.ValueOf(Request{}.Defaults()).Field(fieldIndex()[field])
	cur := reflect.ValueOf(r).Field(fieldIndex()[field])
	if r.Given(field) || !reflect.DeepEqual(def.Interface(), cur.Interface()) {
		return ""
	}
	return " (the default)"
}
