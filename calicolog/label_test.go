package calicolog

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("a", 10000)
	tests := []struct {
		name, in, want string
	}{
		{"a clean name passes unchanged", "frontend-7d9c8f6b5-*", "frontend-7d9c8f6b5-*"},
		{"unicode passes unchanged", "café-ü-*", "café-ü-*"},
		{"HTML passes as text (the exposition format quotes it)", `<script>alert(1)</script>`, `<script>alert(1)</script>`},
		{"invalid UTF-8 is replaced", "bad-\xff\xfe-*", "bad-\uFFFD-*"},
		{"control characters are replaced", "evil\n# HELP x\r\x00-*", "evil\uFFFD# HELP x\uFFFD\uFFFD-*"},
		{"a huge name is cut to 128 runes", long, strings.Repeat("a", 127) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := LabelValue(tc.in); got != tc.want {
				t.Errorf("LabelValue(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"frontend-*", "bad-\xff-*", "a\nb", strings.Repeat("é", 300), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := LabelValue(s)
		if !utf8.ValidString(got) {
			t.Fatalf("LabelValue(%q) = %q is not valid UTF-8", s, got)
		}
		if n := utf8.RuneCountInString(got); n > MaxLabelRunes {
			t.Fatalf("LabelValue(%q) has %d runes", s, n)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("LabelValue(%q) = %q keeps a control character", s, got)
			}
		}
		if LabelValue(got) != got {
			t.Fatalf("labelValue is not idempotent on %q", s)
		}
	})
}
