package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// render builds the kustomization in this folder as `kustomize build` does.
func render(t *testing.T) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

// strict decodes doc into v, refusing any field v's type does not have.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func typed(kind string) any {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}
	case "Service":
		return &corev1.Service{}
	case "ServiceAccount":
		return &corev1.ServiceAccount{}
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "Secret":
		return &corev1.Secret{}
	case "PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	case "ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	}
	return nil
}

func TestKustomizationRendersStrictlyValidManifests(t *testing.T) {
	docs := render(t)
	kinds := map[string]any{}
	for _, doc := range docs {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		v := typed(meta.Kind)
		if v == nil {
			t.Errorf("%s %s: a kind this test does not know how to check", meta.Kind, meta.Metadata.Name)
			continue
		}
		if err := strict(doc, v); err != nil {
			t.Errorf("%s %s: %v", meta.Kind, meta.Metadata.Name, err)
		}
		if meta.Metadata.Namespace != "tigera-intrusion-detection" {
			t.Errorf("%s %s in namespace %q", meta.Kind, meta.Metadata.Name, meta.Metadata.Namespace)
		}
		kinds[meta.Kind] = v
	}
	for _, k := range []string{"Deployment", "Service", "ServiceAccount", "ConfigMap", "PrometheusRule", "ServiceMonitor"} {
		if kinds[k] == nil {
			t.Errorf("no %s rendered", k)
		}
	}
	d, ok := kinds["Deployment"].(*appsv1.Deployment)
	if !ok {
		return
	}
	svc, _ := kinds["Service"].(*corev1.Service)
	sm, _ := kinds["ServiceMonitor"].(*monitoringv1.ServiceMonitor)
	pod := d.Spec.Template
	for k, v := range d.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("the Deployment's selector %s=%s does not select its pods", k, v)
		}
	}
	if svc != nil {
		for k, v := range svc.Spec.Selector {
			if pod.Labels[k] != v {
				t.Errorf("the Service's selector %s=%s does not select the pods", k, v)
			}
		}
		if sm != nil {
			for k, v := range sm.Spec.Selector.MatchLabels {
				if svc.Labels[k] != v {
					t.Errorf("the ServiceMonitor's selector %s=%s does not select the Service", k, v)
				}
			}
			if len(sm.Spec.Endpoints) == 0 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
				t.Errorf("the ServiceMonitor does not scrape the Service's port")
			}
		}
	}
	c := pod.Spec.Containers[0]
	for _, a := range c.Args {
		if strings.Contains(a, "password=") || strings.Contains(a, "api-key=") {
			t.Errorf("secret passed on the command line, visible in ps: %s", a)
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the container's root filesystem is writable")
	}
	if pod.Spec.ServiceAccountName != "calico-anomaly-exporter" {
		t.Errorf("pods run as service account %q", pod.Spec.ServiceAccountName)
	}
}

func TestGrafanaProvisioningFilesParse(t *testing.T) {
	for _, path := range []string{"grafana/dashboards-provider.yaml", "grafana/datasource.yaml"} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			APIVersion  int              `json:"apiVersion"`
			Providers   []map[string]any `json:"providers"`
			Datasources []map[string]any `json:"datasources"`
		}
		if err := strict(raw, &v); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if v.APIVersion != 1 || len(v.Providers)+len(v.Datasources) == 0 {
			t.Errorf("%s: not a Grafana provisioning file", path)
		}
	}
}
