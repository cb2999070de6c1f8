package elastic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// discoverPageSize is how many clusters one page of the single layout's
// composite aggregation holds.
const discoverPageSize = 500

// DiscoverClusters lists the Calico clusters whose flow logs the
// Elasticsearch holds and whose names match the glob pattern ("*" for
// all, "prod-*"; see calicolog.ValidateClusterPattern), sorted.
//
// With the legacy layout it resolves the index expression
// tigera_secure_ee_flows.[<tenant>.]<pattern>.* (GET _resolve/index; the
// tenant is the client's naming's) and reads the cluster out of each
// index, alias and data stream name (calicolog.LegacyClusterOfIndex).
// With the single layout it collects the values of the cluster field of
// calico_flowlogs with a terms (composite, paged) aggregation. Clusters
// that only have DNS or L7 logs are not found: every Calico cluster
// writes flow logs.
func (c *Client) DiscoverClusters(ctx context.Context, layout calicolog.Layout, pattern string) ([]string, error) {
	if _, err := calicolog.ParseLayout(string(layout)); err != nil {
		return nil, fmt.Errorf("discover clusters: %w", err)
	}
	if err := calicolog.ValidateClusterPattern(pattern); err != nil {
		return nil, fmt.Errorf("discover clusters: %w", err)
	}
	if layout == calicolog.LayoutSingle {
		return c.discoverSingle(ctx, pattern)
	}
	return c.discoverLegacy(ctx, pattern)
}

// resolveIndexResponse is the answer to GET _resolve/index/<expression>.
type resolveIndexResponse struct {
	Indices []struct {
		Name string `json:"name"`
	} `json:"indices"`
	Aliases []struct {
		Name string `json:"name"`
	} `json:"aliases"`
	DataStreams []struct {
		Name string `json:"name"`
	} `json:"data_streams"`
}

func (c *Client) discoverLegacy(ctx context.Context, pattern string) ([]string, error) {
	tenant := c.Naming().Tenant
	expr := calicolog.LegacyIndexPattern(calicolog.Flows, tenant, pattern)
	req := esapi.IndicesResolveIndexRequest{Name: []string{expr}, ExpandWildcards: "open"}
	var res resolveIndexResponse
	if err := c.Do(ctx, "discover clusters: resolve "+expr, req, &res); err != nil {
		var ee *Error
		if errors.As(err, &ee) && ee.Status == http.StatusNotFound {
			return []string{}, nil // no index matches
		}
		return nil, err
	}
	return clustersOfIndices(res, tenant, pattern), nil
}

// clustersOfIndices reads the clusters out of the names resolved.
func clustersOfIndices(res resolveIndexResponse, tenant, pattern string) []string {
	seen := map[string]bool{}
	add := func(name string) {
		if c, ok := calicolog.LegacyClusterOfIndex(calicolog.Flows, tenant, name); ok && calicolog.MatchClusterPattern(pattern, c) {
			seen[c] = true
		}
	}
	for _, x := range res.Indices {
		add(x.Name)
	}
	for _, x := range res.Aliases {
		add(x.Name)
	}
	for _, x := range res.DataStreams {
		add(x.Name)
	}
	return sortedKeys(seen)
}

// clusterTermsResponse is the answer to the single layout's aggregation.
type clusterTermsResponse struct {
	SearchHeader
	Aggregations struct {
		Clusters *struct {
			AfterKey map[string]any `json:"after_key"`
			Buckets  []struct {
				Key struct {
					Cluster any `json:"cluster"`
				} `json:"key"`
			} `json:"buckets"`
		} `json:"clusters"`
	} `json:"aggregations"`
}

// CheckAnswer implements SearchAnswer.
func (r *clusterTermsResponse) CheckAnswer() error {
	return r.CheckSearch(map[string]bool{"clusters": r.Aggregations.Clusters != nil})
}

func (c *Client) discoverSingle(ctx context.Context, pattern string) ([]string, error) {
	index := calicolog.IndexNaming{Layout: calicolog.LayoutSingle}.SearchIndex(calicolog.Flows)
	field := "cluster"
	var query any = map[string]any{"exists": map[string]any{"field": field}}
	if pattern != "*" {
		query = map[string]any{"wildcard": map[string]any{field: map[string]any{"value": pattern}}}
	}
	seen := map[string]bool{}
	var after map[string]any
	for page := 1; ; page++ {
		composite := map[string]any{
			"size":    discoverPageSize,
			"sources": []any{map[string]any{"cluster": map[string]any{"terms": map[string]any{"field": field}}}},
		}
		if after != nil {
			composite["after"] = after
		}
		body := map[string]any{
			"size": 0, "track_total_hits": false, "query": query,
			"aggs": map[string]any{"clusters": map[string]any{"composite": composite}},
		}
		var res clusterTermsResponse
		if err := c.Search(ctx, fmt.Sprintf("discover clusters: aggregate %s.%s (page %d)", index, field, page), index, body, &res); err != nil {
			return nil, err
		}
		agg := res.Aggregations.Clusters
		if agg == nil {
			break
		}
		for _, b := range agg.Buckets {
			c, ok := b.Key.Cluster.(string)
			if !ok {
				return nil, fmt.Errorf("discover clusters: %s.%s holds a %T key %v; want a keyword", index, field, b.Key.Cluster, b.Key.Cluster)
			}
			if c != "" && calicolog.MatchClusterPattern(pattern, c) {
				seen[c] = true
			}
		}
		if len(agg.Buckets) < discoverPageSize || len(agg.AfterKey) == 0 {
			break
		}
		after = agg.AfterKey
	}
	return sortedKeys(seen), nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
