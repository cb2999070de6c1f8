package calicolog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// addTestdataSeeds seeds f with every recorded document under testdata/,
// of every kind: a flow log is a fine mutation start for a DNS fuzzer.
func addTestdataSeeds(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkRoundTrip is the property every decoder keeps: a document that
// decodes re-encodes with json.Marshal, and that encoding decodes again to
// an equal value. same puts into a and b the parts that are equal without
// being deeply equal (times compared with Equal); empty and nil slices and
// maps count as equal, since omitempty drops the empty ones.
func checkRoundTrip[T any](t *testing.T, data []byte, decode func([]byte) (T, error), same func(t *testing.T, a, b *T)) {
	first, err := decode(data)
	if err != nil {
		return
	}
	encoded, err := json.Marshal(first)
	if err != nil {
		t.Fatalf("decoded %q to %+v, which does not encode: %v", data, first, err)
	}
	second, err := decode(encoded)
	if err != nil {
		t.Fatalf("decoded %q, encoded it as %s, which no longer decodes: %v", data, encoded, err)
	}
	if same != nil {
		same(t, &first, &second)
	}
	nilEmpty(reflect.ValueOf(&first).Elem())
	nilEmpty(reflect.ValueOf(&second).Elem())
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("decoded %q to\n%+v\nencoded as %s, decoded again to\n%+v", data, first, encoded, second)
	}
}

// nilEmpty sets every empty slice and map reachable through v's struct
// fields, pointers and slice elements to nil.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				nilEmpty(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			nilEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
		}
	}
}

func FuzzDecodeFlowLog(f *testing.F) {
	addTestdataSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, DecodeFlowLog, nil)
	})
}

func FuzzDecodeDNSLog(f *testing.F) {
	addTestdataSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, DecodeDNSLog, func(t *testing.T, a, b *DNSLog) {
			// An offset that matches the local zone decodes into time.Local
			// and encodes back as that offset (or Z), which decodes into a
			// different *Location for the same instant.
			for _, p := range []struct {
				name string
				a, b *time.Time
			}{{"start_time", &a.StartTime, &b.StartTime}, {"end_time", &a.EndTime, &b.EndTime}} {
				if !p.a.Equal(*p.b) {
					t.Fatalf("%s %v encoded and decoded again as %v", p.name, *p.a, *p.b)
				}
				*p.b = *p.a
			}
		})
	})
}

func FuzzDecodeL7Log(f *testing.F) {
	addTestdataSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, DecodeL7Log, nil)
	})
}

func FuzzDecodeEvent(f *testing.F) {
	addTestdataSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip(t, data, DecodeEvent, func(t *testing.T, a, b *Event) {
			// The time is written as whole epoch seconds, by design.
			if want := a.Time.Truncate(time.Second); !b.Time.Equal(want) {
				t.Fatalf("time %v encoded and decoded again as %v, want %v", a.Time, b.Time, want)
			}
			b.Time = a.Time
		})
	})
}
