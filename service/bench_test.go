package service_test

import (
	"context"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/keywardtest"
	"github.com/keyward/keyward/service"
)

// benchEnv opens a service on a fresh SQLite file holding n API keys and
// returns it with the operator actor and one key's token.
func benchEnv(b *testing.B, n int) (*service.Service, *keyward.Actor, keyward.Token) {
	b.Helper()
	e := newEnvWith(b, service.Options{Clock: keyward.SystemClock})
	var tok keyward.Token
	for i := 0; i < n; i++ {
		_, tok = e.apiKey(e.op, &keyward.KeyFields{Name: keyward.Some("bench"), PermissionMode: keyward.Some(keyward.ModeRestricted),
			Scopes: keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}})})
	}
	return e.svc, e.op, tok
}

// BenchmarkVerify measures one in-process verification of a valid key with
// a permission check through Service.Verify (the request as the HTTP API
// decodes it: the query is parsed on every call), on SQLite with 10,000
// keys; the key is cached after the first call.
func BenchmarkVerify(b *testing.B) {
	svc, a, tok := benchEnv(b, 10_000)
	q := "documents:read"
	req := &keyward.VerifyRequest{Key: keyward.Some(tok), Permissions: &q}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := svc.Verify(ctx, a, req)
		if err != nil || !res.Valid {
			b.Fatalf("%v %v", res, err)
		}
	}
}

// BenchmarkVerifyTokenHit is the in-process hot path as an embedding
// service calls it: the permission query prepared once, the token as the
// request carried it, a cache hit. Target: ≤ 1 µs and 0 allocs/op.
func BenchmarkVerifyTokenHit(b *testing.B) {
	svc, a, tok := benchEnv(b, 1_000)
	q, err := keyward.ParseQuery("documents:read")
	if err != nil {
		b.Fatal(err)
	}
	p := &keyward.PreparedVerify{Query: q, Cost: 1}
	secret := tok.Reveal()
	ctx := context.Background()
	if res, err := svc.VerifyToken(ctx, a, secret, p); err != nil || !res.Valid {
		b.Fatalf("%v %v", res, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := svc.VerifyToken(ctx, a, secret, p)
		if err != nil || !res.Valid {
			b.Fatalf("%v %v", res, err)
		}
	}
}

// BenchmarkVerifyTokenHitParallel is the hot path from every core at once.
func BenchmarkVerifyTokenHitParallel(b *testing.B) {
	svc, a, tok := benchEnv(b, 1_000)
	q, _ := keyward.ParseQuery("documents:read")
	p := &keyward.PreparedVerify{Query: q, Cost: 1}
	secret := tok.Reveal()
	ctx := context.Background()
	svc.VerifyToken(ctx, a, secret, p)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := svc.VerifyToken(ctx, a, secret, p); err != nil || !res.Valid {
				b.Errorf("%v %v", res, err)
				return
			}
		}
	})
}

// BenchmarkVerifyBadChecksum measures the rejection of a forged token,
// which must never reach the database.
func BenchmarkVerifyBadChecksum(b *testing.B) {
	svc, a, tok := benchEnv(b, 1)
	req := &keyward.VerifyRequest{Key: keyward.Some(keywardtest.BadChecksum(tok))}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := svc.Verify(ctx, a, req)
		if err != nil || res.Code != keyward.VerifyNotFound {
			b.Fatalf("%v %v", res, err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from GOMAXPROCS goroutines.
func BenchmarkVerifyParallel(b *testing.B) {
	svc, a, tok := benchEnv(b, 10_000)
	req := &keyward.VerifyRequest{Key: keyward.Some(tok)}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res, err := svc.Verify(ctx, a, req); err != nil || !res.Valid {
				b.Errorf("%v %v", res, err)
				return
			}
		}
	})
}

// BenchmarkVerifyMiss measures a cache miss: a cache of 64 entries and
// 4,096 keys verified round robin, so each verification reads the key
// from SQLite and compiles its entry (what the first verification of a key
// costs, and every verification of a key that does not fit the cache).
func BenchmarkVerifyMiss(b *testing.B) {
	e := newEnvWith(b, service.Options{Clock: keyward.SystemClock, CacheSize: 64})
	ctx, svc, a := context.Background(), e.svc, e.op
	const n = 4096
	secrets := make([]string, n)
	for i := range secrets {
		in := &keyward.KeyFields{Name: keyward.Some("bench")}
		if i%2 == 1 {
			in.PermissionMode = keyward.Some(keyward.ModeRestricted)
			in.Scopes = keyward.Some([]keyward.Scope{{Resource: "documents", Access: keyward.AccessRead, Targets: []string{"*"}}})
		}
		_, tok, err := svc.CreateKey(ctx, a, keyward.KindAPI, in)
		if err != nil {
			b.Fatal(err)
		}
		secrets[i] = tok.Reveal()
	}
	q, _ := keyward.ParseQuery("documents:read")
	p := &keyward.PreparedVerify{Query: q, Cost: 1}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		res, err := svc.VerifyToken(ctx, a, secrets[i%n], p)
		if err != nil || !res.Valid {
			b.Fatalf("%v %v", res, err)
		}
		i++
	}
}
