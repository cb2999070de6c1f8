package elastic

import (
	"bytes"
	"context"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/calico-anomaly-exporter/calico-anomaly-exporter/calicolog"
)

// EnsureTemplates installs the index templates of the flow, DNS, L7 and
// events indices for the client's naming.
func (c *Client) EnsureTemplates(ctx context.Context) error {
	n := c.cfg.Naming
	for _, kind := range calicolog.MappingKinds {
		body, err := calicolog.IndexTemplate(n, kind)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("calico-anomaly-%s-%s-%s", n.Layout, kind, n.Cluster)
		if n.Tenant != "" {
			name += "-" + n.Tenant
		}
		if n.Layout == calicolog.LayoutSingle {
			name = fmt.Sprintf("calico-anomaly-%s-%s", n.Layout, kind)
		}
		req := esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}
		if err := c.Do(ctx, "put index template "+name, req, nil); err != nil {
			return err
		}
	}
	return nil
}

// Refresh makes everything written to the indices matching pattern
// searchable.
func (c *Client) Refresh(ctx context.Context, pattern string) error {
	yes := true
	req := esapi.IndicesRefreshRequest{Index: []string{pattern}, IgnoreUnavailable: &yes, AllowNoIndices: &yes}
	return c.Do(ctx, "refresh "+pattern, req, nil)
}
