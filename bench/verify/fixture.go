package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/postgres"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
)

// The seeded keys all have keyward's default prefix, so every token has the
// same length and the tokens sit in one pointer-free byte slice: a million
// of them cost the harness's garbage collector nothing to scan.
const (
	tokenPrefix = keyward.DefaultPrefix
	tokenLen    = len(tokenPrefix) + 1 + keyward.TokenBodyLen + keyward.TokenChecksumLen
)

// tokenTable holds tokens of tokenLen bytes back to back.
type tokenTable struct{ data []byte }

func (t *tokenTable) len() int            { return len(t.data) / tokenLen }
func (t *tokenTable) at(i int) []byte     { return t.data[i*tokenLen : (i+1)*tokenLen : (i+1)*tokenLen] }
func (t *tokenTable) string(i int) string { return string(t.at(i)) }

// fixture is what the harness keeps next to the database: the account the
// keys belong to, a management key holding keys:verify and keys:read, and
// the tokens of the seeded keys (the store only has their hashes, and the
// harness needs the secrets to verify them). It is benchmark data: the file
// is mode 0600 and says so in its first line.
type fixture struct {
	path      string
	accountID string
	mgmt      string
	tokens    tokenTable
	// operator is an operator key for the dashboard's sign-in and uiSeed
	// what the dashboard phase added to the database: both live in a file
	// of their own (uiFixturePath, uipages.go), so the token fixture stays
	// readable by a harness without the dashboard phase.
	operator string
	uiSeed   string
}

// seedReport tells how the store was prepared.
type seedReport struct {
	Store         string  `json:"store"`
	Fixture       string  `json:"fixture"`
	KeysInStore   int     `json:"keys_seeded_total"`
	KeysUsed      int     `json:"keys_used"`
	Reused        bool    `json:"reused"`
	SeededNow     int     `json:"seeded_now"`
	SeedSeconds   float64 `json:"seed_seconds"`
	SeedKeysPerS  float64 `json:"seed_keys_per_second"`
	BatchSize     int     `json:"batch_size"`
	CheckedSample int     `json:"reuse_checked_keys"`
	Note          string  `json:"note"`
}

const seedNote = "seed keys are written straight through keyward.Store (tx.CreateKey, many per transaction) without audit events; " +
	"the management key used by the harness is seeded the same way"

const fixtureHeader = "# keyward bench/verify fixture: BENCHMARK DATA ONLY. Tokens of the API keys the load harness seeded into the\n" +
	"# database named below (which stores only their hashes), and a management key holding keys:verify and keys:read.\n" +
	"# Delete this file together with that database.\n"

// storeDesc names the store without a password.
func (h *harness) storeDesc() string {
	if h.cfg.database == "" {
		return "sqlite:" + h.sqlitePath()
	}
	u, err := url.Parse(h.cfg.database)
	if err != nil {
		return "postgres"
	}
	u.User, u.RawQuery = nil, "" // no password, whichever way it is given
	return "postgres:" + u.String()
}

func (h *harness) sqlitePath() string { return filepath.Join(h.cfg.dataDir, sqlite.FileName) }

func (h *harness) fixturePath() string {
	if h.cfg.database == "" {
		return h.sqlitePath() + ".bench-tokens"
	}
	sum := sha256.Sum256([]byte(h.cfg.database))
	return filepath.Join(h.cfg.dataDir, "postgres-"+hex.EncodeToString(sum[:6])+".bench-tokens")
}

// openStore opens the store the way keyward serve does (migrations included).
func (h *harness) openStore(ctx context.Context) (keyward.Store, error) {
	if h.cfg.database != "" {
		db, err := postgres.Open(ctx, h.cfg.database, postgres.Options{Logger: h.log})
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, h.sqlitePath())
	if err != nil {
		return nil, err
	}
	return db, nil
}

// prepare makes sure the store holds at least --keys seeded keys and returns
// the fixture. An existing fixture is reused (after checking a sample of
// its keys against the database) and extended if it has too few keys.
func (h *harness) prepare(ctx context.Context) (*fixture, seedReport, error) {
	rep := seedReport{Store: h.storeDesc(), Fixture: h.fixturePath(), BatchSize: h.cfg.seedBatch, Note: seedNote}
	if err := os.MkdirAll(h.cfg.dataDir, 0o700); err != nil {
		return nil, rep, err
	}
	if h.cfg.database == "" {
		if _, err := os.Stat(h.sqlitePath()); errors.Is(err, os.ErrNotExist) {
			for _, path := range []string{h.fixturePath(), h.uiFixturePath()} {
				if err := os.Remove(path); err == nil {
					h.progressf("removed %s: its database is gone", path)
				}
			}
		}
	}
	fx, err := loadFixture(h.fixturePath())
	if err != nil {
		return nil, rep, err
	}
	st, err := h.openStore(ctx)
	if err != nil {
		return nil, rep, fmt.Errorf("open the store: %w", err)
	}
	defer st.Close()

	start := time.Now()
	if fx != nil {
		n, err := checkFixture(ctx, st, fx)
		if err != nil {
			return nil, rep, err
		}
		rep.CheckedSample = n
		rep.Reused = true
		h.progressf("reusing %s: %d keys (%d checked against the database)", fx.path, fx.tokens.len(), n)
	} else {
		if fx, err = newFixture(ctx, st, h.fixturePath(), h.storeDesc()); err != nil {
			return nil, rep, err
		}
		start = time.Now() // the account lookup and management key are not seeding
	}
	if missing := h.cfg.keys - fx.tokens.len(); missing > 0 {
		h.progressf("seeding %d keys into %s in transactions of %d", missing, rep.Store, h.cfg.seedBatch)
		if err := h.seed(ctx, st, fx, missing); err != nil {
			return nil, rep, err
		}
		rep.SeededNow = missing
		rep.SeedSeconds = time.Since(start).Seconds()
		rep.SeedKeysPerS = float64(missing) / rep.SeedSeconds
	}
	if h.cfg.uiPages {
		if err := h.ensureOperator(ctx, st, fx); err != nil {
			return nil, rep, err
		}
		if err := h.ensureUsage(ctx, st, fx); err != nil {
			return nil, rep, err
		}
	}
	rep.KeysInStore = fx.tokens.len()
	rep.KeysUsed = h.cfg.keys
	return fx, rep, nil
}

// loadFixture reads the fixture, or returns nil if there is none. A last
// line cut short by a crash is dropped (the keys it would name were
// committed, or not, either way harmless).
func loadFixture(path string) (*fixture, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if end := bytes.LastIndexByte(b, '\n') + 1; end < len(b) {
		if err := os.Truncate(path, int64(end)); err != nil {
			return nil, err
		}
		b = b[:end]
	}
	fx := &fixture{path: path, tokens: tokenTable{data: make([]byte, 0, len(b)/(tokenLen+1)*tokenLen)}}
	for n, line := range bytes.Split(b, []byte{'\n'}) {
		switch {
		case len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("store ")):
		case bytes.HasPrefix(line, []byte("account ")):
			fx.accountID = string(line[len("account "):])
		case bytes.HasPrefix(line, []byte("management ")):
			fx.mgmt = string(line[len("management "):])
		case len(line) == tokenLen && keyward.TokenFromString(string(line)).Shape() == keyward.ShapeKeyward:
			fx.tokens.data = append(fx.tokens.data, line...)
		default:
			return nil, fmt.Errorf("%s:%d: not a fixture line; delete the file and its database to seed afresh", path, n+1)
		}
	}
	if fx.accountID == "" || fx.mgmt == "" {
		return nil, fmt.Errorf("%s: no account or management line; delete the file and its database to seed afresh", path)
	}
	return fx, nil
}

// checkFixture looks the management key and a sample of the tokens up in
// the store: a fixture left from another database must not be trusted.
func checkFixture(ctx context.Context, st keyward.Store, fx *fixture) (int, error) {
	idx := []int{}
	if n := fx.tokens.len(); n > 0 {
		idx = append(idx, 0, n-1)
		for range 62 {
			idx = append(idx, mrand.IntN(n))
		}
	}
	err := st.Read(ctx, func(tx keyward.Tx) error {
		m, err := tx.FindKeyByHash(ctx, keyward.TokenFromString(fx.mgmt).Hash())
		if err != nil {
			return fmt.Errorf("management key: %w", err)
		}
		if m.Key.Kind != keyward.KindManagement || m.Key.Status != keyward.StatusActive || m.Key.AccountID != fx.accountID {
			return fmt.Errorf("management key %s is not an active management key of %s", m.Key.ID, fx.accountID)
		}
		for _, i := range idx {
			m, err := tx.FindKeyByHash(ctx, keyward.TokenFromString(fx.tokens.string(i)).Hash())
			if err != nil {
				return fmt.Errorf("token %d: %w", i+1, err)
			}
			if m.Key.Kind != keyward.KindAPI || m.Key.Status != keyward.StatusActive || m.Key.AccountID != fx.accountID {
				return fmt.Errorf("token %d: key %s is not an active API key of %s", i+1, m.Key.ID, fx.accountID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s does not match the database (%v): delete the file (and the database) to seed afresh", fx.path, err)
	}
	return len(idx) + 1, nil
}

// newFixture bootstraps the database if it is empty (as keyward serve
// would), takes the account "default", seeds the harness's management key
// and writes the fixture's head.
func newFixture(ctx context.Context, st keyward.Store, path, desc string) (*fixture, error) {
	svc := service.New(service.Options{Store: st})
	_, _, err := svc.Bootstrap(ctx) // an empty database gets its account default
	if cerr := svc.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	var acct *keyward.Account
	if err := st.Read(ctx, func(tx keyward.Tx) (err error) {
		acct, err = tx.GetAccountByName(ctx, keyward.DefaultAccountName)
		return err
	}); err != nil {
		return nil, fmt.Errorf("the harness seeds into the account %q: %w", keyward.DefaultAccountName, err)
	}
	now := keyward.Timestamp(time.Now())
	k, err := keyward.NewKey(keyward.KindManagement, &keyward.KeyFields{
		Name:        keyward.Some("bench/verify harness"),
		Permissions: keyward.Some([]string{keyward.PermKeysVerify, keyward.PermKeysRead}),
	}, &keyward.KeyEnv{Account: acct, Now: now})
	if err != nil {
		return nil, fmt.Errorf("management key: %w", err)
	}
	tok, err := keyward.NewToken(k.Prefix, nil)
	if err != nil {
		return nil, err
	}
	stampSeed(k, keyward.NewIDs(keyward.SystemClock), tok, now)
	if err := st.Write(ctx, func(tx keyward.Tx) error { return tx.CreateKey(ctx, k, tok.Hash()) }); err != nil {
		return nil, fmt.Errorf("management key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(f, "%sstore %s\naccount %s\nmanagement %s\n", fixtureHeader, desc, acct.ID, tok.Reveal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return &fixture{path: path, accountID: acct.ID, mgmt: tok.Reveal()}, nil
}

// stampSeed fills what the service would: id, display parts of the token,
// times, creator and version.
func stampSeed(k *keyward.Key, ids *keyward.IDs, tok keyward.Token, now time.Time) {
	k.ID = ids.New(keyward.PrefixKey)
	k.Start, k.Last4 = tok.Start(), tok.Last4()
	k.CreatedAt, k.UpdatedAt = now, now
	k.CreatedByID, k.UpdatedByID = "system", "system"
	k.Version = 1
}

// fixtureAccount reads the account the fixture's keys belong to.
func fixtureAccount(ctx context.Context, st keyward.Store, fx *fixture) (*keyward.Account, error) {
	var acct *keyward.Account
	if err := st.Read(ctx, func(tx keyward.Tx) (err error) {
		acct, err = tx.GetAccount(ctx, fx.accountID)
		return err
	}); err != nil {
		return nil, fmt.Errorf("account %s: %w", fx.accountID, err)
	}
	return acct, nil
}

// seed adds n API keys in transactions of --seed-batch keys, appending
// each batch's tokens to the fixture once the batch has committed.
func (h *harness) seed(ctx context.Context, st keyward.Store, fx *fixture, n int) error {
	acct, err := fixtureAccount(ctx, st, fx)
	if err != nil {
		return err
	}
	// The product's own rules give a new key its defaults (permission
	// mode, expiry) from the account; each seeded key copies them.
	tmpl, err := keyward.NewKey(keyward.KindAPI, &keyward.KeyFields{
		Name:   keyward.Some("bench key"),
		Prefix: keyward.Some(tokenPrefix),
	}, &keyward.KeyEnv{Account: acct, Now: keyward.Timestamp(time.Now())})
	if err != nil {
		return fmt.Errorf("key template: %w", err)
	}
	if tmpl.ExpiresAt != nil {
		return fmt.Errorf("account %s gives new keys an expiry: the fixture's keys must not expire", acct.ID)
	}
	f, err := os.OpenFile(fx.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	ids := keyward.NewIDs(keyward.SystemClock)
	random := bufio.NewReaderSize(rand.Reader, 64<<10)
	start, lastReport := time.Now(), time.Now()
	done := 0
	for done < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		size := min(h.cfg.seedBatch, n-done)
		keys := make([]keyward.Key, size)
		hashes := make([]keyward.TokenHash, size)
		toks := make([]byte, 0, size*(tokenLen+1))
		now := keyward.Timestamp(time.Now())
		for i := range keys {
			tok, err := keyward.NewToken(tokenPrefix, random)
			if err != nil {
				return err
			}
			keys[i] = *tmpl
			k := &keys[i]
			stampSeed(k, ids, tok, now)
			k.Name = "bench key " + strconv.Itoa(fx.tokens.len()+i+1)
			hashes[i] = tok.Hash()
			toks = append(append(toks, tok.Reveal()...), '\n')
		}
		err := st.Write(ctx, func(tx keyward.Tx) error {
			for i := range keys {
				if err := tx.CreateKey(ctx, &keys[i], hashes[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed batch at key %d: %w", fx.tokens.len()+1, err)
		}
		if _, err := f.Write(toks); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		for i := 0; i < len(toks); i += tokenLen + 1 {
			fx.tokens.data = append(fx.tokens.data, toks[i:i+tokenLen]...)
		}
		done += size
		if time.Since(lastReport) >= 2*time.Second || done == n {
			lastReport = time.Now()
			h.progressf("  seeded %d/%d (%.0f keys/s)", done, n, float64(done)/time.Since(start).Seconds())
		}
	}
	return nil
}

// writeTokenList writes tokens one per line (for wrk's Lua script).
func writeTokenList(w io.Writer, t *tokenTable, idx []int) error {
	bw := bufio.NewWriter(w)
	for _, i := range idx {
		bw.Write(t.at(i))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
