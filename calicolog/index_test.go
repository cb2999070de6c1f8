package calicolog

import (
	"encoding/json"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	legacyNaming     = IndexNaming{Layout: LayoutLegacy, Cluster: "cluster"}
	tenantNaming     = IndexNaming{Layout: LayoutLegacy, Cluster: "prod-eu", Tenant: "acme"}
	singleNaming     = IndexNaming{Layout: LayoutSingle, Cluster: "prod-eu"}
	namingsUnderTest = []struct {
		name   string
		naming IndexNaming
	}{
		{"legacy layout", legacyNaming},
		{"legacy layout with a tenant", tenantNaming},
		{"single-index layout", singleNaming},
	}
	// A day that is still 2023-02-03 in New York but 2023-02-04 in UTC.
	writeDay = time.Date(2023, 2, 3, 21, 0, 0, 0, time.FixedZone("EST", -5*3600))
)

func TestIndexNamingNames(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"legacy flows are searched across days", legacyNaming.SearchIndex(Flows), "tigera_secure_ee_flows.cluster.*"},
		{"legacy DNS logs are searched across days", legacyNaming.SearchIndex(DNS), "tigera_secure_ee_dns.cluster.*"},
		{"legacy L7 logs are searched across days", legacyNaming.SearchIndex(L7), "tigera_secure_ee_l7.cluster.*"},
		{"legacy flows are written to the UTC day's index", legacyNaming.WriteIndex(Flows, writeDay), "tigera_secure_ee_flows.cluster.fluentd.20230204"},
		{"legacy events go to the lma index", legacyNaming.EventsIndex(), "tigera_secure_ee_events.cluster.lma"},
		{"a legacy flow template covers every day", legacyNaming.TemplatePattern("flows"), "tigera_secure_ee_flows.cluster.*"},
		{"a legacy events template covers the events index", legacyNaming.TemplatePattern("events"), "tigera_secure_ee_events.cluster.lma"},

		{"a tenant comes before the cluster in searches", tenantNaming.SearchIndex(Flows), "tigera_secure_ee_flows.acme.prod-eu.*"},
		{"a tenant comes before the cluster in writes", tenantNaming.WriteIndex(L7, writeDay), "tigera_secure_ee_l7.acme.prod-eu.fluentd.20230204"},
		{"a tenant comes before the cluster in events", tenantNaming.EventsIndex(), "tigera_secure_ee_events.acme.prod-eu.lma"},
		{"a tenant's DNS template", tenantNaming.TemplatePattern("dns"), "tigera_secure_ee_dns.acme.prod-eu.*"},
		{"a tenant's events template", tenantNaming.TemplatePattern("events"), "tigera_secure_ee_events.acme.prod-eu.lma"},

		{"single-layout flows", singleNaming.SearchIndex(Flows), "calico_flowlogs"},
		{"single-layout DNS logs", singleNaming.SearchIndex(DNS), "calico_dnslogs"},
		{"single-layout L7 logs", singleNaming.SearchIndex(L7), "calico_l7logs"},
		{"single-layout writes go to the same index every day", singleNaming.WriteIndex(Flows, writeDay), "calico_flowlogs"},
		{"single-layout events go to calico_alerts", singleNaming.EventsIndex(), "calico_alerts"},
		{"a single-layout flow template", singleNaming.TemplatePattern("flows"), "calico_flowlogs*"},
		{"a single-layout events template", singleNaming.TemplatePattern("events"), "calico_alerts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestIndexNamingWritesWhereItSearches(t *testing.T) {
	for _, n := range namingsUnderTest {
		for _, lt := range LogTypes {
			t.Run(n.name+" "+string(lt), func(t *testing.T) {
				write := n.naming.WriteIndex(lt, writeDay)
				for _, pattern := range []string{n.naming.SearchIndex(lt), n.naming.TemplatePattern(string(lt))} {
					if ok, err := path.Match(pattern, write); err != nil || !ok {
						t.Errorf("index %q is not matched by %q", write, pattern)
					}
				}
			})
		}
	}
}

func TestIndexNamingClusterFilter(t *testing.T) {
	tests := []struct {
		name      string
		naming    IndexNaming
		wantField string
		wantValue string
		wantOK    bool
	}{
		{"the legacy layout needs none: the cluster is in the index name", legacyNaming, "", "", false},
		{"a tenant needs none either", tenantNaming, "", "", false},
		{"the single layout filters on the cluster keyword", singleNaming, "cluster", "prod-eu", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			field, value, ok := tc.naming.ClusterFilter()
			if field != tc.wantField || value != tc.wantValue || ok != tc.wantOK {
				t.Errorf("ClusterFilter() = %q, %q, %v; want %q, %q, %v", field, value, ok, tc.wantField, tc.wantValue, tc.wantOK)
			}
		})
	}
}

func TestIndexNamingValidate(t *testing.T) {
	tests := []struct {
		name    string
		naming  IndexNaming
		wantErr string // "" for valid
	}{
		{"Calico's default cluster name", IndexNaming{Layout: LayoutLegacy, Cluster: "cluster"}, ""},
		{"a cluster with dashes, dots and digits", IndexNaming{Layout: LayoutLegacy, Cluster: "prod-eu.west_1"}, ""},
		{"a tenant and a cluster", tenantNaming, ""},
		{"the single layout", singleNaming, ""},
		{"an uppercase cluster", IndexNaming{Layout: LayoutLegacy, Cluster: "Prod"}, `cluster name "Prod"`},
		{"an uppercase tenant", IndexNaming{Layout: LayoutLegacy, Cluster: "prod", Tenant: "ACME"}, `tenant name "ACME"`},
		{"a cluster with a space", IndexNaming{Layout: LayoutLegacy, Cluster: "my cluster"}, `cluster name "my cluster"`},
		{"a cluster that is a wildcard", IndexNaming{Layout: LayoutLegacy, Cluster: "*"}, `cluster name "*"`},
		{"a cluster with a wildcard inside", IndexNaming{Layout: LayoutSingle, Cluster: "prod*"}, `cluster name "prod*"`},
		{"a cluster list", IndexNaming{Layout: LayoutLegacy, Cluster: "a,b"}, `cluster name "a,b"`},
		{"a cluster with a slash", IndexNaming{Layout: LayoutLegacy, Cluster: "eu/prod"}, `cluster name "eu/prod"`},
		{"a cluster with a colon (remote cluster syntax)", IndexNaming{Layout: LayoutLegacy, Cluster: "remote:prod"}, `cluster name "remote:prod"`},
		{"an empty cluster", IndexNaming{Layout: LayoutLegacy}, "cluster name is empty"},
		{"an empty cluster in the single layout", IndexNaming{Layout: LayoutSingle}, "cluster name is empty"},
		{"no layout", IndexNaming{Cluster: "cluster"}, `unknown index layout ""`},
		{"a layout in capitals", IndexNaming{Layout: "Legacy", Cluster: "cluster"}, `unknown index layout "Legacy"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.naming.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("Validate() = nil, want an error naming %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("Validate() = %q, want it to name %s", err, tc.wantErr)
			}
		})
	}
}

func TestParseLayout(t *testing.T) {
	tests := []struct {
		in      string
		want    Layout
		wantErr bool
	}{
		{"legacy", LayoutLegacy, false},
		{"single", LayoutSingle, false},
		{"", "", true},
		{"Legacy", "", true},
		{"multi", "", true},
		{" single", "", true},
	}
	for _, tc := range tests {
		t.Run("layout "+tc.in, func(t *testing.T) {
			got, err := ParseLayout(tc.in)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("ParseLayout(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), `"`+tc.in+`"`) || !strings.Contains(err.Error(), "legacy or single")) {
				t.Errorf("error %q does not name %q and the choices", err, tc.in)
			}
		})
	}
}

func TestParseLogType(t *testing.T) {
	tests := []struct {
		in      string
		want    LogType
		wantErr bool
	}{
		{"flows", Flows, false},
		{"dns", DNS, false},
		{"l7", L7, false},
		{"flow", "", true},
		{"DNS", "", true},
		{"events", "", true},
		{"", "", true},
	}
	for _, tc := range tests {
		t.Run("log type "+tc.in, func(t *testing.T) {
			got, err := ParseLogType(tc.in)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("ParseLogType(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), `"`+tc.in+`"`) || !strings.Contains(err.Error(), "flows, dns or l7")) {
				t.Errorf("error %q does not name %q and the choices", err, tc.in)
			}
		})
	}
}

func TestLogTypesAreListedInOrderAndEndAtEndTime(t *testing.T) {
	if want := []LogType{Flows, DNS, L7}; !reflect.DeepEqual(LogTypes, want) {
		t.Errorf("LogTypes = %v, want %v", LogTypes, want)
	}
	for _, lt := range LogTypes {
		if got := lt.EndField(); got != "end_time" {
			t.Errorf("%s.EndField() = %q, want end_time", lt, got)
		}
	}
}

func TestMappingUnknownKind(t *testing.T) {
	for _, kind := range []string{"nope", "", "../doc.go", "flows.json"} {
		t.Run("kind "+kind, func(t *testing.T) {
			b, err := Mapping(kind)
			if err == nil {
				t.Fatalf("Mapping(%q) = %s, want an error", kind, b)
			}
			if !strings.Contains(err.Error(), `"`+kind+`"`) || !strings.Contains(err.Error(), strings.Join(MappingKinds, ", ")) {
				t.Errorf("error %q does not name %q and the kinds", err, kind)
			}
			if _, err := IndexTemplate(legacyNaming, kind); err == nil {
				t.Errorf("IndexTemplate(%q) made a template for an unknown kind", kind)
			}
		})
	}
}

// mappingProperty returns the mapping of the field at dotted path in kind's
// mapping.
func mappingProperty(t *testing.T, kind, field string) map[string]any {
	t.Helper()
	b, err := Mapping(kind)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("mapping %s is not JSON: %v", kind, err)
	}
	for _, part := range strings.Split(field, ".") {
		props, _ := m["properties"].(map[string]any)
		m, _ = props[part].(map[string]any)
		if m == nil {
			t.Fatalf("mapping %s has no field %s", kind, field)
		}
	}
	return m
}

// TestMappingMirrorsCalico checks the facts CALICO.md lists about Calico's
// own mappings.
func TestMappingMirrorsCalico(t *testing.T) {
	tests := []struct {
		name  string
		kind  string
		field string
		want  map[string]any // keys that must have these values; nil means absent
	}{
		{"flow times are epoch seconds", "flows", "end_time", map[string]any{"type": "date", "format": "epoch_second"}},
		{"flow start times are epoch seconds", "flows", "start_time", map[string]any{"type": "date", "format": "epoch_second"}},
		{"L7 times are epoch seconds", "l7", "end_time", map[string]any{"type": "date", "format": "epoch_second"}},
		{"DNS times are RFC 3339 dates", "dns", "end_time", map[string]any{"type": "date", "format": nil}},
		{"event times take ISO 8601 or epoch seconds", "events", "time", map[string]any{"type": "date", "format": "strict_date_optional_time||epoch_second"}},
		{"a null source IP indexes as 0.0.0.0", "flows", "source_ip", map[string]any{"type": "ip", "null_value": "0.0.0.0"}},
		{"a null destination port indexes as 0", "flows", "dest_port", map[string]any{"type": "long", "null_value": float64(0)}},
		{"flow labels are nested", "flows", "source_labels", map[string]any{"type": "nested"}},
		{"flow policies are nested", "flows", "policies", map[string]any{"type": "nested"}},
		{"DNS servers are nested", "dns", "servers", map[string]any{"type": "nested"}},
		{"DNS answers are nested", "dns", "rrsets", map[string]any{"type": "nested"}},
		{"a flow's cluster is a keyword for the single layout", "flows", "cluster", map[string]any{"type": "keyword"}},
		{"source.ip is an ECS alias", "flows", "source.ip", map[string]any{"type": "alias", "path": "source_ip"}},
		{"dns.question.name is an ECS alias", "dns", "dns.question.name", map[string]any{"type": "alias", "path": "qname"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mappingProperty(t, tc.kind, tc.field)
			for k, want := range tc.want {
				if got, ok := p[k]; (want == nil && ok) || (want != nil && !reflect.DeepEqual(got, want)) {
					t.Errorf("%s %s: %s = %v, want %v", tc.kind, tc.field, k, got, want)
				}
			}
		})
	}
}

func TestIndexTemplate(t *testing.T) {
	for _, n := range namingsUnderTest {
		for _, kind := range MappingKinds {
			t.Run(n.name+" "+kind+" template is valid JSON covering its indices and keeping malformed values", func(t *testing.T) {
				b, err := IndexTemplate(n.naming, kind)
				if err != nil {
					t.Fatal(err)
				}
				var tmpl struct {
					IndexPatterns []string `json:"index_patterns"`
					Priority      int      `json:"priority"`
					Template      struct {
						Settings map[string]any `json:"settings"`
						Mappings map[string]any `json:"mappings"`
					} `json:"template"`
				}
				dec := json.NewDecoder(strings.NewReader(string(b)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&tmpl); err != nil {
					t.Fatalf("template is not the JSON of a composable index template: %v\n%s", err, b)
				}
				if want := []string{n.naming.TemplatePattern(kind)}; !reflect.DeepEqual(tmpl.IndexPatterns, want) {
					t.Errorf("index_patterns = %q, want %q", tmpl.IndexPatterns, want)
				}
				if got := tmpl.Template.Settings["index.mapping.ignore_malformed"]; got != true {
					t.Errorf("settings index.mapping.ignore_malformed = %v, want true", got)
				}
				if tmpl.Priority <= 0 {
					t.Errorf("priority = %d, want one above the built-in templates' 0", tmpl.Priority)
				}
				raw, err := Mapping(kind)
				if err != nil {
					t.Fatal(err)
				}
				var want map[string]any
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(tmpl.Template.Mappings, want) {
					t.Errorf("template mappings differ from Mapping(%q)", kind)
				}
				if got := want["dynamic"]; got != false {
					t.Errorf("mapping %s: dynamic = %v, want false as Calico's", kind, got)
				}
			})
		}
	}
}

func TestIndexLogType(t *testing.T) {
	tests := []struct {
		name   string
		index  string
		want   LogType
		wantOK bool
	}{
		{"a legacy daily flows index", "tigera_secure_ee_flows.cluster.fluentd.20240304", Flows, true},
		{"a legacy DNS index with a tenant", "tigera_secure_ee_dns.acme.prod-eu.fluentd.20240304", DNS, true},
		{"a legacy L7 index", "tigera_secure_ee_l7.cluster.fluentd.20240304", L7, true},
		{"the single flows index", "calico_flowlogs", Flows, true},
		{"a rolled-over single DNS index", "calico_dnslogs-000002", DNS, true},
		{"the single L7 index", "calico_l7logs", L7, true},
		{"a data stream's backing index", ".ds-calico_flowlogs-2024.03.04-000001", Flows, true},
		{"the legacy events index", "tigera_secure_ee_events.cluster.lma", "", false},
		{"the single alerts index", "calico_alerts", "", false},
		{"an audit index", "tigera_secure_ee_audit_kube.cluster.fluentd.20240304", "", false},
		{"a look-alike single index", "calico_flowlogsx", "", false},
		{"an unrelated index", "logs-nginx", "", false},
		{"an empty name", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := IndexLogType(tt.index)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("IndexLogType(%q) = %q, %v; want %q, %v", tt.index, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	// Every index the namings write reads back as its log type.
	for _, n := range namingsUnderTest {
		for _, lt := range LogTypes {
			if got, ok := IndexLogType(n.naming.WriteIndex(lt, writeDay)); got != lt || !ok {
				t.Errorf("%s: %s reads as %q, %v", n.name, n.naming.WriteIndex(lt, writeDay), got, ok)
			}
		}
	}
}
