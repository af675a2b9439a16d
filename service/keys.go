package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

// perms returns the read and write permissions guarding keys of a kind.
func perms(kind keyward.KeyKind) (read, write string) {
	if kind == keyward.KindManagement {
		return keyward.PermManagementKeysRead, keyward.PermManagementKeysWrite
	}
	return keyward.PermKeysRead, keyward.PermKeysWrite
}

func target(kind keyward.KeyKind) string {
	if kind == keyward.KindManagement {
		return keyward.TargetManagementKey
	}
	return keyward.TargetKey
}

// action names an audit action for a kind: key.x or management_key.x.
func action(kind keyward.KeyKind, a string) string {
	if kind == keyward.KindManagement {
		return "management_" + a
	}
	return a
}

// isOperator reports whether the actor is an operator key (or the system).
func isOperator(a *keyward.Actor) bool { return a.Key == nil || a.Key.Operator }

// loadKey returns the key if it is of the kind and in the actor's account;
// anything else is the same 404, so ids of other accounts reveal nothing.
// Operator management keys belong to no account: only operator keys see them.
func loadKey(ctx context.Context, tx keyward.Tx, a *keyward.Actor, kind keyward.KeyKind, id string) (*keyward.Key, error) {
	notFound := keyward.NotFound(strings.ReplaceAll(target(kind), "_", " "), id)
	if !keyward.ValidID(keyward.PrefixKey, id) {
		return nil, notFound
	}
	k, err := tx.GetKey(ctx, a.AccountID, id)
	if isNotFound(err) && kind == keyward.KindManagement && isOperator(a) {
		k, err = tx.GetOperatorKey(ctx, id)
	}
	if isNotFound(err) || (err == nil && k.Kind != kind) {
		return nil, notFound
	}
	return k, err
}

// loadKeyToChange is loadKey for a change of the key: the no-escalation
// rule for management keys first (selfChange: a change of the key's
// settings, which a key may not make to itself; see guardManagementKey),
// then If-Match, which must match the key's current etag when it is given
// (else 412).
func loadKeyToChange(ctx context.Context, tx keyward.Tx, a *keyward.Actor, kind keyward.KeyKind, id, ifMatch string, selfChange bool) (*keyward.Key, error) {
	cur, err := loadKey(ctx, tx, a, kind, id)
	if err != nil {
		return nil, err
	}
	if err := guardKind(kind, a, cur, nil, selfChange); err != nil {
		return nil, err
	}
	if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
		return nil, err
	}
	return cur, nil
}

// keyEnv gathers what the key rules need from the acting account.
func (s *Service) keyEnv(ctx context.Context, tx keyward.Tx, a *keyward.Actor) (*keyward.KeyEnv, error) {
	accountID := a.AccountID
	acct, err := tx.GetAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	res, err := tx.ListResources(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return &keyward.KeyEnv{
		Account:         acct,
		Catalog:         keyward.NewCatalog(res),
		Now:             s.now(),
		MasterKey:       s.master != nil,
		OperatorAllowed: isOperator(a),
		ProjectExists: func(id string) (bool, error) {
			_, err := tx.GetProject(ctx, accountID, id)
			return exists(err)
		},
		OwnerExists: func(o keyward.Owner) (bool, error) {
			switch o.Type {
			case keyward.OwnerUser:
				_, err := tx.GetUser(ctx, accountID, o.ID)
				return exists(err)
			case keyward.OwnerServiceAccount:
				_, err := tx.GetServiceAccount(ctx, accountID, o.ID)
				return exists(err)
			}
			return false, nil
		},
		RoleScopes: func(name string) ([]keyward.Scope, bool, error) {
			r, err := tx.GetRole(ctx, accountID, name)
			if isNotFound(err) {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			return r.Scopes, true, nil
		},
	}, nil
}

// withinConstraints fails with 403 unless k is bound at least as tightly
// as the caller's own key: an account-bound caller manages keys of its
// account only, a caller that expires manages only keys that expire no
// later, and a caller with an IP allowlist only keys whose allowlist lies
// within it. Otherwise a constrained key (a short-lived or
// address-restricted credential handed to a script) could mint, reshape
// or rotate its way to an unconstrained one with the same permissions.
func withinConstraints(caller, k *keyward.Key) error {
	deny := func(constraint, format string, args ...any) error {
		return &keyward.Error{Code: keyward.ECodePermissionDenied, Message: fmt.Sprintf(format, args...),
			Details: map[string]any{"constraint": constraint}}
	}
	if !caller.Operator && k.AccountID != caller.AccountID {
		return deny("account", "a management key bound to an account manages only that account's keys")
	}
	if caller.ExpiresAt != nil && (k.ExpiresAt == nil || k.ExpiresAt.After(*caller.ExpiresAt)) {
		return deny("expires_at", "this management key expires at %s: it can only manage keys that expire no later",
			caller.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if caller.IPAllowlist != nil && !keyward.AllowlistWithin(k.IPAllowlist, caller.IPAllowlist) {
		return deny("ip_allowlist", "this management key is limited to %s: it can only manage keys whose ip_allowlist lies within it",
			strings.Join(caller.IPAllowlist, ", "))
	}
	return nil
}

// newToken makes a new secret with the prefix.
func (s *Service) newToken(prefix string) (keyward.Token, error) {
	tok, err := keyward.NewToken(prefix, s.random)
	if err != nil {
		return tok, keyward.Internal(err)
	}
	return tok, nil
}

// guardKind is guardManagementKey for a key of kind: the rule is the
// management keys' alone.
func guardKind(kind keyward.KeyKind, a *keyward.Actor, target, next *keyward.Key, selfChange bool) error {
	if kind != keyward.KindManagement {
		return nil
	}
	return guardManagementKey(a, target, next, selfChange)
}

// MayChangeKey fails, as the change itself would, unless the actor may
// change key k of kind: the kind's write permission and, for management
// keys, the no-escalation rule (selfChange: a change of k's settings or
// status, which a key may not make to itself). The dashboard offers only
// the actions it allows.
func MayChangeKey(a *keyward.Actor, kind keyward.KeyKind, k *keyward.Key, selfChange bool) error {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return err
	}
	return guardKind(kind, a, k, nil, selfChange)
}

// guardManagementKey enforces the no-escalation rule on a change to a
// management key: the caller must hold every permission the key holds now
// (target, nil on create) and every permission it will hold (next), and be
// bound at least as tightly (withinConstraints); only operator keys touch
// operator keys, and a key never changes its own permissions or settings
// (rotating or deleting itself is allowed).
func guardManagementKey(a *keyward.Actor, target, next *keyward.Key, selfChange bool) error {
	if a.Key == nil {
		return nil // the system (bootstrap, admin command)
	}
	deny := func(format string, args ...any) error {
		return keyward.Errorf(keyward.ECodePermissionDenied, format, args...)
	}
	if target != nil && target.ID == a.Key.ID && selfChange {
		return deny("a management key cannot change itself; use another management key")
	}
	for _, k := range []*keyward.Key{target, next} {
		if k == nil {
			continue
		}
		if k.Operator && !a.Key.Operator {
			return deny("only an operator key can manage an operator key")
		}
		if err := withinConstraints(a.Key, k); err != nil {
			return err
		}
		for _, p := range k.Permissions {
			if !slices.Contains(a.Key.Permissions, p) {
				return &keyward.Error{
					Code:    keyward.ECodePermissionDenied,
					Message: "a management key can only manage keys within its own permissions; it lacks " + p,
					Details: map[string]any{"missing_permission": p},
				}
			}
		}
	}
	return nil
}

// CreateKey creates a key of the given kind in the actor's account and
// returns it with its secret, which is never available again (except, for
// a recoverable key, through RevealSecret).
func (s *Service) CreateKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, in *keyward.KeyFields) (*keyward.Key, keyward.Token, error) {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return nil, keyward.Token{}, err
	}
	var (
		k   *keyward.Key
		tok keyward.Token
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		env, err := s.keyEnv(ctx, tx, a)
		if err != nil {
			return err
		}
		if k, err = keyward.NewKey(kind, in, env); err != nil {
			return err
		}
		if err := guardKind(kind, a, nil, k, false); err != nil {
			return err
		}
		if tok, err = s.newToken(k.Prefix); err != nil {
			return err
		}
		s.stamp(k, a, tok)
		if err := s.sealIfRecoverable(k, tok); err != nil {
			return err
		}
		if err := tx.CreateKey(ctx, k, tok.Hash()); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, auditAccount(a, k), action(kind, keyward.ActionKeyCreated), target(kind), k.ID, keyward.Diff(nil, keyward.KeyFieldMap(k)))
	})
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return k, tok, nil
}

// auditAccount is the account whose log records a change to k: its own, or
// for an operator key (which has none) the acting account.
func auditAccount(a *keyward.Actor, k *keyward.Key) string {
	if k.AccountID != "" {
		return k.AccountID
	}
	return a.AccountID
}

func (s *Service) sealIfRecoverable(k *keyward.Key, tok keyward.Token) error {
	if !k.Recoverable {
		return nil
	}
	if s.master == nil {
		return keyward.InvalidField("recoverable", "recoverable keys need the server to be started with a master key")
	}
	sealed, err := s.master.Seal(k.ID, tok)
	if err != nil {
		return keyward.Internal(err)
	}
	k.SealedSecret = sealed
	return nil
}

// stamp fills in what a new key gets beyond its fields: id, display parts
// of the secret, times, creator and version 1.
func (s *Service) stamp(k *keyward.Key, a *keyward.Actor, tok keyward.Token) {
	now := s.now()
	k.ID = s.ids.New(keyward.PrefixKey)
	k.Start, k.Last4 = tok.Start(), tok.Last4()
	k.CreatedAt, k.UpdatedAt = now, now
	k.CreatedByID, k.UpdatedByID = a.ActorID(), a.ActorID()
	k.Version = 1
}

// GetKey returns one key of the actor's account.
func (s *Service) GetKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string) (*keyward.Key, error) {
	read, _ := perms(kind)
	return readAs(ctx, s, a, read, func(tx keyward.Tx) (*keyward.Key, error) { return loadKey(ctx, tx, a, kind, id) })
}

// ListKeys returns one page of the actor's account's keys of the kind
// (management keys listed by an operator key include the operator keys).
func (s *Service) ListKeys(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, f keyward.KeyFilter) ([]*keyward.Key, bool, error) {
	read, _ := perms(kind)
	f.AccountID, f.Kind, f.Now = a.AccountID, kind, s.now()
	f.IncludeOperator = kind == keyward.KindManagement && isOperator(a)
	return listAs(ctx, s, a, read, func(tx keyward.Tx) ([]*keyward.Key, bool, error) { return tx.ListKeys(ctx, &f) })
}

// ExpiringKeys returns the account's active keys of kind that expire
// within the next within, the soonest first, at most limit (1 to
// keyward.MaxPageLimit).
func (s *Service) ExpiringKeys(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, within time.Duration, limit int) ([]*keyward.Key, error) {
	if within <= 0 || limit < 1 || limit > keyward.MaxPageLimit {
		return nil, keyward.Errorf(keyward.ECodeBadRequest, "expiring keys: a positive window and a limit of 1 to %d", keyward.MaxPageLimit)
	}
	read, _ := perms(kind)
	now := s.now()
	keys, _, err := listAs(ctx, s, a, read, func(tx keyward.Tx) ([]*keyward.Key, bool, error) {
		keys, err := tx.ExpiringKeys(ctx, a.AccountID, kind, now, now.Add(within), limit)
		return keys, false, err
	})
	return keys, err
}

// UpdateKey applies a PATCH (keyward.PatchKey). ifMatch, if not empty, must match
// the key's current etag (else 412). A request that changes nothing
// returns the key as it is and writes nothing.
func (s *Service) UpdateKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string, in *keyward.KeyFields, ifMatch string) (*keyward.Key, error) {
	return s.changeKey(ctx, a, kind, id, ifMatch, func(cur *keyward.Key, env *keyward.KeyEnv) (*keyward.Key, bool, error) {
		return keyward.PatchKey(cur, in, env)
	})
}

// ReplaceKey applies a PUT (keyward.ReplaceKey): omitted optional fields take the
// value a new key would get.
func (s *Service) ReplaceKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string, in *keyward.KeyFields, ifMatch string) (*keyward.Key, error) {
	return s.changeKey(ctx, a, kind, id, ifMatch, func(cur *keyward.Key, env *keyward.KeyEnv) (*keyward.Key, bool, error) {
		return keyward.ReplaceKey(cur, in, env)
	})
}

func (s *Service) changeKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id, ifMatch string,
	apply func(cur *keyward.Key, env *keyward.KeyEnv) (*keyward.Key, bool, error)) (*keyward.Key, error) {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return nil, err
	}
	var out *keyward.Key
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKeyToChange(ctx, tx, a, kind, id, ifMatch, true)
		if err != nil {
			return err
		}
		env, err := s.keyEnv(ctx, tx, a)
		if err != nil {
			return err
		}
		next, changed, err := apply(cur, env)
		if err != nil {
			return err
		}
		if !changed {
			out = cur
			return nil
		}
		if err := guardKind(kind, a, cur, next, true); err != nil {
			return err
		}
		out, err = s.storeKeyChange(ctx, tx, a, cur, next, updateAction(cur, next), nil)
		return err
	})
	return out, err
}

// updateAction is the audit action of a change of a key's settings:
// key.revoked when it revokes the key, else key.updated (management_… for
// management keys).
func updateAction(cur, next *keyward.Key) string {
	if next.Status == keyward.StatusRevoked && cur.Status != keyward.StatusRevoked {
		return action(next.Kind, keyward.ActionKeyRevoked)
	}
	return action(next.Kind, keyward.ActionKeyUpdated)
}

// storeKeyChange stores next as the new version of cur with one audit
// event of the action act, whose changes are the field diff plus extra.
func (s *Service) storeKeyChange(ctx context.Context, tx keyward.Tx, a *keyward.Actor, cur, next *keyward.Key, act string, extra map[string]keyward.Change) (*keyward.Key, error) {
	next.Version = cur.Version + 1
	next.UpdatedAt = s.now()
	next.UpdatedByID = a.ActorID()
	if err := tx.UpdateKey(ctx, next); err != nil {
		return nil, err
	}
	changes := keyward.Diff(keyward.KeyFieldMap(cur), keyward.KeyFieldMap(next))
	for n, c := range extra {
		if changes == nil {
			changes = map[string]keyward.Change{}
		}
		changes[n] = c
	}
	if err := s.audit(ctx, tx, a, auditAccount(a, next), act, target(next.Kind), next.ID, changes); err != nil {
		return nil, err
	}
	return next, nil
}

// revokeKeys revokes keys as one consequence of another change (a project,
// user or service account deleted), one audit event each with the reason.
func (s *Service) revokeKeys(ctx context.Context, tx keyward.Tx, a *keyward.Actor, keys []*keyward.Key, reason string) ([]string, error) {
	why := map[string]keyward.Change{"reason": {Before: json.RawMessage("null"), After: mustJSON(reason)}}
	var ids []string
	for _, k := range keys {
		next := k.Clone()
		next.Status = keyward.StatusRevoked
		if _, err := s.storeKeyChange(ctx, tx, a, k, next, updateAction(k, next), why); err != nil {
			return nil, err
		}
		ids = append(ids, k.ID)
	}
	return ids, nil
}

// DeleteKey hard-deletes a key: its secrets stop verifying at once; its
// audit trail stays.
func (s *Service) DeleteKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id, ifMatch string) error {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return err
	}
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKeyToChange(ctx, tx, a, kind, id, ifMatch, false)
		if err != nil {
			return err
		}
		if err := tx.DeleteKey(ctx, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, auditAccount(a, cur), action(kind, keyward.ActionKeyDeleted), target(kind), id, keyward.Diff(keyward.KeyFieldMap(cur), nil))
	})
}

// RotateKey gives the key a new secret, keeping its id and settings. The
// old secret stays valid for grace (0 to keyward.MaxGracePeriod), then
// verifies as ROTATED. expiresAt, when Set, gives the rotated key a new
// expiry (null is refused: a rotation cannot clear one). A revoked key
// cannot be rotated; the result must satisfy the account's expiry policy
// (422 naming the rule).
func (s *Service) RotateKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string, grace time.Duration, expiresAt keyward.Field[time.Time], ifMatch string) (*keyward.Key, keyward.Token, error) {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return nil, keyward.Token{}, err
	}
	if grace < 0 || grace > keyward.MaxGracePeriod {
		return nil, keyward.Token{}, keyward.InvalidField("grace_period_seconds", "must be between 0 and %d", int64(keyward.MaxGracePeriod/time.Second))
	}
	var (
		out *keyward.Key
		tok keyward.Token
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKeyToChange(ctx, tx, a, kind, id, ifMatch, false)
		if err != nil {
			return err
		}
		if cur.Status == keyward.StatusRevoked {
			return keyward.Errorf(keyward.ECodeKeyRevoked, "key %s is revoked: a revoked key cannot be rotated", id)
		}
		env, err := s.keyEnv(ctx, tx, a)
		if err != nil {
			return err
		}
		next := cur.Clone()
		if expiresAt.Null {
			return keyward.InvalidField("expires_at", "cannot be null on a rotation; PATCH the key to clear its expiry")
		}
		var exp *time.Time
		if expiresAt.Set {
			exp = &expiresAt.Value
		}
		if err := keyward.RotationExpiry(next, exp, env); err != nil {
			return err
		}
		// A new expiry must stay within the caller's bounds too.
		if err := guardKind(kind, a, cur, next, false); err != nil {
			return err
		}
		if tok, err = s.newToken(cur.Prefix); err != nil {
			return err
		}
		now := s.now()
		next.Start, next.Last4 = tok.Start(), tok.Last4()
		next.RotatedAt = &now
		if err := s.sealIfRecoverable(next, tok); err != nil {
			return err
		}
		oldUntil := now.Add(grace)
		if err := tx.RotateKeySecret(ctx, id, tok.Hash(), now, oldUntil); err != nil {
			return err
		}
		out, err = s.storeKeyChange(ctx, tx, a, cur, next, action(kind, keyward.ActionKeyRotated), map[string]keyward.Change{
			"previous_secret_valid_until": {Before: json.RawMessage("null"), After: mustJSON(oldUntil)},
		})
		return err
	})
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return out, tok, nil
}

// RevealSecret returns the token of a recoverable API key; it
// needs keys:reveal and writes an audit event. A key that is not
// recoverable is a 409; so is a server without a master key.
func (s *Service) RevealSecret(ctx context.Context, a *keyward.Actor, id string) (*keyward.Key, keyward.Token, error) {
	if err := require(a, keyward.PermKeysReveal); err != nil {
		return nil, keyward.Token{}, err
	}
	var (
		k   *keyward.Key
		tok keyward.Token
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		var err error
		if k, err = loadKey(ctx, tx, a, keyward.KindAPI, id); err != nil {
			return err
		}
		switch {
		case !k.Recoverable || len(k.SealedSecret) == 0:
			return keyward.Errorf(keyward.ECodeConflict, "key %s is not recoverable: its secret was never stored", id)
		case s.master == nil:
			return keyward.Errorf(keyward.ECodeConflict, "the server was started without a master key: recoverable secrets cannot be read")
		}
		if tok, err = s.master.Open(k.ID, k.SealedSecret); err != nil {
			return &keyward.Error{Code: keyward.ECodeConflict, Message: "the server's master key does not open this secret: it was sealed under another master key", Err: err}
		}
		return s.audit(ctx, tx, a, k.AccountID, keyward.ActionKeySecretRevealed, keyward.TargetKey, k.ID, nil)
	})
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return k, tok, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with times and plain values
	}
	return b
}
