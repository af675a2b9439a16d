package client_test

import (
	"net/http"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// TestIdempotentRetries: a create or rotation retried with the same
// Idempotency-Key gets the first answer (the same secret), marked
// Replayed; the same key with another request is 409.
func TestIdempotentRetries(t *testing.T) {
	_, c, ctx := ctStart(t)

	t.Run("create key", func(t *testing.T) {
		idem := client.NewIdempotencyKey()
		in := &keyward.KeyFields{Name: keyward.Some("retried")}
		first, err := c.CreateKey(ctx, in, client.IdempotencyKey(idem))
		ctCheck(t, "CreateKey", err)
		var res client.Response
		again, err := c.CreateKey(ctx, in, client.IdempotencyKey(idem), client.Capture(&res))
		ctCheck(t, "CreateKey retried", err)
		if first.Replayed || !again.Replayed || !res.Replayed {
			t.Errorf("Replayed = %v then %v (captured %v), want false then true", first.Replayed, again.Replayed, res.Replayed)
		}
		if again.ID != first.ID || again.Secret.Reveal() != first.Secret.Reveal() || res.StatusCode != http.StatusCreated {
			t.Errorf("retry = %s (status %d), want the first answer %s with the same secret", again.ID, res.StatusCode, first.ID)
		}
		list, err := c.ListKeys(ctx, &client.KeyListParams{Search: "retried"})
		ctCheck(t, "ListKeys", err)
		if len(list.Data) != 1 {
			t.Errorf("%d keys named retried, want 1", len(list.Data))
		}
		v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(again.Secret)})
		ctCheck(t, "VerifyKey", err)
		if v.Code != keyward.VerifyValid {
			t.Errorf("the replayed secret verifies as %s", v.Code)
		}

		var cres client.Response
		_, err = c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("another")}, client.IdempotencyKey(idem), client.Capture(&cres))
		ctCheckProblem(t, err, &cres, http.StatusConflict, keyward.ECodeIdempotencyConflict)
	})

	t.Run("rotate key", func(t *testing.T) {
		k, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("rotated")})
		ctCheck(t, "CreateKey", err)
		idem := client.NewIdempotencyKey()
		in := &client.RotateRequest{GracePeriodSeconds: keyward.Some(int64(0))}
		first, err := c.RotateKey(ctx, k.ID, in, client.IdempotencyKey(idem))
		ctCheck(t, "RotateKey", err)
		again, err := c.RotateKey(ctx, k.ID, in, client.IdempotencyKey(idem))
		ctCheck(t, "RotateKey retried", err)
		if first.Replayed || !again.Replayed || again.Secret.Reveal() != first.Secret.Reveal() {
			t.Errorf("Replayed %v then %v, same secret %v", first.Replayed, again.Replayed, again.Secret.Reveal() == first.Secret.Reveal())
		}
		v, err := c.VerifyKey(ctx, &keyward.VerifyRequest{Key: keyward.Some(first.Secret)})
		ctCheck(t, "VerifyKey", err)
		if v.Code != keyward.VerifyValid {
			t.Errorf("the secret of the one rotation verifies as %s (a second rotation would have ended it)", v.Code)
		}
	})

	t.Run("create management key", func(t *testing.T) {
		idem := client.NewIdempotencyKey()
		in := &keyward.KeyFields{Name: keyward.Some("bot"), Permissions: keyward.Some([]string{"keys:read"})}
		first, err := c.CreateManagementKey(ctx, in, client.IdempotencyKey(idem))
		ctCheck(t, "CreateManagementKey", err)
		again, err := c.CreateManagementKey(ctx, in, client.IdempotencyKey(idem))
		ctCheck(t, "CreateManagementKey retried", err)
		if !again.Replayed || again.ID != first.ID || again.Secret.Reveal() != first.Secret.Reveal() {
			t.Errorf("retry = %s replayed %v, want %s with the same secret", again.ID, again.Replayed, first.ID)
		}
	})

	t.Run("other creates", func(t *testing.T) {
		idem := client.NewIdempotencyKey()
		var r1, r2 client.Response
		p1, err := c.CreateProject(ctx, &keyward.ProjectFields{Name: keyward.Some("once")}, client.IdempotencyKey(idem), client.Capture(&r1))
		ctCheck(t, "CreateProject", err)
		p2, err := c.CreateProject(ctx, &keyward.ProjectFields{Name: keyward.Some("once")}, client.IdempotencyKey(idem), client.Capture(&r2))
		ctCheck(t, "CreateProject retried", err)
		if r1.Replayed || !r2.Replayed || p1.ID != p2.ID || r2.ETag != p1.ETag {
			t.Errorf("replayed %v then %v, ids %s %s, etag %q vs %q", r1.Replayed, r2.Replayed, p1.ID, p2.ID, r2.ETag, p1.ETag)
		}
	})

	t.Run("a bad Idempotency-Key is a 400", func(t *testing.T) {
		var res client.Response
		_, err := c.CreateKey(ctx, &keyward.KeyFields{Name: keyward.Some("x")}, client.IdempotencyKey("short"), client.Capture(&res))
		ctCheckProblem(t, err, &res, http.StatusBadRequest, keyward.ECodeInvalidParameter)
	})
}

// TestNewIdempotencyKey: fresh, and acceptable to the server (16–255
// printable characters).
func TestNewIdempotencyKey(t *testing.T) {
	a, b := client.NewIdempotencyKey(), client.NewIdempotencyKey()
	if a == b || len(a) < 16 || len(a) > 255 {
		t.Errorf("NewIdempotencyKey = %q, %q", a, b)
	}
}
