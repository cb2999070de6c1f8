package alertmanager

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseErrorBodyFindsTheReason(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"Alertmanager's JSON string", `"start time must be before end time"`, "start time must be before end time"},
		{"a JSON string with a newline", `"invalid label set: \"\"\nlabel name"`, `invalid label set: "" label name`},
		{"request validation's code and message", `{"code":602,"message":"labels in body is required"}`, "labels in body is required (code 602)"},
		{"an error field", `{"error":"forbidden"}`, "forbidden"},
		{"plain text from a proxy", "404 page not found\n", "404 page not found"},
		{"HTML from a proxy, folded onto one line", "<html>\n  <body>Bad   Gateway</body>\n</html>", "<html> <body>Bad Gateway</body> </html>"},
		{"an empty body", "", ""},
		{"control characters dropped", "bad\x00\x07 thing", "bad thing"},
		{"invalid UTF-8 dropped", "bad \xff\xfe thing", "bad thing"},
		{"JSON without a message kept as text", `{"code":1}`, `{"code":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseErrorBody([]byte(tt.body)); got != tt.want {
				t.Errorf("ParseErrorBody(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestParseErrorBodyCutsLongReasons(t *testing.T) {
	for _, body := range []string{strings.Repeat("x", 2000), strings.Repeat("é", 2000)} {
		got := ParseErrorBody([]byte(body))
		if len(got) > maxReasonLen || !strings.HasSuffix(got, "…") || !utf8.ValidString(got) {
			t.Errorf("a %d-byte body gave a %d-byte reason %q...", len(body), len(got), got[:20])
		}
	}
}

func FuzzParseErrorBody(f *testing.F) {
	for _, seed := range []string{`"start time must be before end time"`, `{"code":602,"message":"labels in body is required"}`,
		"404 page not found\n", "<html><body>Bad Gateway</body></html>", "", "\xff", `{"error":"x"}`, `"` + strings.Repeat("a", 600) + `"`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := ParseErrorBody(body)
		if len(got) > maxReasonLen {
			t.Errorf("reason of %d bytes", len(got))
		}
		if !utf8.ValidString(got) {
			t.Errorf("reason %q is not UTF-8", got)
		}
		if got != strings.TrimSpace(got) {
			t.Errorf("reason %q has surrounding space", got)
		}
		for _, r := range got {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Errorf("reason %q holds %U", got, r)
			}
		}
	})
}

func TestParseCredential(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    string
		wantErr string
	}{
		{"a token with a trailing newline", "abc.def\n", "abc.def", ""},
		{"a password with inner spaces", "  correct horse battery  \r\n", "correct horse battery", ""},
		{"an empty file", "\n\n", "", "token file: empty"},
		{"two lines", "abc\ndef\n", "", "more than one line"},
		{"a control character", "abc\x00def", "", "control character U+0000"},
		{"not UTF-8", "abc\xff", "", "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredential([]byte(tt.data), "token file")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseCredential(%q) = %q, %v; want an error with %q", tt.data, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseCredential(%q) = %q, %v; want %q", tt.data, got, err, tt.want)
			}
		})
	}
}

func FuzzParseCredential(f *testing.F) {
	for _, seed := range []string{"abc\n", "", "a\nb", "\x00", "\xff", " x "} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseCredential(data, "f")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if got == "" || got != strings.TrimSpace(got) || strings.ContainsAny(got, "\r\n") || !utf8.ValidString(got) {
			t.Errorf("accepted %q from %q", got, data)
		}
	})
}
