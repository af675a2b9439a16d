package service

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keyward/keyward"
)

// MaxGracePeriodSeconds bounds a rotation's grace period: 7 days.
const MaxGracePeriodSeconds = 7 * 24 * 3600

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

// loadKey returns the key if it is of the kind and in the actor's account;
// anything else is the same 404, so ids of other accounts reveal nothing.
func loadKey(ctx context.Context, tx keyward.Tx, a *keyward.Actor, kind keyward.KeyKind, id string) (*keyward.Key, error) {
	notFound := keyward.NotFound(string(target(kind)), id)
	if !keyward.ValidID(keyward.PrefixKey, id) {
		return nil, notFound
	}
	k, err := tx.GetKey(ctx, id)
	if isNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if k.Kind != kind || k.AccountID != a.AccountID {
		return nil, notFound
	}
	return k, nil
}

// keyEnv gathers what the key rules need from the acting account.
func (s *Service) keyEnv(ctx context.Context, tx keyward.Tx, accountID string) (*keyward.KeyEnv, error) {
	acct, err := tx.GetAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	res, err := tx.ListResources(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return &keyward.KeyEnv{
		Account: acct,
		Catalog: keyward.NewCatalog(res),
		Now:     s.now(),
		ProjectExists: func(id string) (bool, error) {
			p, err := tx.GetProject(ctx, id)
			if isNotFound(err) {
				return false, nil
			}
			return err == nil && p.AccountID == accountID, err
		},
	}, nil
}

// CreateKey creates a key of the given kind in the actor's account and
// returns it with its secret, which is never available again.
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
		env, err := s.keyEnv(ctx, tx, a.AccountID)
		if err != nil {
			return err
		}
		k, err = keyward.NewKey(kind, in, env)
		if err != nil {
			return err
		}
		if tok, err = keyward.NewToken(k.Prefix, s.random); err != nil {
			return keyward.Internal(err)
		}
		s.stamp(k, a, tok)
		if err := tx.CreateKey(ctx, k, tok.Hash()); err != nil {
			return err
		}
		action := keyward.ActionKeyCreated
		if kind == keyward.KindManagement {
			action = keyward.ActionMgmtKeyCreated
		}
		return s.audit(ctx, tx, a, a.AccountID, action, target(kind), k.ID, keyward.Diff(nil, keyward.KeyFieldMap(k)))
	})
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return k, tok, nil
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
	if err := require(a, read); err != nil {
		return nil, err
	}
	var k *keyward.Key
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		k, err = loadKey(ctx, tx, a, kind, id)
		return err
	})
	return k, err
}

// ListKeys returns one page of the actor's account's keys of the kind.
func (s *Service) ListKeys(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, f keyward.KeyFilter) ([]*keyward.Key, bool, error) {
	read, _ := perms(kind)
	if err := require(a, read); err != nil {
		return nil, false, err
	}
	f.AccountID, f.Kind, f.Now = a.AccountID, kind, s.now()
	var (
		keys []*keyward.Key
		more bool
	)
	err := s.store.Read(ctx, func(tx keyward.Tx) (err error) {
		keys, more, err = tx.ListKeys(ctx, &f)
		return err
	})
	return keys, more, err
}

// UpdateKey applies a PATCH (SPEC §6). ifMatch, if not empty, must match
// the key's current etag (else 412). A request that changes nothing
// returns the key as it is and writes nothing.
func (s *Service) UpdateKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string, in *keyward.KeyFields, ifMatch string) (*keyward.Key, error) {
	return s.changeKey(ctx, a, kind, id, ifMatch, func(cur *keyward.Key, env *keyward.KeyEnv) (*keyward.Key, bool, error) {
		return keyward.PatchKey(cur, in, env)
	})
}

// ReplaceKey applies a PUT (SPEC §6): omitted optional fields take the
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
		cur, err := loadKey(ctx, tx, a, kind, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		env, err := s.keyEnv(ctx, tx, a.AccountID)
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
		out, err = s.writeKey(ctx, tx, a, cur, next, "", nil)
		return err
	})
	return out, err
}

// writeKey stores next as the new version of cur with one audit event,
// whose changes are the field diff plus extra. An empty action means
// key.revoked when the change revokes, else key.updated (management_… for
// management keys).
func (s *Service) writeKey(ctx context.Context, tx keyward.Tx, a *keyward.Actor, cur, next *keyward.Key, action string, extra map[string]keyward.Change) (*keyward.Key, error) {
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
	if action == "" {
		action = keyward.ActionKeyUpdated
		if next.Status == keyward.StatusRevoked && cur.Status != keyward.StatusRevoked {
			action = keyward.ActionKeyRevoked
		}
		if next.Kind == keyward.KindManagement {
			action = "management_" + action
		}
	}
	if err := s.audit(ctx, tx, a, next.AccountID, action, target(next.Kind), next.ID, changes); err != nil {
		return nil, err
	}
	return next, nil
}

// DeleteKey hard-deletes a key: its secrets stop verifying at once; its
// audit trail stays.
func (s *Service) DeleteKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id, ifMatch string) error {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return err
	}
	return s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKey(ctx, tx, a, kind, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		if err := tx.DeleteKey(ctx, id); err != nil {
			return err
		}
		action := keyward.ActionKeyDeleted
		if kind == keyward.KindManagement {
			action = "management_" + action
		}
		return s.audit(ctx, tx, a, cur.AccountID, action, target(kind), id, keyward.Diff(keyward.KeyFieldMap(cur), nil))
	})
}

// RotateKey gives the key a new secret, keeping its id and settings. The
// old secret stays valid for graceSeconds (0 to 7 days), then verifies as ROTATED.
// A revoked key cannot be rotated.
func (s *Service) RotateKey(ctx context.Context, a *keyward.Actor, kind keyward.KeyKind, id string, graceSeconds int64, ifMatch string) (*keyward.Key, keyward.Token, error) {
	_, write := perms(kind)
	if err := require(a, write); err != nil {
		return nil, keyward.Token{}, err
	}
	if graceSeconds < 0 || graceSeconds > MaxGracePeriodSeconds {
		return nil, keyward.Token{}, keyward.InvalidField("grace_period_seconds", "must be between 0 and %d", MaxGracePeriodSeconds)
	}
	var (
		out *keyward.Key
		tok keyward.Token
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		cur, err := loadKey(ctx, tx, a, kind, id)
		if err != nil {
			return err
		}
		if err := checkIfMatch(ifMatch, cur.ETag()); err != nil {
			return err
		}
		if cur.Status == keyward.StatusRevoked {
			return keyward.Errorf(keyward.ECodeKeyRevoked, "key %s is revoked: a revoked key cannot be rotated", id)
		}
		if tok, err = keyward.NewToken(cur.Prefix, s.random); err != nil {
			return keyward.Internal(err)
		}
		now := s.now()
		next := cur.Clone()
		next.Start, next.Last4 = tok.Start(), tok.Last4()
		next.RotatedAt = &now
		oldUntil := now.Add(time.Duration(graceSeconds) * time.Second)
		if err := tx.RotateKeySecret(ctx, id, tok.Hash(), now, oldUntil); err != nil {
			return err
		}
		action := keyward.ActionKeyRotated
		if kind == keyward.KindManagement {
			action = "management_" + action
		}
		out, err = s.writeKey(ctx, tx, a, cur, next, action, map[string]keyward.Change{
			"previous_secret_valid_until": {Before: json.RawMessage("null"), After: mustJSON(oldUntil)},
		})
		return err
	})
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return out, tok, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with times and plain values
	}
	return b
}
