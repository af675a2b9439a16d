package service

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"time"

	"github.com/keyward/keyward"
)

// Idempotency windows.
const (
	// IdempotencyTTL is how long an answer is remembered.
	IdempotencyTTL = 24 * time.Hour
	// idempotencyAbandoned is when a reservation whose request never
	// finished (the process died) may be taken over.
	idempotencyAbandoned = 2 * time.Minute
)

// Answer is a recorded HTTP answer: status, the headers worth replaying,
// and the body.
type Answer struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"`
}

// Idempotent runs a creating request at most once per Idempotency-Key
// (docs/api.md): the first request with a key runs and, if it succeeds (2xx),
// its answer is remembered for 24 hours, sealed with AES-256-GCM under a key
// derived from the Idempotency-Key itself (the database keeps only its
// SHA-256, so a copy of the database cannot read the secrets a key creation
// returned). A retry with the same key and the same request gets the same
// answer (replayed = true) and creates nothing; the same key with a
// different request, or while the first is still running, is a 409.
func (s *Service) Idempotent(ctx context.Context, a *keyward.Actor, idemKey string, request []byte, run func() (*Answer, error)) (ans *Answer, replayed bool, err error) {
	scope := a.AccountID + ":" + a.ActorID()
	keyHash := sha256.Sum256([]byte(idemKey))
	reqHash := sha256.Sum256(request)
	now := s.now()
	rec := &keyward.IdempotencyRecord{Scope: scope, KeyHash: keyHash[:], RequestHash: reqHash[:], Pending: true, CreatedAt: now}
	var prev *keyward.IdempotencyRecord
	err = s.store.Write(ctx, func(tx keyward.Tx) error {
		var err error
		prev, err = tx.ReserveIdempotency(ctx, rec, now.Add(-IdempotencyTTL))
		if err == nil && prev != nil && prev.Pending && prev.CreatedAt.Before(now.Add(-idempotencyAbandoned)) {
			// The first request died before finishing: take over.
			if err = tx.ReleaseIdempotency(ctx, scope, keyHash[:]); err == nil {
				prev, err = tx.ReserveIdempotency(ctx, rec, now.Add(-IdempotencyTTL))
			}
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if prev != nil {
		switch {
		case !bytes.Equal(prev.RequestHash, reqHash[:]):
			return nil, false, keyward.Errorf(keyward.ECodeIdempotencyConflict, "this Idempotency-Key was used with a different request in the last 24 hours")
		case prev.Pending:
			return nil, false, keyward.Errorf(keyward.ECodeIdempotencyConflict, "a request with this Idempotency-Key is still in progress; retry later")
		}
		ans, err := s.openAnswer(idemKey, scope, prev.Response)
		if err != nil {
			// Sealed under a master key this server does not have.
			return nil, false, &keyward.Error{Code: keyward.ECodeIdempotencyConflict, Err: err,
				Message: "the answer remembered for this Idempotency-Key cannot be read by this server (its master key changed); use a new Idempotency-Key"}
		}
		return ans, true, nil
	}

	ans, err = run()
	if err != nil || ans.Status < 200 || ans.Status > 299 {
		// Nothing was created: forget the reservation so a retry runs.
		release, cancel := afterwards(ctx)
		defer cancel()
		if rerr := s.store.Write(release, func(tx keyward.Tx) error { return tx.ReleaseIdempotency(release, scope, keyHash[:]) }); rerr != nil {
			s.log.Warn("releasing an idempotency reservation failed", "err", rerr)
		}
		return ans, false, err
	}
	sealed, err := s.sealAnswer(idemKey, scope, ans)
	if err != nil {
		return nil, false, keyward.Internal(err)
	}
	rec.Pending, rec.Status, rec.Response = false, ans.Status, sealed
	// The change is made: record its answer even if the client went away.
	finish, cancel := afterwards(ctx)
	defer cancel()
	if err := s.store.Write(finish, func(tx keyward.Tx) error { return tx.FinishIdempotency(finish, rec) }); err != nil {
		s.log.Error("recording an idempotent answer failed; a retry will be refused as in progress until the reservation is abandoned", "err", err)
	}
	return ans, false, nil
}

// bookkeepingBudget bounds what an idempotent request writes after its
// change (or its failure): the record must be written even if the
// request's own budget ran out meanwhile, but never by waiting without end
// for the writer.
const bookkeepingBudget = 2 * time.Second

// afterwards returns the context of that bookkeeping: ctx's values without
// its cancellation, bounded by bookkeepingBudget.
func afterwards(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingBudget)
}

// answerKey derives the AES-256 key sealing an answer from the
// Idempotency-Key, the scope and, when the server has one, the master key.
func (s *Service) answerKey(idemKey, scope string) ([]byte, error) {
	secret := []byte(idemKey)
	if s.master != nil {
		// Mixing in the master key means even a weak Idempotency-Key
		// cannot be guessed from the database alone.
		secret = append(secret, s.master.Fingerprint()...)
	}
	return hkdf.Key(sha256.New, secret, []byte(scope), "keyward idempotency answer v1", 32)
}

func (s *Service) sealAnswer(idemKey, scope string, ans *Answer) ([]byte, error) {
	plain, err := json.Marshal(ans)
	if err != nil {
		return nil, err
	}
	aead, err := s.answerAEAD(idemKey, scope)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, []byte(scope)), nil
}

func (s *Service) openAnswer(idemKey, scope string, sealed []byte) (*Answer, error) {
	aead, err := s.answerAEAD(idemKey, scope)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < n {
		return nil, io.ErrUnexpectedEOF
	}
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(scope))
	if err != nil {
		return nil, err
	}
	var ans Answer
	return &ans, json.Unmarshal(plain, &ans)
}

func (s *Service) answerAEAD(idemKey, scope string) (cipher.AEAD, error) {
	k, err := s.answerKey(idemKey, scope)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// PurgeIdempotency forgets answers older than the idempotency window.
func (s *Service) PurgeIdempotency(ctx context.Context) error {
	return s.store.Write(ctx, func(tx keyward.Tx) error { return tx.PurgeIdempotency(ctx, s.now().Add(-IdempotencyTTL)) })
}
