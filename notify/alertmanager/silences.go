package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/go-kit/log/level"
	"github.com/prometheus/alertmanager/api/v2/models"
)

// ExpectedSilence is an Alertmanager silence of one incident's alert whose
// comment starts with the agreed word: a user saying the incident is
// expected, or, once Withdrawn, taking that back.
type ExpectedSilence struct {
	SilenceID string
	Incident  string
	CreatedBy string
	Comment   string
	// Withdrawn is set for a silence expired by hand before its end
	// (Alertmanager's "Expire" button or DELETE /api/v2/silence/{id}, and
	// the old silence an edit of its matchers replaces): the user takes
	// the decision back. A silence that ran to its end is not withdrawn:
	// the decision keeps its own expiry.
	Withdrawn bool
}

// ExpectedSilences reads the silences of the first Alertmanager and
// returns those that match an incident's alert (an equality matcher on the
// incident label) and whose comment starts with word (case aside, as a
// whole word: "expected: nightly backup"): the active ones, and the
// withdrawn ones. Alertmanager expires a silence by hand by setting its
// end and its update time to the same instant, which a silence that ran
// its course never shows (its last update came before its end).
func (n *Notifier) ExpectedSilences(ctx context.Context, word string) ([]ExpectedSilence, error) {
	if len(n.targets) == 0 || word == "" {
		return nil, nil
	}
	t := n.targets[0]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.label+"/api/v2/silences", nil)
	if err != nil {
		return nil, err
	}
	res, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: silences: %w", t.label, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("alertmanager %s: silences: %w", t.label, err)
	}
	if res.StatusCode/100 != 2 {
		return nil, &SendError{URL: t.label, Status: res.StatusCode, Reason: ParseErrorBody(body)}
	}
	var silences models.GettableSilences
	if err := json.Unmarshal(body, &silences); err != nil {
		return nil, fmt.Errorf("alertmanager %s: silences: %w", t.label, err)
	}
	var out []ExpectedSilence
	for _, s := range silences {
		if s == nil || s.ID == nil || s.Status == nil || s.Status.State == nil {
			continue
		}
		withdrawn := *s.Status.State == models.SilenceStatusStateExpired && withdrawnEarly(s)
		if *s.Status.State != models.SilenceStatusStateActive && !withdrawn {
			continue
		}
		if s.Comment == nil || !startsWithWord(*s.Comment, word) {
			continue
		}
		for _, m := range s.Matchers {
			if m == nil || m.Name == nil || m.Value == nil || *m.Name != IncidentLabel || (m.IsRegex != nil && *m.IsRegex) || (m.IsEqual != nil && !*m.IsEqual) {
				continue
			}
			e := ExpectedSilence{SilenceID: *s.ID, Incident: *m.Value, Comment: *s.Comment, Withdrawn: withdrawn}
			if s.CreatedBy != nil {
				e.CreatedBy = *s.CreatedBy
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// withdrawnEarly reports whether an expired silence was expired by hand:
// its end is not after its last update (Alertmanager sets both to the
// moment of expiry).
func withdrawnEarly(s *models.GettableSilence) bool {
	if s.UpdatedAt == nil || s.EndsAt == nil {
		return false
	}
	return !time.Time(*s.EndsAt).After(time.Time(*s.UpdatedAt))
}

// startsWithWord reports whether comment starts with word, case aside,
// followed by its end or a character that is not a letter or digit.
func startsWithWord(comment, word string) bool {
	comment = strings.TrimSpace(comment)
	if len(comment) < len(word) || !strings.EqualFold(comment[:len(word)], word) {
		return false
	}
	rest := comment[len(word):]
	if rest == "" {
		return true
	}
	r := []rune(rest)[0]
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

// WatchSilences reads the expected silences every interval until ctx ends
// and hands each to found (which must be idempotent: a silence is seen at
// every read while it lasts, and a withdrawn one while Alertmanager keeps
// it, five days by default). A failed read is logged and tried again at
// the next interval.
func (n *Notifier) WatchSilences(ctx context.Context, word string, every time.Duration, found func(ExpectedSilence)) {
	if word == "" || len(n.targets) == 0 || n.cfg.DryRun {
		return
	}
	if every <= 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		ss, err := n.ExpectedSilences(ctx, word)
		if err != nil && ctx.Err() == nil {
			level.Warn(n.logger).Log("msg", "cannot read the Alertmanager's silences for feedback", "err", err)
		}
		for _, s := range ss {
			found(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
