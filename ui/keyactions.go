package ui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

// keyFormPage is the data of the key form (create and edit).
type keyFormPage struct {
	Key    *keyward.Key // nil for a new key
	Form   *form
	Action string
	// Resources are the account's catalog resources, offered to the
	// scope editor (empty when the key may not read the catalog).
	Resources []*keyward.Resource
	Projects  []*keyward.Project
}

// renderKeyForm shows the key form with status.
func (u *UI) renderKeyForm(w http.ResponseWriter, r *http.Request, c *call, status int, k *keyward.Key, f *form) error {
	p := keyFormPage{Key: k, Form: f, Action: "/keys"}
	if k != nil {
		p.Action = "/keys/" + k.ID + "/edit"
	}
	ctx := r.Context()
	if can(c.actor, keyward.PermCatalogRead) {
		cat, err := u.svc.GetCatalog(ctx, c.actor)
		if err != nil {
			return err
		}
		p.Resources = cat.Resources
	}
	if can(c.actor, keyward.PermKeysRead) {
		projects, _, err := u.svc.ListProjects(ctx, c.actor, keyward.Page{Limit: keyward.MaxPageLimit})
		if err != nil {
			return err
		}
		p.Projects = projects
	}
	return u.render(w, r, c, status, "key-form.html", p)
}

// newKey serves GET /keys/new.
func (u *UI) newKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := service.Require(c.actor, keyward.PermKeysWrite); err != nil {
		return err
	}
	return u.renderKeyForm(w, r, c, http.StatusOK, nil, &form{Values: keyFormValues(nil)})
}

// createKey serves POST /keys: the key is created by the service as the
// API creates it; its secret waits in the session for the key's page,
// which shows it once.
func (u *UI) createKey(w http.ResponseWriter, r *http.Request, c *call) error {
	in, errs := keyForm(r.PostForm, nil)
	if len(errs) > 0 {
		return u.renderKeyForm(w, r, c, http.StatusUnprocessableEntity, nil, &form{Values: r.PostForm, Errors: errs})
	}
	k, tok, err := u.svc.CreateKey(r.Context(), c.actor, keyward.KindAPI, in)
	if err != nil {
		if f, ok := formError(r.PostForm, err, keyFormFields); ok {
			return u.renderKeyForm(w, r, c, http.StatusUnprocessableEntity, nil, f)
		}
		return err
	}
	u.sessions.keep(c.sess.id, k.ID, tok)
	seeOther(w, r, "/keys/"+k.ID)
	return nil
}

// editKey serves GET /keys/{id}/edit.
func (u *UI) editKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := service.Require(c.actor, keyward.PermKeysWrite); err != nil {
		return err
	}
	k, err := u.svc.GetKey(r.Context(), c.actor, keyward.KindAPI, r.PathValue("id"))
	if err != nil {
		return err
	}
	return u.renderKeyForm(w, r, c, http.StatusOK, k, &form{Values: keyFormValues(k)})
}

// updateKey serves POST /keys/{id}/edit: what the person changed is
// PATCHed, under the etag the form was made from (If-Match), so a change
// made meanwhile by someone else is not overwritten.
func (u *UI) updateKey(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, id := r.Context(), r.PathValue("id")
	k, err := u.svc.GetKey(ctx, c.actor, keyward.KindAPI, id)
	if err != nil {
		return err
	}
	in, errs := keyForm(r.PostForm, k)
	if len(errs) > 0 {
		return u.renderKeyForm(w, r, c, http.StatusUnprocessableEntity, k, &form{Values: r.PostForm, Errors: errs})
	}
	if !in.Empty() {
		if _, err := u.svc.UpdateKey(ctx, c.actor, keyward.KindAPI, id, in, r.PostForm.Get("etag")); err != nil {
			if isCode(err, keyward.ECodePreconditionFail) {
				return u.renderKeyForm(w, r, c, http.StatusPreconditionFailed, k, &form{Values: r.PostForm,
					Error: "This key was changed by someone else since this form was opened: reload the page to see the changes, then edit again."})
			}
			if f, ok := formError(r.PostForm, err, keyFormFields); ok {
				return u.renderKeyForm(w, r, c, http.StatusUnprocessableEntity, k, f)
			}
			return err
		}
	}
	seeOther(w, r, "/keys/"+id)
	return nil
}

// confirmation is a change that asks to be confirmed first.
type confirmation struct {
	Title, Question, Button string
	Danger                  bool
	// status is the status the key is set to; "" deletes it.
	status keyward.KeyStatus
}

func confirmationOf(action string, k *keyward.Key) (confirmation, bool) {
	switch action {
	case "disable":
		return confirmation{"Disable " + k.Name, "Verifications of this key will answer DISABLED until it is enabled again.", "Disable", false, keyward.StatusDisabled}, true
	case "enable":
		return confirmation{"Enable " + k.Name, "Verifications of this key will succeed again.", "Enable", false, keyward.StatusActive}, true
	case "revoke":
		return confirmation{"Revoke " + k.Name, "Verifications of this key will answer REVOKED from now on. A revoked key can never be used or changed again.", "Revoke", true, keyward.StatusRevoked}, true
	case "delete":
		return confirmation{"Delete " + k.Name, "The key is deleted for good: verifications answer NOT_FOUND and its page is gone. Its audit trail stays.", "Delete", true, ""}, true
	}
	return confirmation{}, false
}

// confirmPage is the data of a confirmation.
type confirmPage struct {
	Key *keyward.Key
	confirmation
	Action string
	Error  string
}

// confirmKey serves GET /keys/{id}/{action}: the confirmation of a
// status change or a deletion.
func (u *UI) confirmKey(w http.ResponseWriter, r *http.Request, c *call) error {
	k, conf, err := u.keyAndConfirmation(r, c)
	if err != nil {
		return err
	}
	return u.render(w, r, c, http.StatusOK, "confirm.html", confirmPage{Key: k, confirmation: conf, Action: r.URL.Path})
}

func (u *UI) keyAndConfirmation(r *http.Request, c *call) (*keyward.Key, confirmation, error) {
	if err := service.Require(c.actor, keyward.PermKeysWrite); err != nil {
		return nil, confirmation{}, err
	}
	k, err := u.svc.GetKey(r.Context(), c.actor, keyward.KindAPI, r.PathValue("id"))
	if err != nil {
		return nil, confirmation{}, err
	}
	conf, ok := confirmationOf(r.PathValue("action"), k)
	if !ok {
		return nil, confirmation{}, keyward.Errorf(keyward.ECodeNotFound, "there is no page at this address")
	}
	return k, conf, nil
}

// changeKey serves POST /keys/{id}/{action}: the confirmed change.
func (u *UI) changeKey(w http.ResponseWriter, r *http.Request, c *call) error {
	k, conf, err := u.keyAndConfirmation(r, c)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if conf.status == "" {
		if err := u.svc.DeleteKey(ctx, c.actor, keyward.KindAPI, k.ID, ""); err != nil {
			return err
		}
		seeOther(w, r, "/keys")
		return nil
	}
	if _, err := u.svc.UpdateKey(ctx, c.actor, keyward.KindAPI, k.ID, &keyward.KeyFields{Status: keyward.Some(conf.status)}, ""); err != nil {
		if f, ok := formError(r.PostForm, err, nil); ok {
			return u.render(w, r, c, http.StatusUnprocessableEntity, "confirm.html",
				confirmPage{Key: k, confirmation: conf, Action: r.URL.Path, Error: f.Error + strings.Join(mapValues(f.Errors), "; ")})
		}
		return err
	}
	seeOther(w, r, "/keys/"+k.ID)
	return nil
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// rotatePage is the data of the rotation form.
type rotatePage struct {
	Key  *keyward.Key
	Form *form
}

// rotateForm serves GET /keys/{id}/rotate.
func (u *UI) rotateForm(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := service.Require(c.actor, keyward.PermKeysWrite); err != nil {
		return err
	}
	k, err := u.svc.GetKey(r.Context(), c.actor, keyward.KindAPI, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := &form{Values: map[string][]string{"grace_period": {"3600"}}}
	return u.render(w, r, c, http.StatusOK, "rotate.html", rotatePage{Key: k, Form: f})
}

// rotateKey serves POST /keys/{id}/rotate: a new secret, the old one
// valid for the grace period; the new secret waits in the session for
// the key's page.
func (u *UI) rotateKey(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx, id := r.Context(), r.PathValue("id")
	k, err := u.svc.GetKey(ctx, c.actor, keyward.KindAPI, id)
	if err != nil {
		return err
	}
	secs, perr := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get("grace_period")), 10, 64)
	if perr != nil || secs < 0 || secs > int64(keyward.MaxGracePeriod/time.Second) {
		return u.render(w, r, c, http.StatusUnprocessableEntity, "rotate.html", rotatePage{Key: k, Form: &form{Values: r.PostForm,
			Errors: map[string]string{"grace_period": "must be a whole number of seconds from 0 to " + itoa(int64(keyward.MaxGracePeriod/time.Second))}}})
	}
	nk, tok, err := u.svc.RotateKey(ctx, c.actor, keyward.KindAPI, id, time.Duration(secs)*time.Second, keyward.Field[time.Time]{}, "")
	if err != nil {
		if f, ok := formError(r.PostForm, err, keyFormFields); ok {
			return u.render(w, r, c, http.StatusUnprocessableEntity, "rotate.html", rotatePage{Key: k, Form: f})
		}
		return err
	}
	u.sessions.keep(c.sess.id, nk.ID, tok)
	seeOther(w, r, "/keys/"+nk.ID)
	return nil
}
