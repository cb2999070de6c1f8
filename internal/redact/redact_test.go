package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	Secret("s3cr3t-from-file")
	for _, tc := range []struct{ name, in, want string }{
		{"password in a URL", "http://elastic:PASS@es:9200/x", "http://elastic:<secret>@es:9200/x"},
		{"token as userinfo", "https://TOKEN123@grafana.example/d/1", "https://<secret>@grafana.example/d/1"},
		{"URL inside an error", `Get "https://u:p4ss@am:9093/api/v2/alerts": dial tcp: refused`, `Get "https://u:<secret>@am:9093/api/v2/alerts": dial tcp: refused`},
		{"two URLs", "http://a:b@h1,http://c:d@h2", "http://a:<secret>@h1,http://c:<secret>@h2"},
		{"credential query parameter", "https://g.example/d?orgId=1&auth_token=abc&x=2", "https://g.example/d?orgId=1&auth_token=<secret>&x=2"},
		{"api key parameter", "http://h/?api_key=zz", "http://h/?api_key=<secret>"},
		{"registered secret", "login failed with s3cr3t-from-file", "login failed with <secret>"},
		{"e-mail address kept", "owner: ops@example.com", "owner: ops@example.com"},
		{"plain URL kept", "http://es:9200/_search?size=0", "http://es:9200/_search?size=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestShortSecretsAreNotRegistered(t *testing.T) {
	Secret("ab")
	if got := Text("about abc"); got != "about abc" {
		t.Errorf("a two-byte secret masked ordinary text: %q", got)
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	base := errors.New("refused")
	err := Error(fmt.Errorf("post http://u:pw@am: %w", base))
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("password shown: %v", err)
	}
	if !errors.Is(err, base) {
		t.Error("the masked error no longer unwraps to its cause")
	}
	if Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}

func TestSplitURL(t *testing.T) {
	clean, user, pass := SplitURL("https://elastic:pa%40ss@es.example:9200/")
	if clean != "https://es.example:9200/" || user != "elastic" || pass != "pa@ss" {
		t.Errorf("SplitURL = %q, %q, %q", clean, user, pass)
	}
	if clean, user, _ := SplitURL("http://es:9200"); clean != "http://es:9200" || user != "" {
		t.Errorf("a URL without userinfo changed: %q %q", clean, user)
	}
}

// FuzzText checks that a password planted in a URL never survives Text,
// whatever surrounds it. A password holding white space or a URL
// delimiter cannot stand in a URL unescaped, so those are not planted.
func FuzzText(f *testing.F) {
	f.Add("Get \"", "\": EOF", "hunter2pass")
	f.Add("", "", "p@ss:word")
	f.Fuzz(func(t *testing.T, before, after, pass string) {
		if len(pass) < 4 || strings.ContainsAny(pass, "/?#@ \t\n\f\r\"'<>") || strings.Contains(before+after, pass) {
			return
		}
		in := before + " http://user:" + pass + "@host:9200/x " + after
		if out := Text(in); strings.Contains(out, pass) {
			t.Errorf("Text(%q) = %q shows the password", in, out)
		}
	})
}
