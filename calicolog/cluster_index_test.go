package calicolog

import (
	"strings"
	"testing"
	"time"
)

func TestLegacyClusterOfIndex(t *testing.T) {
	for _, tc := range []struct {
		t       LogType
		tenant  string
		index   string
		want    string
		wantOK  bool
		comment string
	}{
		{Flows, "", "tigera_secure_ee_flows.cluster.fluentd.20261120", "cluster", true, "daily index as the simulator writes it"},
		{Flows, "", "tigera_secure_ee_flows.prod-eu.20261120", "prod-eu", true, "daily index without fluentd"},
		{Flows, "", "tigera_secure_ee_flows.prod-eu.linseed-000001", "prod-eu", true, "rollover index"},
		{Flows, "", "tigera_secure_ee_flows.prod-eu.fluentd-000012", "prod-eu", true, "older rollover index"},
		{Flows, "", "tigera_secure_ee_flows.prod-eu.", "prod-eu", true, "write alias"},
		{Flows, "", ".ds-tigera_secure_ee_flows.prod-eu.linseed-2026.11.20-000001", "prod-eu", true, "backing index of a data stream"},
		{Flows, "", "tigera_secure_ee_flows.prod-eu.lma", "prod-eu", true, "unknown suffix: the last part goes"},
		{Flows, "", "tigera_secure_ee_flows.prod..fluentd.20261120", "", false, "cluster ending in a dot"},
		{Flows, "", "tigera_secure_ee_flows.eu.prod.fluentd.20261120", "eu.prod", true, "a dotted cluster name kept whole"},
		{Flows, "", "tigera_secure_ee_flows.eu.prod.linseed-000001", "eu.prod", true, "a dotted cluster name, rollover"},
		{Flows, "acme", "tigera_secure_ee_flows.acme.prod.fluentd.20261120", "prod", true, "tenant"},
		{Flows, "acme", "tigera_secure_ee_flows.other.prod.fluentd.20261120", "", false, "another tenant"},
		{Flows, "", "tigera_secure_ee_dns.prod.fluentd.20261120", "", false, "another log type"},
		{Flows, "", "tigera_secure_ee_flows.prod", "", false, "no suffix"},
		{Flows, "", "tigera_secure_ee_flows.", "", false, "nothing after the prefix"},
		{Flows, "", "tigera_secure_ee_flows..fluentd.20261120", "", false, "empty cluster"},
		{Flows, "", "tigera_secure_ee_events.prod.lma", "", false, "events"},
		{Flows, "", "calico_flowlogs", "", false, "single layout"},
		{DNS, "", "tigera_secure_ee_dns.c1.fluentd.20261120", "c1", true, "dns"},
	} {
		t.Run(tc.comment, func(t *testing.T) {
			got, ok := LegacyClusterOfIndex(tc.t, tc.tenant, tc.index)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("LegacyClusterOfIndex(%s, %q, %q) = %q, %t; want %q, %t", tc.t, tc.tenant, tc.index, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// An index written for a cluster is read back as that cluster.
func TestLegacyClusterOfIndexReadsWriteIndex(t *testing.T) {
	for _, n := range []IndexNaming{
		{Layout: LayoutLegacy, Cluster: "cluster"},
		{Layout: LayoutLegacy, Cluster: "eu.prod-1"},
		{Layout: LayoutLegacy, Cluster: "c", Tenant: "acme"},
	} {
		for _, lt := range LogTypes {
			index := n.WriteIndex(lt, time.Date(2026, 11, 20, 13, 0, 0, 0, time.UTC))
			if got, ok := LegacyClusterOfIndex(lt, n.Tenant, index); !ok || got != n.Cluster {
				t.Errorf("%s: cluster %q %t, want %q", index, got, ok, n.Cluster)
			}
			if !MatchClusterPattern("*", n.Cluster) {
				t.Errorf("* does not match %q", n.Cluster)
			}
		}
	}
}

func TestClusterPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		wantErr string
		matches []string
		misses  []string
	}{
		{"*", "", []string{"a", "prod-1", "eu.prod"}, nil},
		{"prod-*", "", []string{"prod-", "prod-eu", "prod-eu.x"}, []string{"staging", "xprod-1"}},
		{"*-eu", "", []string{"prod-eu"}, []string{"prod-us"}},
		{"cluster", "", []string{"cluster"}, []string{"cluster2"}},
		{"", "empty", nil, nil},
		{"a,b", "want a lowercase", nil, nil},
		{"prod-?", "want a lowercase", nil, nil},
		{"Prod", "want a lowercase", nil, nil},
		{"[ab]", "want a lowercase", nil, nil},
		{"-prod", "cannot start", nil, nil},
		{"a b", "want a lowercase", nil, nil},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			err := ValidateClusterPattern(tc.pattern)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ValidateClusterPattern(%q) = %v, want %q", tc.pattern, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.matches {
				if !MatchClusterPattern(tc.pattern, c) {
					t.Errorf("%q does not match %q", tc.pattern, c)
				}
			}
			for _, c := range tc.misses {
				if MatchClusterPattern(tc.pattern, c) {
					t.Errorf("%q matches %q", tc.pattern, c)
				}
			}
		})
	}
	if got, want := LegacyIndexPattern(Flows, "acme", "prod-*"), "tigera_secure_ee_flows.acme.prod-*.*"; got != want {
		t.Errorf("LegacyIndexPattern = %q, want %q", got, want)
	}
	if got, want := LegacyIndexPattern(Flows, "", "*"), "tigera_secure_ee_flows.*.*"; got != want {
		t.Errorf("LegacyIndexPattern = %q, want %q", got, want)
	}
}

// Index names come from Elasticsearch: whatever they are, a cluster read
// out of one is non-empty, part of the name, and usable in an index name.
func FuzzLegacyClusterOfIndex(f *testing.F) {
	for _, s := range []string{"tigera_secure_ee_flows.cluster.fluentd.20261120", "tigera_secure_ee_flows.acme.c.", "tigera_secure_ee_flows.a.b.c.d", ".ds-tigera_secure_ee_flows.x.1", "tigera_secure_ee_flows..."} {
		f.Add(s, "")
		f.Add(s, "acme")
	}
	f.Fuzz(func(t *testing.T, index, tenant string) {
		c, ok := LegacyClusterOfIndex(Flows, tenant, index)
		if !ok {
			if c != "" {
				t.Fatalf("%q: cluster %q with false", index, c)
			}
			return
		}
		if c == "" || !strings.Contains(index, c) || strings.ContainsAny(c, ` ,*?"<>|\/#:`) {
			t.Fatalf("%q (tenant %q): cluster %q", index, tenant, c)
		}
	})
}
