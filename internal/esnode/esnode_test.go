package esnode

import (
	"net/http"
	"strings"
	"testing"
)

func TestNodeAnswersAndRecords(t *testing.T) {
	url, requests := Start(t, func(t *testing.T, n int, req Request) (int, []byte) {
		if n == 0 {
			return http.StatusOK, []byte(`{"took":1}`)
		}
		return http.StatusNotFound, []byte(`{"error":"gone"}`)
	})
	for i, want := range []int{http.StatusOK, http.StatusNotFound} {
		res, err := http.Post(url+"/idx/_search?size=0", "application/json", strings.NewReader(`{"query":{"match_all":{}}}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want || res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			t.Errorf("request %d: status %d, product header %q; want %d and Elasticsearch", i, res.StatusCode, res.Header.Get("X-Elastic-Product"), want)
		}
	}
	got := requests()
	if len(got) != 2 || got[0].Method != http.MethodPost || got[0].Path != "/idx/_search" || got[0].Query["size"][0] != "0" {
		t.Fatalf("recorded %+v", got)
	}
	if _, ok := got[1].Body["query"]; !ok {
		t.Errorf("body not recorded: %+v", got[1].Body)
	}
}
