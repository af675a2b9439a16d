package ui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

//go:embed templates
var templateFS embed.FS

// pages are the parsed templates: the layout and partials, and each page
// on top of them.
type pages struct {
	byName map[string]*template.Template
}

// mustParsePages parses the embedded templates. They are part of the
// binary: one that does not parse is a bug the package's tests catch, so
// it panics.
func mustParsePages(st *static) *pages {
	base := template.New("layout.html").Funcs(funcMap(st))
	base = template.Must(base.ParseFS(templateFS, "templates/layout.html", "templates/partials.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := path.Base(n)
		if name == "layout.html" || name == "partials.html" {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
		p.byName[name] = t
	}
	return p
}

// view is what every template gets: the page's own data in Page, and
// what the layout needs.
type view struct {
	// Call is nil on the pages of no session (sign-in, errors before
	// sign-in).
	Call *call
	// CSRF is the token every POST form carries (template "csrf").
	CSRF string
	// Accounts are the accounts an operator may switch to.
	Accounts []*keyward.Account
	// Nav is the navigation, the page's section marked.
	Nav  []navItem
	Page any
}

// navItem is a link of the navigation.
type navItem struct {
	Href, Label string
	// Current marks the section of the page shown (aria-current).
	Current bool
	// perm is the management permission the section needs to be read:
	// a link the session's key may not follow is left out.
	perm string
}

// navigation lists the sections of the dashboard, in the order of the
// navigation; a new kind of page adds its list here.
func navigation() []navItem {
	return []navItem{
		{Href: "/", Label: "Overview"},
		{Href: "/keys", Label: "Keys", perm: keyward.PermKeysRead},
		{Href: "/management-keys", Label: "Management keys", perm: keyward.PermManagementKeysRead},
		{Href: "/users", Label: "Users", perm: keyward.PermMembersRead},
		{Href: "/service-accounts", Label: "Service accounts", perm: keyward.PermMembersRead},
		{Href: "/roles", Label: "Roles", perm: keyward.PermMembersRead},
		{Href: "/catalog", Label: "Catalog", perm: keyward.PermCatalogRead},
		{Href: "/projects", Label: "Projects", perm: keyward.PermKeysRead},
		{Href: "/audit", Label: "Audit log", perm: keyward.PermAuditRead},
	}
}

// navFor returns the navigation of actor a (the sections its key may
// read) with the section of path marked.
func navFor(path string, a *keyward.Actor) []navItem {
	var nav []navItem
	for _, it := range navigation() {
		if it.perm != "" && !can(a, it.perm) {
			continue
		}
		h := it.Href
		it.Current = path == h || h != "/" && strings.HasPrefix(path, h+"/")
		nav = append(nav, it)
	}
	return nav
}

// SignedIn reports whether the page is a session's (the layout then shows
// the navigation).
func (v *view) SignedIn() bool { return v.Call != nil && v.Call.actor != nil }

// Actor is the session's actor (nil when not signed in).
func (v *view) Actor() *keyward.Actor {
	if v.SignedIn() {
		return v.Call.actor
	}
	return nil
}

// Can reports whether the session's key holds a management permission: a
// page offers only what the key may do (the service refuses the rest).
func (v *view) Can(perm string) bool { return can(v.Actor(), perm) }

// render writes the page name with data, buffered: a template that fails
// is a 500, never half a page.
func (u *UI) render(w http.ResponseWriter, r *http.Request, c *call, status int, name string, data any) error {
	t := u.pages.byName[name]
	if t == nil {
		return keyward.Internal(fmt.Errorf("ui: no template %s", name))
	}
	v := &view{Call: c, Page: data}
	v.Nav = navFor(r.URL.Path, v.Actor())
	if c != nil {
		v.CSRF = c.csrf
		if c.actor != nil && c.actor.Key != nil && c.actor.Key.Operator && slices.Contains(c.actor.Key.Permissions, keyward.PermAccountsRead) {
			// The account switch: an operator's accounts (the first page
			// of them; more are reached by id).
			accounts, _, err := u.svc.ListAccounts(r.Context(), c.actor, keyward.Page{Limit: 100})
			if err != nil {
				return err
			}
			v.Accounts = accounts
		}
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		return keyward.Internal(fmt.Errorf("ui: render %s: %w", name, err))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// errorPage is the data of the page that shows an error.
type errorPage struct {
	Status  int
	Title   string
	Message string
}

// fail shows err as a page with its status (404, 403, 409… as the API
// answers it); an internal cause is logged, never shown.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, c *call, err error) {
	e := keyward.AsError(err)
	status := statusOf(e)
	u.host.Note(w, err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if err := u.render(w, r, c, status, "error.html", errorPage{Status: status, Title: http.StatusText(status), Message: e.Message}); err != nil {
		u.host.Note(w, err)
		http.Error(w, http.StatusText(status), status)
	}
}

func statusOf(err error) int { return api.StatusOf(keyward.ErrorCode(err)) }

// notFound is the page of every path the dashboard does not serve.
func (u *UI) notFound(w http.ResponseWriter, r *http.Request) {
	c := (*call)(nil)
	if s := u.sessions.get(sessionCookie(r)); s != nil {
		c = &call{sess: s, csrf: u.sessions.csrfToken(s.id)}
	}
	u.fail(w, r, c, keyward.Errorf(keyward.ECodeNotFound, "there is no page at this address"))
}

// form is a form's values and errors, for the partials: what was posted
// (or the object's current values), an error per field name, and an
// error about the form as a whole.
type form struct {
	Values url.Values
	Errors map[string]string
	Error  string
}

// Get returns the form's value of name.
func (f *form) Get(name string) string { return f.Values.Get(name) }

// Err returns the error of field name ("" for none).
func (f *form) Err(name string) string { return f.Errors[name] }

// formError returns the form values re-rendered with the errors of err
// when err is about the request's values (validation, a malformed
// value): each of the problem's field errors (the API's invalid_params)
// goes to the form field it names, the field's JSON path up to its first
// "." or "[" unless fields maps the whole path or that prefix to another
// name. ok is false for any other error, which the page shows as such.
func formError(values url.Values, err error, fields map[string]string) (f *form, ok bool) {
	e := keyward.AsError(err)
	switch e.Code {
	case keyward.ECodeValidation, keyward.ECodeInvalidParameter, keyward.ECodeBadRequest, keyward.ECodeInvalidPermission,
		keyward.ECodeDuplicate, keyward.ECodeUnknownField, keyward.ECodeMalformedJSON:
	default:
		return nil, false
	}
	f = &form{Values: values, Errors: map[string]string{}}
	var rest []string
	for _, fe := range e.Fields {
		name, found := fields[fe.Field]
		if !found {
			name = fe.Field
			if i := strings.IndexAny(name, ".["); i >= 0 {
				name = name[:i]
			}
			if n, ok := fields[name]; ok {
				name = n
			}
		}
		if name == "" {
			rest = append(rest, fe.Field+": "+fe.Message)
			continue
		}
		if prev := f.Errors[name]; prev != "" {
			f.Errors[name] = prev + "; " + fe.Message
		} else {
			f.Errors[name] = fe.Message
		}
	}
	if len(e.Fields) == 0 {
		f.Error = e.Message
	} else if len(rest) > 0 {
		f.Error = strings.Join(rest, "; ")
	}
	return f, true
}

// funcMap returns the template functions.
func funcMap(st *static) template.FuncMap {
	return template.FuncMap{
		"static": st.url,
		"time": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return "—"
				}
				return v.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if v == nil {
					return "—"
				}
				return v.UTC().Format("2006-01-02 15:04 UTC")
			}
			return "—"
		},
		"isotime": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"deref": func(s *string) string {
			if s == nil {
				return ""
			}
			return *s
		},
		"field": func(f *form, name, label, typ string, extra ...string) fieldView {
			v := fieldView{Form: f, Name: name, Label: label, Type: typ}
			if len(extra) > 0 {
				v.Hint = extra[0]
			}
			return v
		},
		"options": func(f *form, name, label string, pairs ...string) selectView {
			v := selectView{Form: f, Name: name, Label: label}
			for i := 0; i+1 < len(pairs); i += 2 {
				v.Options = append(v.Options, option{Value: pairs[i], Label: pairs[i+1]})
			}
			return v
		},
		"chart":   chartSVG,
		"number":  itoa,
		"join":    strings.Join,
		"changes": changes,
	}
}

// fieldView is a labelled input or textarea (partials "field" and
// "textarea").
type fieldView struct {
	Form              *form
	Name, Label, Type string
	Hint              string
}

// selectView is a labelled select (partial "select").
type selectView struct {
	Form    *form
	Name    string
	Label   string
	Options []option
}

type option struct{ Value, Label string }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
