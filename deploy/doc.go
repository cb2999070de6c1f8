// Package deploy holds the Kubernetes manifests (kustomize: base/ and one
// overlay per place the exporter runs, under overlays/), the Alertmanager
// example and the Grafana provisioning files. Its tests render every
// overlay, decode each object strictly with the Kubernetes, Prometheus
// Operator and Calico types, and check that the selectors, labels,
// policies and Secrets fit together; an integration test builds the image.
package deploy
