package k8stest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// applyManager is the field manager of what the helpers apply.
const applyManager = "k8stest"

// Apply server-side applies every object in the YAML files and returns
// "Kind/name" of each. Like a kustomization's namespace field, it puts
// namespaced objects, and the ServiceAccount subjects of RoleBindings and
// ClusterRoleBindings, into namespace ns.
func (c *Cluster) Apply(t testing.TB, ns string, files ...string) []string {
	t.Helper()
	return c.apply(t, ns, nil, files)
}

// DryRunApply is Apply with dry-run=server: the API server validates and
// admits every object (schema, defaults, admission, RBAC escalation
// checks) without storing any.
func (c *Cluster) DryRunApply(t testing.TB, ns string, files ...string) []string {
	t.Helper()
	return c.apply(t, ns, []string{metav1.DryRunAll}, files)
}

func (c *Cluster) apply(t testing.TB, ns string, dryRun []string, files []string) []string {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.config)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.clientset.Discovery()))
	var applied []string
	var errs []error
	for _, file := range files {
		objs, err := readObjects(file)
		if err != nil {
			t.Fatalf("k8stest: %v", err)
		}
		for _, obj := range objs {
			id := obj.GetKind() + "/" + obj.GetName()
			if err := applyObject(dyn, mapper, obj, ns, dryRun); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", id, file, err))
				continue
			}
			applied = append(applied, id)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("k8stest: apply: %v", errors.Join(errs...))
	}
	return applied
}

func applyObject(dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured, ns string, dryRun []string) error {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	if err := intoNamespace(obj, ns); err != nil {
		return err
	}
	res := dyn.Resource(mapping.Resource)
	opts := metav1.ApplyOptions{FieldManager: applyManager, Force: true, DryRun: dryRun}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj.SetNamespace(ns)
		_, err = res.Namespace(ns).Apply(context.Background(), obj.GetName(), obj, opts)
	} else {
		_, err = res.Apply(context.Background(), obj.GetName(), obj, opts)
	}
	return err
}

// intoNamespace moves the ServiceAccount subjects of a binding into ns.
func intoNamespace(obj *unstructured.Unstructured, ns string) error {
	if obj.GetAPIVersion() != "rbac.authorization.k8s.io/v1" || !strings.HasSuffix(obj.GetKind(), "RoleBinding") {
		return nil
	}
	subjects, _, err := unstructured.NestedSlice(obj.Object, "subjects")
	if err != nil {
		return err
	}
	for _, s := range subjects {
		if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" {
			m["namespace"] = ns
		}
	}
	return unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
}

// readObjects decodes every non-empty document of a YAML file.
func readObjects(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}
