package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// The pages of the other kinds of objects an account holds (management
// keys, users, service accounts, roles, catalog resources, projects)
// share one shape, objectPages: a list (table#<kind>, rows tr[data-id]),
// a page of one object with its audit trail and the actions the
// session's key may take, a create and an edit form (form#<kind>-form),
// and confirmations (form#confirm) of deletion and of the other
// destructive changes. Every read and change is the service's call the
// API makes; what a page offers follows the permission that guards the
// change in the service (write), and the service refuses whatever is
// forced anyway.

// objectRoutes declares the pages of the kinds of objects besides API
// keys, and the audit log.
func (u *UI) objectRoutes() {
	u.managementKeyPages().register(u)
	u.userPages().register(u)
	u.serviceAccountPages().register(u)
	u.rolePages().register(u)
	u.resourcePages().register(u)
	u.projectPages().register(u)
	u.mux.Handle("GET /audit", u.page(u.auditList))
}

// objectPages describe the pages of one kind of object T.
type objectPages[T any] struct {
	kind  string // "users": the URL's segment, table#users, form#users-form, template users.html
	noun  string // "user": templates user.html and user-form.html, and titles
	write string // the management permission that guards changes
	// id and name of an object: its URL segment and its title.
	id, name func(T) string

	// list reads one page of the list with its filters q (one store
	// query): the rows, and whether more follow the last.
	list func(r *http.Request, c *call, q url.Values) (rows []T, more bool, err error)
	// listFields maps the API's parameters to the filter form's fields.
	listFields map[string]string
	get        func(ctx context.Context, a *keyward.Actor, id string) (T, error)
	// values returns the edit form's values of an object (the zero T:
	// a new one).
	values func(v T, ok bool) url.Values
	// create and update read the form v and make the service's call;
	// errs are what could not even be read (nothing was called then).
	create func(ctx context.Context, c *call, v url.Values) (out T, errs map[string]string, err error)
	update func(ctx context.Context, c *call, cur T, v url.Values) (errs map[string]string, err error)
	// formFields maps the members of the service's field errors to the
	// form's fields (formError).
	formFields map[string]string
	// formExtra is what the form shows beside the object (the roles of a
	// user form, the catalog of a role form); nil for nothing.
	formExtra func(r *http.Request, c *call) (any, error)
	// may fails unless the session may change v (selfChange: its
	// settings or status rather than its deletion); nil: the write
	// permission decides.
	may func(c *call, v T, selfChange bool) error
	// confirmations are the destructive changes besides deletion, by the
	// action's URL segment, as they apply to v (false: not offered).
	confirmations func(action string, v T) (objectChange[T], bool)
	// del deletes v under the etag the confirmation was made from.
	del func(ctx context.Context, a *keyward.Actor, v T, etag string) error
	// etag of v ("" when the kind has none).
	etag func(v T) string
	// deleteNote says what else a deletion does (revokes keys…).
	deleteNote string
	// taken is the form field a duplicate (409: a unique value taken)
	// is about; "" shows it as the form's error.
	taken string
}

// objectChange is a destructive change other than deletion, confirmed
// first (form#confirm).
type objectChange[T any] struct {
	Label, Question string
	Danger          bool
	apply           func(ctx context.Context, a *keyward.Actor, v T) error
}

// register declares the kind's pages; the list is at /<kind>.
func (o *objectPages[T]) register(u *UI) {
	base, one := "/"+o.kind, "/"+o.kind+"/{id}"
	u.mux.Handle("GET "+base, u.page(o.listPage(u)))
	u.mux.Handle("GET "+base+"/new", u.page(o.newForm(u)))
	u.mux.Handle("POST "+base, u.post(o.createPost(u)))
	u.mux.Handle("GET "+one, u.page(o.view(u)))
	u.mux.Handle("GET "+one+"/edit", u.page(o.editForm(u)))
	u.mux.Handle("POST "+one+"/edit", u.post(o.updatePost(u)))
	u.mux.Handle("GET "+one+"/{action}", u.page(o.confirmPage(u)))
	u.mux.Handle("POST "+one+"/{action}", u.post(o.changePost(u)))
}

// objectList is the data of a list page.
type objectList[T any] struct {
	Filters  *form
	Rows     []T
	Next     string
	CanWrite bool
}

func (o *objectPages[T]) listPage(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		q := r.URL.Query()
		p := objectList[T]{Filters: &form{Values: q}, CanWrite: can(c.actor, o.write)}
		rows, more, err := o.list(r, c, q)
		if err != nil {
			f, ok := formError(q, err, o.listFields)
			if !ok {
				return err
			}
			p.Filters = f
			return u.render(w, r, c, http.StatusUnprocessableEntity, o.kind+".html", p)
		}
		p.Rows = rows
		if more && len(rows) > 0 {
			p.Next = nextPage("/"+o.kind, q, o.id(rows[len(rows)-1]))
		}
		return u.render(w, r, c, http.StatusOK, o.kind+".html", p)
	}
}

// listPageSize is how many rows a page of a list shows.
const listPageSize = 50

// objectView is the data of an object's page.
type objectView[T any] struct {
	Obj     T
	Actions []keyAction
	Audit   []*keyward.AuditEvent
	// AuditDenied is set when the key may not read the audit log.
	AuditDenied bool
	// Secret is a new management key's secret, shown once.
	Secret keyward.Token
	// Self is set on the page of the key the session signed in with.
	Self bool
}

// RevealSecret returns the secret's text for the one page that shows it.
func (p *objectView[T]) RevealSecret() string { return p.Secret.Reveal() }

func (o *objectPages[T]) view(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		ctx, id := r.Context(), r.PathValue("id")
		v, err := o.get(ctx, c.actor, id)
		if err != nil {
			return err
		}
		p := &objectView[T]{Obj: v, Actions: o.actions(c, v), Self: o.id(v) == c.sess.keyID}
		events, _, err := u.svc.ListAuditEvents(ctx, c.actor, keyward.AuditFilter{Page: keyward.Page{Limit: auditTrailLength}, TargetID: o.id(v)})
		switch {
		case isCode(err, keyward.ECodePermissionDenied):
			p.AuditDenied = true
		case err != nil:
			return err
		}
		p.Audit = events
		if tok, ok := u.sessions.take(c.sess.id, o.id(v)); ok {
			p.Secret = tok
		}
		return u.render(w, r, c, http.StatusOK, o.noun+".html", p)
	}
}

// allowed reports whether the session may change v (selfChange) or
// delete it: what the page offers.
func (o *objectPages[T]) allowed(c *call, v T, selfChange bool) error {
	if err := service.Require(c.actor, o.write); err != nil {
		return err
	}
	if o.may != nil {
		return o.may(c, v, selfChange)
	}
	return nil
}

// actions are the links to what the session's key may do to v.
func (o *objectPages[T]) actions(c *call, v T) []keyAction {
	base := "/" + o.kind + "/" + url.PathEscape(o.id(v))
	var out []keyAction
	if o.allowed(c, v, true) == nil {
		if o.update != nil {
			out = append(out, keyAction{"edit", "Edit", base + "/edit", false})
		}
		for _, a := range []string{"disable", "enable", "revoke"} {
			if ch, ok := o.change(a, v); ok {
				out = append(out, keyAction{a, ch.Label, base + "/" + a, ch.Danger})
			}
		}
	}
	if o.allowed(c, v, false) == nil {
		out = append(out, keyAction{"delete", "Delete", base + "/delete", true})
	}
	return out
}

// change returns the destructive change action of v, deletion included.
func (o *objectPages[T]) change(action string, v T) (objectChange[T], bool) {
	if action == "delete" {
		q := "The " + o.noun + " is deleted for good."
		if o.deleteNote != "" {
			q += " " + o.deleteNote
		}
		return objectChange[T]{Label: "Delete", Question: q, Danger: true}, true
	}
	if o.confirmations == nil {
		return objectChange[T]{}, false
	}
	return o.confirmations(action, v)
}

// objectForm is the data of a create or edit form.
type objectForm[T any] struct {
	Obj    T
	New    bool
	Form   *form
	Action string
	Extra  any
}

func (o *objectPages[T]) renderForm(u *UI, w http.ResponseWriter, r *http.Request, c *call, status int, v T, isNew bool, f *form) error {
	p := objectForm[T]{Obj: v, New: isNew, Form: f, Action: "/" + o.kind}
	if !isNew {
		p.Action = "/" + o.kind + "/" + url.PathEscape(o.id(v)) + "/edit"
	}
	if o.formExtra != nil {
		extra, err := o.formExtra(r, c)
		if err != nil {
			return err
		}
		p.Extra = extra
	}
	return u.render(w, r, c, status, o.noun+"-form.html", p)
}

func (o *objectPages[T]) newForm(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := service.Require(c.actor, o.write); err != nil {
			return err
		}
		var zero T
		return o.renderForm(u, w, r, c, http.StatusOK, zero, true, &form{Values: o.values(zero, false)})
	}
}

// refused re-renders a form whose values the service refused: field
// errors next to their fields (422), a change made meanwhile (412), and
// the management keys' no-escalation rule next to the field it is about
// (403, as the API answers it). ok is false for any other error.
func (o *objectPages[T]) refused(u *UI, w http.ResponseWriter, r *http.Request, c *call, v T, isNew bool, err error) (bool, error) {
	values := r.PostForm
	if isCode(err, keyward.ECodePreconditionFail) {
		return true, o.renderForm(u, w, r, c, http.StatusPreconditionFailed, v, isNew, &form{Values: values,
			Error: "This " + o.noun + " was changed by someone else since this form was opened: reload the page to see the changes, then edit again."})
	}
	if isCode(err, keyward.ECodeDuplicate) && o.taken != "" {
		return true, o.renderForm(u, w, r, c, http.StatusConflict, v, isNew, &form{Values: values, Errors: map[string]string{o.taken: keyward.AsError(err).Message}})
	}
	if isCode(err, keyward.ECodeResourceInUse) {
		return true, o.renderForm(u, w, r, c, http.StatusConflict, v, isNew, &form{Values: values, Error: keyward.AsError(err).Message})
	}
	if f, ok := formError(values, err, o.formFields); ok {
		return true, o.renderForm(u, w, r, c, http.StatusUnprocessableEntity, v, isNew, f)
	}
	if field := guardField(err); field != "" && can(c.actor, o.write) {
		f := &form{Values: values, Errors: map[string]string{}}
		if field == "account" {
			f.Error = keyward.AsError(err).Message
		} else {
			f.Errors[field] = keyward.AsError(err).Message
		}
		return true, o.renderForm(u, w, r, c, http.StatusForbidden, v, isNew, f)
	}
	return false, nil
}

// guardField is the form field a refusal of the management keys'
// no-escalation rule is about: a permission the key would hold that the
// session's key lacks, or a constraint of the session's key (expiry, IP
// allowlist, account). "" for any other error.
func guardField(err error) string {
	e := keyward.AsError(err)
	if e.Code != keyward.ECodePermissionDenied {
		return ""
	}
	if _, ok := e.Details["missing_permission"]; ok {
		return "permissions"
	}
	if c, ok := e.Details["constraint"].(string); ok {
		return c
	}
	return ""
}

func (o *objectPages[T]) createPost(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		var zero T
		v, errs, err := o.create(r.Context(), c, r.PostForm)
		if len(errs) > 0 {
			return o.renderForm(u, w, r, c, http.StatusUnprocessableEntity, zero, true, &form{Values: r.PostForm, Errors: errs})
		}
		if err != nil {
			if ok, rerr := o.refused(u, w, r, c, zero, true, err); ok {
				return rerr
			}
			return err
		}
		seeOther(w, r, "/"+o.kind+"/"+url.PathEscape(o.id(v)))
		return nil
	}
}

func (o *objectPages[T]) editForm(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := service.Require(c.actor, o.write); err != nil {
			return err
		}
		v, err := o.get(r.Context(), c.actor, r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := o.allowed(c, v, true); err != nil {
			return err
		}
		return o.renderForm(u, w, r, c, http.StatusOK, v, false, &form{Values: o.values(v, true)})
	}
}

func (o *objectPages[T]) updatePost(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		v, err := o.get(r.Context(), c.actor, r.PathValue("id"))
		if err != nil {
			return err
		}
		errs, err := o.update(r.Context(), c, v, r.PostForm)
		if len(errs) > 0 {
			return o.renderForm(u, w, r, c, http.StatusUnprocessableEntity, v, false, &form{Values: r.PostForm, Errors: errs})
		}
		if err != nil {
			if ok, rerr := o.refused(u, w, r, c, v, false, err); ok {
				return rerr
			}
			return err
		}
		seeOther(w, r, "/"+o.kind+"/"+url.PathEscape(o.id(v)))
		return nil
	}
}

// objectConfirm is the data of a confirmation (confirm.html).
type objectConfirm struct {
	Title, Question, Button string
	Danger                  bool
	Action, Cancel, Error   string
	ETag                    string
}

// confirmed returns the object and its change that the URL names, once
// the session may make it.
func (o *objectPages[T]) confirmed(r *http.Request, c *call) (T, objectChange[T], error) {
	var zero T
	if err := service.Require(c.actor, o.write); err != nil {
		return zero, objectChange[T]{}, err
	}
	v, err := o.get(r.Context(), c.actor, r.PathValue("id"))
	if err != nil {
		return zero, objectChange[T]{}, err
	}
	action := r.PathValue("action")
	ch, ok := o.change(action, v)
	if !ok {
		return zero, objectChange[T]{}, keyward.Errorf(keyward.ECodeNotFound, "there is no page at this address")
	}
	if err := o.allowed(c, v, action != "delete"); err != nil {
		return zero, objectChange[T]{}, err
	}
	return v, ch, nil
}

func (o *objectPages[T]) confirmView(v T, ch objectChange[T], r *http.Request) objectConfirm {
	p := objectConfirm{Title: ch.Label + " " + o.name(v), Question: ch.Question, Button: ch.Label, Danger: ch.Danger,
		Action: r.URL.Path, Cancel: "/" + o.kind + "/" + url.PathEscape(o.id(v))}
	if o.etag != nil {
		p.ETag = o.etag(v)
	}
	return p
}

func (o *objectPages[T]) confirmPage(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		v, ch, err := o.confirmed(r, c)
		if err != nil {
			return err
		}
		return u.render(w, r, c, http.StatusOK, "confirm.html", o.confirmView(v, ch, r))
	}
}

func (o *objectPages[T]) changePost(u *UI) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		v, ch, err := o.confirmed(r, c)
		if err != nil {
			return err
		}
		ctx := r.Context()
		if r.PathValue("action") == "delete" {
			err = o.del(ctx, c.actor, v, r.PostForm.Get("etag"))
		} else {
			err = ch.apply(ctx, c.actor, v)
		}
		switch {
		case err == nil:
		case isCode(err, keyward.ECodePreconditionFail), isCode(err, keyward.ECodeResourceInUse):
			// Shown on the confirmation: changed meanwhile, or still in
			// use (a role held, a resource granted).
			p := o.confirmView(v, ch, r)
			p.Error = keyward.AsError(err).Message
			return u.render(w, r, c, statusOf(err), "confirm.html", p)
		default:
			return err
		}
		if r.PathValue("action") == "delete" {
			seeOther(w, r, "/"+o.kind)
		} else {
			seeOther(w, r, "/"+o.kind+"/"+url.PathEscape(o.id(v)))
		}
		return nil
	}
}

// statusChanges are the confirmations of disabling and enabling a member
// (a user, a service account) whose status is st; set makes the change.
func memberStatusChange[T any](action string, st keyward.MemberStatus, noun string, set func(ctx context.Context, a *keyward.Actor, v T, st keyward.MemberStatus) error) (objectChange[T], bool) {
	to := keyward.MemberDisabled
	switch {
	case action == "disable" && st == keyward.MemberActive:
	case action == "enable" && st == keyward.MemberDisabled:
		to = keyward.MemberActive
	default:
		return objectChange[T]{}, false
	}
	ch := objectChange[T]{Label: strings.ToUpper(action[:1]) + action[1:], apply: func(ctx context.Context, a *keyward.Actor, v T) error { return set(ctx, a, v, to) }}
	if to == keyward.MemberDisabled {
		ch.Question = "Verifications of every key this " + noun + " owns will answer OWNER_INACTIVE until it is enabled again."
	} else {
		ch.Question = "The keys this " + noun + " owns verify again."
	}
	return ch, true
}

// Cancel is where a key's confirmation goes back to.
func (p confirmPage) Cancel() string { return "/keys/" + p.Key.ID }

// ETag is the etag a key's confirmation carries: none (the change is
// made whatever the key became meanwhile, as before).
func (p confirmPage) ETag() string { return "" }
