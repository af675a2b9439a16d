package ui

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward"
	khttp "github.com/keyward/keyward/http"
)

// auditPage is the data of the audit log.
type auditPage struct {
	Filters *form
	Rows    []auditRow
	Next    string
}

// auditRow is an event with the link to the page of what it changed.
type auditRow struct {
	*keyward.AuditEvent
	Href string
}

// objectPaths are the pages of the objects an event may change, by the
// event's target type.
var objectPaths = map[string]string{
	keyward.TargetKey: "/keys/", keyward.TargetManagementKey: "/management-keys/", keyward.TargetUser: "/users/",
	keyward.TargetServiceAccount: "/service-accounts/", keyward.TargetRole: "/roles/",
	keyward.TargetCatalogResource: "/catalog/", keyward.TargetProject: "/projects/",
}

// auditFields maps the API's parameters to the audit filter form's
// fields, for its errors.
var auditFields = map[string]string{"actor_id": "actor", "target_id": "object", "starting_after": "after"}

// auditList serves GET /audit: one page of the account's audit log,
// newest first, filtered as GET /v1/audit-events filters it (actor,
// action, object, and a time range given in UTC), with a cursor to the
// next page.
func (u *UI) auditList(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	p := auditPage{Filters: &form{Values: q}}
	v := listQuery(q, map[string]string{"actor": "actor_id", "action": "action", "object": "target_id"})
	errs := map[string]string{}
	for _, t := range []string{"since", "until"} {
		s := strings.TrimSpace(q.Get(t))
		if s == "" {
			continue
		}
		at, err := parseLocal(s)
		if err != nil {
			errs[t] = "must be a date and time (UTC), such as 2030-01-31T12:00"
			continue
		}
		v.Set(t, at.UTC().Format(time.RFC3339Nano))
	}
	if len(errs) > 0 {
		p.Filters.Errors = errs
		return u.render(w, r, c, http.StatusUnprocessableEntity, "audit.html", p)
	}
	f, err := khttp.AuditFilterOf(v)
	if err == nil {
		p.Rows, err = u.auditEvents(r, c, f, &p.Next, q)
	}
	if err != nil {
		fe, ok := formError(q, err, auditFields)
		if !ok {
			return err
		}
		p.Filters = fe
		return u.render(w, r, c, http.StatusUnprocessableEntity, "audit.html", p)
	}
	return u.render(w, r, c, http.StatusOK, "audit.html", p)
}

// auditEvents reads one page of events (one store query) and sets next
// to the link to the following page when there is one.
func (u *UI) auditEvents(r *http.Request, c *call, f *keyward.AuditFilter, next *string, q url.Values) ([]auditRow, error) {
	events, more, err := u.svc.ListAuditEvents(r.Context(), c.actor, *f)
	if err != nil {
		return nil, err
	}
	if more && len(events) > 0 {
		*next = nextPage("/audit", q, events[len(events)-1].ID)
	}
	rows := make([]auditRow, len(events))
	for i, e := range events {
		rows[i] = auditRow{AuditEvent: e}
		if p, ok := objectPaths[e.TargetType]; ok && e.TargetID != "" && !strings.HasSuffix(e.Action, ".deleted") {
			rows[i].Href = p + url.PathEscape(e.TargetID)
		}
	}
	return rows, nil
}
