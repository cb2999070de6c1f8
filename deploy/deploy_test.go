package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// overlays are the folders under overlays/, each a kustomization a user
// applies; every one is rendered and checked.
func overlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("overlays")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join("overlays", e.Name()))
		}
	}
	if len(out) < 2 {
		t.Fatalf("overlays: %v, want calico-enterprise and kube-prometheus-stack at least", out)
	}
	return out
}

// render builds the kustomization in dir as `kustomize build` does.
func render(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
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

func typed(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "projectcalico.org/v3 Tier":
		return &calicoTier{}
	case "projectcalico.org/v3 NetworkPolicy":
		return &calicoNetworkPolicy{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "rbac.authorization.k8s.io/v1 Role":
		return &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return &rbacv1.RoleBinding{}
	}
	switch kind {
	case "Namespace":
		return &corev1.Namespace{}
	case "Deployment":
		return &appsv1.Deployment{}
	case "Service":
		return &corev1.Service{}
	case "ServiceAccount":
		return &corev1.ServiceAccount{}
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
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

// rendered is one overlay's output, decoded.
type rendered struct {
	dir        string
	objects    map[string]any // by kind/namespace/name
	deployment *appsv1.Deployment
	service    *corev1.Service
	monitor    *monitoringv1.ServiceMonitor
	rule       *monitoringv1.PrometheusRule
	policies   []*calicoNetworkPolicy
	tiers      map[string]*calicoTier
}

func decodeOverlay(t *testing.T, dir string) *rendered {
	t.Helper()
	r := &rendered{dir: dir, objects: map[string]any{}, tiers: map[string]*calicoTier{}}
	for _, doc := range render(t, dir) {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		v := typed(meta.APIVersion, meta.Kind)
		if v == nil {
			t.Errorf("%s: %s %s: a kind this test does not know how to check", dir, meta.Kind, meta.Metadata.Name)
			continue
		}
		if err := strict(doc, v); err != nil {
			t.Errorf("%s: %s %s: %v", dir, meta.Kind, meta.Metadata.Name, err)
			continue
		}
		namespaced := meta.Kind != "Namespace" && meta.Kind != "Tier"
		if namespaced && meta.Metadata.Namespace == "" {
			t.Errorf("%s: %s %s has no namespace", dir, meta.Kind, meta.Metadata.Name)
		}
		r.objects[meta.Kind+"/"+meta.Metadata.Namespace+"/"+meta.Metadata.Name] = v
		switch o := v.(type) {
		case *appsv1.Deployment:
			r.deployment = o
		case *corev1.Service:
			r.service = o
		case *monitoringv1.ServiceMonitor:
			r.monitor = o
		case *monitoringv1.PrometheusRule:
			r.rule = o
		case *calicoNetworkPolicy:
			r.policies = append(r.policies, o)
		case *calicoTier:
			r.tiers[meta.Metadata.Name] = o
		}
	}
	if r.deployment == nil || r.service == nil || r.monitor == nil || r.rule == nil {
		t.Fatalf("%s renders no Deployment, Service, ServiceMonitor or PrometheusRule", dir)
	}
	return r
}

func TestOverlaysRenderStrictlyValidManifests(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sizes := sizingTable(t, string(readme))
	for _, dir := range overlays(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := decodeOverlay(t, dir)
			d, svc, sm := r.deployment, r.service, r.monitor
			pod := d.Spec.Template
			ns := d.Namespace
			// calico-system is Calico's own, created by its operator.
			if _, ok := r.objects["Namespace//"+ns]; !ok && ns != "calico-system" {
				t.Errorf("the Deployment's namespace %s is not created", ns)
			}
			for k, v := range d.Spec.Selector.MatchLabels {
				if pod.Labels[k] != v {
					t.Errorf("the Deployment's selector %s=%s does not select its pods", k, v)
				}
			}
			if svc.Namespace != ns {
				t.Errorf("the Service is in %s, the pods in %s", svc.Namespace, ns)
			}
			for k, v := range svc.Spec.Selector {
				if pod.Labels[k] != v {
					t.Errorf("the Service's selector %s=%s does not select the pods", k, v)
				}
			}
			for k, v := range sm.Spec.Selector.MatchLabels {
				if svc.Labels[k] != v {
					t.Errorf("the ServiceMonitor's selector %s=%s does not select the Service", k, v)
				}
			}
			if sm.Namespace != svc.Namespace && !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svc.Namespace) && !sm.Spec.NamespaceSelector.Any {
				t.Errorf("the ServiceMonitor in %s does not look in the Service's namespace %s", sm.Namespace, svc.Namespace)
			}
			if len(sm.Spec.Endpoints) == 0 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
				t.Errorf("the ServiceMonitor does not scrape the Service's port")
			}
			if pod.Spec.ServiceAccountName == "" || r.objects["ServiceAccount/"+ns+"/"+pod.Spec.ServiceAccountName] == nil {
				t.Errorf("pods run as service account %q, which is not rendered", pod.Spec.ServiceAccountName)
			}
			c := pod.Spec.Containers[0]
			args := map[string]string{}
			for _, a := range c.Args {
				if strings.Contains(a, "password=") || strings.Contains(a, "api-key=") {
					t.Errorf("secret passed on the command line, visible in ps: %s", a)
				}
				k, v, _ := strings.Cut(a, "=")
				args[k] = v
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("the container's root filesystem is writable")
			}
			// Models survive a restart: --model.dir is a mounted persistent volume.
			checkModelVolume(t, r, args["--model.dir"])
			// Goldmane keeps about an hour of flows: an overlay reading it
			// learns what it holds and the rest online.
			if lb, err := time.ParseDuration(args["--train.lookback"]); err != nil || lb < 7*24*time.Hour && args["--source"] != "goldmane" {
				t.Errorf("--train.lookback=%q: a new install should learn a week of history", args["--train.lookback"])
			}
			checkProbe(t, "readiness", c.ReadinessProbe, "/-/ready", c)
			checkProbe(t, "liveness", c.LivenessProbe, "/-/healthy", c)
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy %q: two pods would share one ReadWriteOnce model volume", d.Spec.Strategy.Type)
			}
			req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
			if !slices.ContainsFunc(sizes, func(s sizingRow) bool { return s.request.Equal(*req) && s.limit.Equal(*lim) }) {
				t.Errorf("memory request %s and limit %s are not a row of the README's sizing table %v", req, lim, sizes)
			}
			for _, name := range secretsReferenced(pod.Spec) {
				if !strings.Contains(string(readme), "`"+name+"`") {
					t.Errorf("Secret %s is used by the Deployment but not named in the README (how to create it)", name)
				}
			}
		})
	}
}

func checkModelVolume(t *testing.T, r *rendered, dir string) {
	t.Helper()
	if dir == "" {
		t.Errorf("no --model.dir: models are learned afresh at every start")
		return
	}
	spec := r.deployment.Spec.Template.Spec
	for _, m := range spec.Containers[0].VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.PersistentVolumeClaim == nil {
				t.Errorf("--model.dir %s is volume %s, not a PersistentVolumeClaim", dir, v.Name)
				return
			}
			if r.objects["PersistentVolumeClaim/"+r.deployment.Namespace+"/"+v.PersistentVolumeClaim.ClaimName] == nil {
				t.Errorf("claim %s is not rendered", v.PersistentVolumeClaim.ClaimName)
			}
			return
		}
	}
	t.Errorf("--model.dir %s is not a mounted volume", dir)
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("no HTTP %s probe", what)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probe on %s, want %s", what, p.HTTPGet.Path, path)
	}
	if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.HTTPGet.Port.String() }) {
		t.Errorf("%s probe on port %s, which the container does not name", what, p.HTTPGet.Port.String())
	}
}

func secretsReferenced(spec corev1.PodSpec) []string {
	var out []string
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			out = append(out, v.Secret.SecretName)
		}
	}
	for _, c := range spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return out
}

// sizingRow is a row of the README's sizing table.
type sizingRow struct {
	workloads      int
	request, limit resource.Quantity
}

// sizingTable reads the README's table under "### Sizing": workloads,
// measured figures, then the memory request and limit as quantities.
func sizingTable(t *testing.T, readme string) []sizingRow {
	t.Helper()
	_, after, ok := strings.Cut(readme, "### Sizing")
	if !ok {
		t.Fatal("README has no ### Sizing section")
	}
	var rows []sizingRow
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 {
				break // the sizing table ends; measurements without a size may follow
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) < 3 {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(cells[0]), ",", ""))
		if err != nil {
			continue // the header
		}
		req, err1 := resource.ParseQuantity(strings.Trim(cells[len(cells)-2], " `"))
		lim, err2 := resource.ParseQuantity(strings.Trim(cells[len(cells)-1], " `"))
		if err1 != nil || err2 != nil {
			t.Fatalf("sizing row %q: request and limit must be the last two columns: %v %v", line, err1, err2)
		}
		rows = append(rows, sizingRow{n, req, lim})
	}
	if len(rows) < 3 {
		t.Fatalf("README's sizing table has %d rows", len(rows))
	}
	return rows
}

func TestCalicoEnterpriseOverlayIsSelectedAndAdmitted(t *testing.T) {
	r := decodeOverlay(t, "overlays/calico-enterprise")
	// tigera/operator pkg/render/monitor/monitor.go: calico-node-prometheus
	// in tigera-prometheus, with no namespace selectors.
	if r.monitor.Namespace != "tigera-prometheus" || r.monitor.Labels["team"] != "network-operators" {
		t.Errorf("ServiceMonitor in %s labelled %v: Calico's Prometheus will not select it", r.monitor.Namespace, r.monitor.Labels)
	}
	if r.rule.Namespace != "tigera-prometheus" || r.rule.Labels["prometheus"] != "calico-node-prometheus" || r.rule.Labels["role"] != "tigera-prometheus-rules" {
		t.Errorf("PrometheusRule in %s labelled %v: Calico's Prometheus will not load it", r.rule.Namespace, r.rule.Labels)
	}
	pod := r.deployment.Spec.Template
	c := pod.Spec.Containers[0]
	var esURL string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--es.url="); ok {
			esURL = v
		}
	}
	if esURL != "https://tigera-secure-es-http.tigera-elasticsearch.svc:9200" {
		t.Errorf("--es.url=%q, want Calico's Elasticsearch service", esURL)
	}
	// Each flow the exporter needs is allowed by a policy of a tier
	// ordered before allow-tigera (100), selecting the right pods.
	type flow struct {
		name                   string
		policyNamespace, where string // the policy's namespace, and ingress or egress
		selects, peerNamespace string
		peerSelector           string
		port                   int
	}
	exporter := "app.kubernetes.io/name == '" + pod.Labels["app.kubernetes.io/name"] + "'"
	es := "elasticsearch.k8s.elastic.co/cluster-name == 'tigera-secure'"
	prom := "k8s-app == 'tigera-prometheus'"
	for _, f := range []flow{
		{"Elasticsearch admits the exporter", "tigera-elasticsearch", "Ingress", es, r.deployment.Namespace, exporter, 9200},
		{"Calico's Prometheus may scrape the exporter", "tigera-prometheus", "Egress", prom, r.deployment.Namespace, exporter, 9925},
		{"the exporter admits Calico's Prometheus", r.deployment.Namespace, "Ingress", exporter, "tigera-prometheus", prom, 9925},
		{"the exporter may reach Elasticsearch", r.deployment.Namespace, "Egress", exporter, "tigera-elasticsearch", es, 9200},
	} {
		if !allows(t, r, f.policyNamespace, f.where, f.selects, f.peerNamespace, f.peerSelector, f.port) {
			t.Errorf("%s: no policy in %s selecting %s allows %s from/to %s/%s on %d", f.name, f.policyNamespace, f.selects, f.where, f.peerNamespace, f.peerSelector, f.port)
		}
	}
	if r.service.Spec.Ports[0].Port != 9925 || c.Ports[0].ContainerPort != 9925 {
		t.Errorf("the policies admit port 9925, the pod serves %d", c.Ports[0].ContainerPort)
	}
	// A newcomer finds every name this overlay relies on in the README.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"team: network-operators", "prometheus: calico-node-prometheus", "role: tigera-prometheus-rules",
		"calico_anomaly_exporter", "deploy/overlays/calico-enterprise"}
	for tier := range r.tiers {
		names = append(names, tier)
	}
	for _, p := range r.policies {
		names = append(names, p.Name)
	}
	for _, n := range names {
		if !strings.Contains(string(readme), "`"+n+"`") {
			t.Errorf("%s is not named in the README", n)
		}
	}
	for _, p := range r.policies {
		n := len(p.Spec.Ingress) + len(p.Spec.Egress)
		last := func(rules []calicoRule) bool { return len(rules) == 0 || rules[len(rules)-1].Action == "Pass" }
		if n == 0 || !last(p.Spec.Ingress) || !last(p.Spec.Egress) {
			t.Errorf("policy %s does not end with Pass: it would deny what Tigera's policies allow", p.Name)
		}
	}
}

// allows reports whether a policy of a tier ordered before allow-tigera
// selects `selects` in namespace ns and allows traffic to or from
// peerSelector in peerNamespace on port.
func allows(t *testing.T, r *rendered, ns, where, selects, peerNamespace, peerSelector string, port int) bool {
	t.Helper()
	for _, p := range r.policies {
		tier := r.tiers[p.Spec.Tier]
		if p.Namespace != ns || p.Spec.Selector != selects || tier == nil || tier.Spec.Order == nil || *tier.Spec.Order >= 100 {
			continue
		}
		if !strings.HasPrefix(p.Name, p.Spec.Tier+".") {
			t.Errorf("policy %s of tier %s: Calico wants the tier's name as its prefix", p.Name, p.Spec.Tier)
		}
		if !slices.Contains(p.Spec.Types, where) {
			continue
		}
		rules := p.Spec.Ingress
		if where == "Egress" {
			rules = p.Spec.Egress
		}
		for _, rule := range rules {
			if rule.Action != "Allow" || rule.Protocol != "TCP" {
				continue
			}
			peer, dest := rule.Source, rule.Destination
			if where == "Egress" {
				peer = rule.Destination
			}
			if peer.Selector == peerSelector && peer.NamespaceSelector == "projectcalico.org/name == '"+peerNamespace+"'" && slices.Contains(dest.Ports, port) {
				return true
			}
		}
	}
	return false
}

// calicoTier and calicoNetworkPolicy mirror the projectcalico.org/v3 fields
// the manifests use (github.com/projectcalico/api is not on the module
// proxy here), so a misspelt field still fails the strict decoding.
type calicoTier struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Order *float64 `json:"order"`
	} `json:"spec"`
}

type calicoNetworkPolicy struct {
	APIVersion        string `json:"apiVersion"`
	Kind              string `json:"kind"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Tier     string       `json:"tier"`
		Order    *float64     `json:"order"`
		Selector string       `json:"selector"`
		Types    []string     `json:"types"`
		Ingress  []calicoRule `json:"ingress"`
		Egress   []calicoRule `json:"egress"`
	} `json:"spec"`
}

type calicoRule struct {
	Action      string           `json:"action"`
	Protocol    string           `json:"protocol"`
	Source      calicoEntityRule `json:"source"`
	Destination calicoEntityRule `json:"destination"`
}

type calicoEntityRule struct {
	Selector          string `json:"selector"`
	NamespaceSelector string `json:"namespaceSelector"`
	Ports             []int  `json:"ports"`
}

func TestKubePrometheusStackOverlayIsSelected(t *testing.T) {
	r := decodeOverlay(t, "overlays/kube-prometheus-stack")
	if r.monitor.Labels["release"] != "kube-prometheus-stack" || r.rule.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v, PrometheusRule labels %v: the chart's Prometheus selects release=kube-prometheus-stack", r.monitor.Labels, r.rule.Labels)
	}
	for key, v := range r.objects {
		if cm, ok := v.(*corev1.ConfigMap); ok && strings.HasPrefix(key, "ConfigMap/") && cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("%s: the chart's Grafana sidecar loads ConfigMaps labelled grafana_dashboard=1", key)
		}
	}
}

// TestElasticsearchRoleCoversTheIndices checks the least-privilege role
// against the index names the exporter reads and writes, in both layouts
// and with a tenant: read (and resolve) the logs, create documents in the
// events index, nothing more.
func TestElasticsearchRoleCoversTheIndices(t *testing.T) {
	raw, err := os.ReadFile("overlays/calico-enterprise/elasticsearch-role.json")
	if err != nil {
		t.Fatal(err)
	}
	var role struct {
		Cluster []string `json:"cluster"`
		Indices []struct {
			Names      []string `json:"names"`
			Privileges []string `json:"privileges"`
		} `json:"indices"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&role); err != nil {
		t.Fatalf("elasticsearch-role.json: %v", err)
	}
	if len(role.Cluster) > 0 {
		t.Errorf("cluster privileges %v: the exporter needs none", role.Cluster)
	}
	granted := func(index string) []string {
		var out []string
		for _, ip := range role.Indices {
			for _, n := range ip.Names {
				if ok, _ := path.Match(n, index); ok {
					out = append(out, ip.Privileges...)
				}
			}
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, n := range []calicolog.IndexNaming{
		{Layout: calicolog.LayoutLegacy, Cluster: "cluster"},
		{Layout: calicolog.LayoutLegacy, Cluster: "prod-eu", Tenant: "acme"},
		{Layout: calicolog.LayoutSingle, Cluster: "cluster"},
	} {
		for _, lt := range calicolog.LogTypes {
			for _, index := range []string{strings.TrimSuffix(n.SearchIndex(lt), "*") + "x", n.WriteIndex(lt, day)} {
				if got := granted(index); !slices.Equal(got, []string{"read", "view_index_metadata"}) {
					t.Errorf("%s logs index %s: privileges %v, want read and view_index_metadata", lt, index, got)
				}
			}
		}
		if got := granted(n.EventsIndex()); !slices.Equal(got, []string{"create_doc"}) {
			t.Errorf("events index %s: privileges %v, want create_doc alone", n.EventsIndex(), got)
		}
	}
	if got := granted("kibana_sample_data"); len(got) > 0 {
		t.Errorf("an unrelated index is granted %v", got)
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
