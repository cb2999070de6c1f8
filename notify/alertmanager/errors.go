package alertmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxReasonLen bounds the reason taken from an Alertmanager's answer.
const maxReasonLen = 512

// SendError is an Alertmanager's refusal of a POST: its HTTP status and
// the reason it gave in the body.
type SendError struct {
	URL    string
	Status int
	Reason string
}

func (e *SendError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("alertmanager %s answered %d %s", e.URL, e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("alertmanager %s answered %d %s: %s", e.URL, e.Status, http.StatusText(e.Status), e.Reason)
}

// Retryable reports whether sending again may succeed: server errors, 408
// and 429 are worth a retry; any other 4xx means the alerts themselves were
// refused and sending them again would be refused again.
func (e *SendError) Retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// retryable reports whether err, from a POST, is worth a retry: a network
// error is, a SendError says for itself.
func retryable(err error) bool {
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable()
	}
	return true
}

// ParseErrorBody extracts the reason from an Alertmanager's error answer.
// Alertmanager's API v2 answers a JSON string ("start time must be before
// end time"), or an object with a code and message (its request
// validation); a proxy in front of it may answer plain text or HTML. The
// reason is one line of printable text, at most 512 bytes.
func ParseErrorBody(body []byte) string {
	text := strings.TrimSpace(string(body))
	var s string
	if json.Unmarshal(body, &s) == nil {
		text = s
	} else {
		var obj struct {
			Code    *int   `json:"code"`
			Message string `json:"message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(body, &obj) == nil && (obj.Message != "" || obj.Error != "") {
			text = obj.Message
			if text == "" {
				text = obj.Error
			}
			if obj.Code != nil {
				text = fmt.Sprintf("%s (code %d)", text, *obj.Code)
			}
		}
	}
	return oneLine(text, maxReasonLen)
}

// oneLine keeps the printable runes of s with runs of white space folded
// into one space, cut to at most n bytes on a rune boundary.
func oneLine(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) <= n {
		return out
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return out[:cut] + "…"
}

// ParseCredential checks the content of a password or bearer token file:
// one line, surrounding white space (a trailing newline) ignored. what
// names the file in errors (e.g. "--alertmanager.bearer-token-file").
func ParseCredential(data []byte, what string) (string, error) {
	if !utf8.Valid(data) {
		return "", fmt.Errorf("%s: not UTF-8 text", what)
	}
	s := strings.TrimSpace(string(data))
	switch {
	case s == "":
		return "", fmt.Errorf("%s: empty", what)
	case strings.ContainsAny(s, "\r\n"):
		return "", fmt.Errorf("%s: holds more than one line", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%s: holds the control character %U", what, r)
		}
	}
	return s, nil
}

// readCredential reads and checks a credential file.
func readCredential(path, what string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return ParseCredential(data, what+" "+path)
}
