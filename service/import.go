package service

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/keyward/keyward"
)

// MaxImport bounds the keys of one import request.
const MaxImport = 1000

// errHashInUse is the refusal of an imported hash that keyward already
// holds (docs/decisions.md, "Import reveals as little as it can").
const errHashInUse = "cannot be imported: this hash is already in use (in this account or another; keyward does not say which)"

// parseHash reads a SHA-256 given as 64 hex characters or as base64
// (standard or URL alphabet, padded or not).
func parseHash(s string) (keyward.TokenHash, bool) {
	var h keyward.TokenHash
	var b []byte
	var err error
	if len(s) == 64 {
		b, err = hex.DecodeString(s)
	} else {
		err = fmt.Errorf("not hex")
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err = enc.DecodeString(s); err == nil {
				break
			}
		}
	}
	if err != nil || len(b) != len(h) {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

// ImportKeys imports API keys from another system by the hashes of their
// tokens (Unkey's migrateKeys): the imported keys verify with their
// original tokens. All or nothing: any invalid or duplicate item (a hash
// keyward already knows, or one repeated in the request) fails the whole
// request with one error per item, naming it.
func (s *Service) ImportKeys(ctx context.Context, a *keyward.Actor, items []keyward.ImportItem) ([]*keyward.Key, error) {
	if err := require(a, keyward.PermKeysWrite); err != nil {
		return nil, err
	}
	if len(items) == 0 || len(items) > MaxImport {
		return nil, keyward.InvalidField("keys", "must hold between 1 and %d keys", MaxImport)
	}
	var out []*keyward.Key
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		env, err := s.keyEnv(ctx, tx, a)
		if err != nil {
			return err
		}
		var (
			fields    []keyward.FieldError
			onlyDupes = true
			seen      = map[keyward.TokenHash]int{}
			hashes    = make([]keyward.TokenHash, len(items))
			keys      = make([]*keyward.Key, len(items))
		)
		add := func(dupe bool, field, format string, args ...any) {
			fields = append(fields, keyward.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
			onlyDupes = onlyDupes && dupe
		}
		for i := range items {
			it := &items[i]
			at := fmt.Sprintf("keys[%d]", i)
			h, ok := parseHash(strings.TrimSpace(it.Hash))
			switch {
			case !ok:
				add(false, at+".hash", "must be a SHA-256 as 64 hex characters or base64")
			case seen[h] > 0:
				add(true, at+".hash", "repeats keys[%d].hash", seen[h]-1)
			default:
				seen[h] = i + 1
				switch m, err := tx.FindKeyByHash(ctx, h); {
				case err == nil:
					// One answer whatever holds the hash: a key of this
					// account or another, active, revoked, or an old
					// secret of a rotated key. The caller learns that the
					// token it hashed is in use, never where or how.
					add(true, at+".hash", "%s", errHashInUse)
					if m.Key.AccountID != a.AccountID {
						// The other account's token has likely leaked:
						// tell the operator (never the token or its hash).
						s.log.Warn("import refused: the hash of another account's key was sent", "importing_account", a.AccountID,
							"actor_id", a.ActorID(), "key_account", m.Key.AccountID, "key_id", m.Key.ID)
					}
				case !isNotFound(err):
					return err
				}
			}
			hashes[i] = h
			if it.Recoverable.HasValue() && it.Recoverable.Value {
				add(false, at+".recoverable", "an imported key cannot be recoverable: keyward never saw its secret")
				continue
			}
			k, err := keyward.NewKey(keyward.KindAPI, &it.KeyFields, env)
			if err != nil {
				e := keyward.AsError(err)
				if e.Code != keyward.ECodeValidation {
					return err
				}
				for _, fe := range e.Fields {
					add(false, at+"."+fe.Field, "%s", fe.Message)
				}
				continue
			}
			for _, d := range []struct {
				name string
				v    *string
				max  int
			}{{"start", it.Start, 20}, {"last4", it.Last4, 4}} {
				name, v, max := d.name, d.v, d.max
				if v != nil && (len(*v) > max || strings.ContainsFunc(*v, func(r rune) bool { return r <= ' ' || r >= 0x7f })) {
					add(false, at+"."+name, "must be at most %d printable ASCII characters", max)
				}
			}
			keys[i] = k
		}
		if len(fields) > 0 {
			code := keyward.ECodeValidation
			if onlyDupes {
				code = keyward.ECodeDuplicate
			}
			return &keyward.Error{Code: code, Message: fmt.Sprintf("%d of %d keys cannot be imported; nothing was imported", len(fields), len(items)), Fields: fields}
		}
		for i, k := range keys {
			now := s.now()
			k.ID = s.ids.New(keyward.PrefixKey)
			k.CreatedAt, k.UpdatedAt = now, now
			k.CreatedByID, k.UpdatedByID = a.ActorID(), a.ActorID()
			k.Version = 1
			if items[i].Start != nil {
				k.Start = *items[i].Start
			}
			if items[i].Last4 != nil {
				k.Last4 = *items[i].Last4
			}
			if err := tx.CreateKey(ctx, k, hashes[i]); err != nil {
				return err
			}
			if err := s.audit(ctx, tx, a, k.AccountID, keyward.ActionKeyImported, keyward.TargetKey, k.ID, keyward.Diff(nil, keyward.KeyFieldMap(k))); err != nil {
				return err
			}
		}
		out = keys
		return nil
	})
	return out, err
}
