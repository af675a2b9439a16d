package ui

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/keyward"
)

// auditTrailLength is how many of a key's latest audit events its page
// shows.
const auditTrailLength = 50

// keyPage is the data of a key's page.
type keyPage struct {
	Key       *keyward.Key
	Status    string
	Effective []keyward.Scope
	Usage     usageView
	Audit     []*keyward.AuditEvent
	// AuditDenied is set when the key may not read the audit log.
	AuditDenied bool
	// Secret is the key's secret, shown once after it was created or
	// rotated.
	Secret   keyward.Token
	Metadata string
	Actions  []keyAction
}

// keyAction is a link to an action on the key.
type keyAction struct {
	ID, Label, Href string
	Danger          bool
}

// RevealSecret returns the secret's text for the one page that shows it.
func (p *keyPage) RevealSecret() string { return p.Secret.Reveal() }

// keyView serves GET /keys/{id}: every member of the key, its effective
// scopes, its usage and its audit trail, and the actions the session's
// key may take on it.
func (u *UI) keyView(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, a, id := r.Context(), c.actor, r.PathValue("id")
	k, err := u.svc.GetKey(ctx, a, keyward.KindAPI, id)
	if err != nil {
		return err
	}
	now := u.svc.Now()
	p := keyPage{Key: k, Status: keyStatus(k, now)}
	if eff, err := u.svc.EffectiveKeyScopes(ctx, a, []*keyward.Key{k}); err == nil {
		p.Effective = eff[0]
	} else if !isCode(err, keyward.ECodePermissionDenied) {
		return err
	}
	g := rangeOf(r)
	series, err := u.svc.KeyUsage(ctx, a, id, g.query(now))
	if p.Usage, err = newUsageView("/keys/"+id, g, "usage-chart", "Verifications of "+k.Name, series, err); err != nil {
		return err
	}
	events, _, err := u.svc.ListAuditEvents(ctx, a, keyward.AuditFilter{Page: keyward.Page{Limit: auditTrailLength}, TargetID: id})
	switch {
	case isCode(err, keyward.ECodePermissionDenied):
		p.AuditDenied = true
	case err != nil:
		return err
	}
	p.Audit = events
	if len(k.Metadata) > 0 {
		b, _ := json.MarshalIndent(k.Metadata, "", "  ")
		p.Metadata = string(b)
	}
	if can(a, keyward.PermKeysWrite) {
		base := "/keys/" + id
		if k.Status != keyward.StatusRevoked {
			p.Actions = append(p.Actions, keyAction{"edit", "Edit", base + "/edit", false}, keyAction{"rotate", "Rotate", base + "/rotate", false})
			if k.Status == keyward.StatusActive {
				p.Actions = append(p.Actions, keyAction{"disable", "Disable", base + "/disable", false})
			} else {
				p.Actions = append(p.Actions, keyAction{"enable", "Enable", base + "/enable", false})
			}
			p.Actions = append(p.Actions, keyAction{"revoke", "Revoke", base + "/revoke", true})
		}
		p.Actions = append(p.Actions, keyAction{"delete", "Delete", base + "/delete", true})
	}
	if tok, ok := u.sessions.take(c.sess.id, id); ok {
		p.Secret = tok
	}
	return u.render(w, r, c, http.StatusOK, "key.html", &p)
}

// changes returns an audit event's changed members, sorted, as
// "member: before → after" lines.
func changes(e *keyward.AuditEvent) []string {
	var out []string
	for name, ch := range e.Changes {
		out = append(out, name+": "+short(string(ch.Before))+" → "+short(string(ch.After)))
	}
	slices.Sort(out)
	return out
}

// short bounds a JSON value shown in the audit trail.
func short(s string) string {
	if s == "" {
		s = "—"
	}
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:117]) + "…"
	}
	return s
}
