package source

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzPageDecodesLikeEncodingJSON: for any bytes, DecodeAnswer accepts
// exactly what encoding/json accepts as a composite page, and gives the
// same took, timed_out, _shards, after_key and buckets.
func FuzzPageDecodesLikeEncodingJSON(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no recorded answers in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"TOOK":3,"took":4,"Aggregations":{"GROUPS":{"buckets":[null,{"key":{"k0":"a"}}]},"groups":{"After_Key":{"k0":1}}},"timed_out":null}`))
	f.Add([]byte(`{"aggregations":{"groups":{"buckets":[]}},"_shards":{"total":1,"failed":0}} `))
	f.Add([]byte(`{"took":1.5}`))
	f.Add([]byte(`{"x":[01]}`))
	for _, seed := range []string{
		`{"took":1} x`, `{"aggregations":5}`, `{"aggregations":{"groups":{"buckets":{}}}}`, `{"a":"\u00zz"}`, `{"a":tru}`,
		"{\"a\":\"\x01\"}", `{"a":[[[],{}],-0.0e+1,"\ud800"]}`, `{"took":-0}`, `{"timed_out":1}`, `{"aggregations":{"groups":{"buckets":[1,"a",[]]}}}`,
		`{"took":9223372036854775808}`, `{"aggregations":{"groups":{"after_key":{"k0":1},"after_key":{"k1":2}}}}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var plain, fast compositeResponse
		plainErr := json.Unmarshal(data, &plain)
		fastErr := fast.DecodeAnswer(data)
		if (plainErr != nil) != (fastErr != nil) {
			t.Fatalf("%q: encoding/json error %v, DecodeAnswer error %v", data, plainErr, fastErr)
		}
		if plainErr != nil {
			return
		}
		if plain.Took != fast.Took || plain.TimedOut != fast.TimedOut || !reflect.DeepEqual(plain.Shards, fast.Shards) {
			t.Fatalf("%q: header %+v, DecodeAnswer %+v", data, plain.SearchHeader, fast.SearchHeader)
		}
		pg, fg := plain.Aggregations.Groups, fast.Aggregations.Groups
		if (pg == nil) != (fg == nil) {
			t.Fatalf("%q: groups %v, DecodeAnswer %v", data, pg, fg)
		}
		if pg == nil {
			return
		}
		if !reflect.DeepEqual(pg.AfterKey, fg.AfterKey) || len(pg.Buckets) != len(fg.Buckets) || (pg.Buckets == nil) != (fg.Buckets == nil) {
			t.Fatalf("%q: groups %+v, DecodeAnswer %+v", data, pg, fg)
		}
		for i := range pg.Buckets {
			if string(pg.Buckets[i].raw) != string(fg.Buckets[i].raw) || (pg.Buckets[i].raw == nil) != (fg.Buckets[i].raw == nil) {
				t.Fatalf("%q: bucket %d %q, DecodeAnswer %q", data, i, pg.Buckets[i].raw, fg.Buckets[i].raw)
			}
		}
	})
}
