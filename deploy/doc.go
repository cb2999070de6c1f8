// Package deploy holds the Kubernetes manifests (kustomize) and Grafana
// provisioning files; its tests decode every manifest strictly with the
// Kubernetes and Prometheus Operator types and render the kustomization.
package deploy
