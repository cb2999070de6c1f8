// Package redact masks secrets in text before it leaves the process: the
// userinfo of URLs, query parameters that carry credentials, and every
// secret value registered with Secret. The configuration listing, the
// logger, the errors the status page shows and the links sent with alerts
// all pass through Text, so a secret has one place to be masked.
package redact

import (
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Mask replaces a secret.
const Mask = "<secret>"

// minSecretLen is the shortest value Secret registers: shorter ones would
// mask ordinary words.
const minSecretLen = 4

var (
	mu      sync.RWMutex
	secrets []string
)

// Secret registers a value never to be shown (a password, an API key, a
// token read from a file or the environment): Text masks it wherever it
// appears. Values shorter than four bytes are not registered.
func Secret(value string) {
	value = strings.TrimSpace(value)
	if len(value) < minSecretLen {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range secrets {
		if s == value {
			return
		}
	}
	secrets = append(secrets, value)
}

var (
	// userinfoRE finds the userinfo of a URL in text: scheme://userinfo@.
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^/?#@\s"'<>]*)@`)
	// queryRE finds a query parameter whose name says it carries a
	// credential.
	queryRE = regexp.MustCompile(`(?i)([?&;][^=&\s"'<>]*(?:token|passw|secret|api[_-]?key|apikey|access[_-]?key|signature|sig|auth|credential)[^=&\s"'<>]*=)[^&\s"'<>#]*`)
)

// Text returns s with every URL userinfo (the password, or the whole
// userinfo when it has no password: it may be a token), every credential
// query parameter and every registered secret masked.
func Text(s string) string {
	if strings.Contains(s, "@") {
		s = userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := userinfoRE.FindStringSubmatch(m)
			scheme, info := sub[1], sub[2]
			if user, _, ok := strings.Cut(info, ":"); ok {
				return scheme + user + ":" + Mask + "@"
			}
			return scheme + Mask + "@"
		})
	}
	if strings.ContainsAny(s, "?&;") {
		s = queryRE.ReplaceAllString(s, "${1}"+Mask)
	}
	mu.RLock()
	defer mu.RUnlock()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

// Error returns err with its text masked by Text; nil for nil.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if masked := Text(msg); masked != msg {
		return &maskedError{msg: masked, err: err}
	}
	return err
}

// maskedError shows the masked text and still unwraps to the original, so
// errors.Is and errors.As keep working.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// SplitURL returns raw without its userinfo, and the user name and
// password it held, so a client can send them as basic authentication and
// never show them; raw is returned as it is when it is no URL or has no
// userinfo.
func SplitURL(raw string) (clean, user, password string) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw, "", ""
	}
	user = u.User.Username()
	password, _ = u.User.Password()
	u.User = nil
	return u.String(), user, password
}
