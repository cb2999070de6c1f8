// Package calicoopensource holds the kustomize overlay that deploys the
// exporter for Calico Open Source (Goldmane instead of Elasticsearch); its
// test renders it over the base and decodes every manifest strictly.
package calicoopensource

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// render builds the overlay as `kustomize build` does. The base is
// ../../base; before the manifests moved there, deploy/ itself was the
// base, and its files are laid out as base/ in memory.
func render(t *testing.T) map[string][]byte {
	t.Helper()
	baseDir := filepath.Join("..", "..", "base")
	if _, err := os.Stat(filepath.Join(baseDir, "kustomization.yaml")); err != nil {
		baseDir = filepath.Join("..", "..")
	}
	fs := filesys.MakeFsInMemory()
	copyFiles := func(from, to string) {
		entries, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(from, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := fs.WriteFile(filepath.Join(to, e.Name()), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyFiles(baseDir, "/deploy/base")
	copyFiles(".", "/deploy/overlays/calico-open-source")
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/deploy/overlays/calico-open-source")
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	out := map[string][]byte{}
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if ns := r.GetNamespace(); ns != "calico-system" {
			t.Errorf("%s/%s in namespace %q, want calico-system", r.GetKind(), r.GetName(), ns)
		}
		out[r.GetKind()+"/"+r.GetName()] = b
	}
	return out
}

func strict(t *testing.T, doc []byte, v any) {
	t.Helper()
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%T: %v", v, err)
	}
}

func TestOverlayReadsGoldmane(t *testing.T) {
	docs := render(t)
	var d appsv1.Deployment
	strict(t, docs["Deployment/calico-anomaly-exporter"], &d)
	c := d.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--source=goldmane", "--goldmane.address=goldmane.calico-system.svc:7443"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--es.") {
			t.Errorf("Elasticsearch flag %s left in the args", a)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && strings.Contains(e.ValueFrom.SecretKeyRef.Name, "elasticsearch") {
			t.Errorf("env %s still reads the Elasticsearch secret", e.Name)
		}
	}
	volumes := map[string]bool{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		volumes[v.Name] = true
		if v.Secret != nil && (strings.Contains(v.Secret.SecretName, "elasticsearch") || strings.Contains(v.Secret.SecretName, "es-http")) {
			t.Errorf("volume %s still mounts the Elasticsearch secret %s", v.Name, v.Secret.SecretName)
		}
	}
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			t.Errorf("volume mount %s has no volume", m.Name)
		}
		mounted[m.Name] = m.MountPath
	}
	// Every file a flag names lies under a mounted volume.
	for _, a := range c.Args {
		_, path, ok := strings.Cut(a, "-file=")
		if !ok {
			continue
		}
		found := false
		for _, dir := range mounted {
			if strings.HasPrefix(path, dir+"/") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s names a file outside every mounted volume %v", a, mounted)
		}
	}

	var np networkingv1.NetworkPolicy
	strict(t, docs["NetworkPolicy/goldmane-from-calico-anomaly-exporter"], &np)
	if np.Spec.PodSelector.MatchLabels["k8s-app"] != "goldmane" {
		t.Errorf("the policy selects %v, want Goldmane's pods", np.Spec.PodSelector.MatchLabels)
	}
	admits := false
	for _, in := range np.Spec.Ingress {
		for _, from := range in.From {
			if from.PodSelector == nil {
				continue
			}
			match := true
			for k, v := range from.PodSelector.MatchLabels {
				if d.Spec.Template.Labels[k] != v {
					match = false
				}
			}
			for _, p := range in.Ports {
				if match && p.Port != nil && p.Port.IntValue() == 7443 {
					admits = true
				}
			}
		}
	}
	if !admits {
		t.Errorf("the NetworkPolicy does not admit the exporter's pods (labels %v) to port 7443", d.Spec.Template.Labels)
	}
}
