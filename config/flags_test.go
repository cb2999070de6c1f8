package config

import (
	"reflect"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestFlagsSet(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"nothing given", nil, nil, map[string]string{}},
		{"values, a negated boolean and a repeated flag",
			[]string{"--search.interval=10m", "--no-detector.port-scan", "--es.url", "http://a:9200", "--es.url=http://b:9200"}, nil,
			map[string]string{"search.interval": "10m", "detector.port-scan": "false", "es.url": "http://a:9200,http://b:9200"}},
		{"a boolean turned on", []string{"--detector.bytes-in"}, nil, map[string]string{"detector.bytes-in": "true"}},
		{"a value from the environment is not a flag", []string{"--source.bucket=5m"}, map[string]string{"CLUSTER_NAME": "east"},
			map[string]string{"source.bucket": "5m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			app := kingpin.New("test", "")
			app.Flag("search.interval", "").Default("5m").Duration()
			app.Flag("source.bucket", "").Default("5m").Duration()
			app.Flag("es.url", "").Default("http://localhost:9200").Strings()
			app.Flag("es.cluster", "").Envar("CLUSTER_NAME").Default("cluster").String()
			app.Flag("detector.port-scan", "").Default("true").Bool()
			app.Flag("detector.bytes-in", "").Default("false").Bool()
			ctx, err := app.ParseContext(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := FlagsSet(ctx); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FlagsSet = %v, want %v", got, tt.want)
			}
		})
	}
}
