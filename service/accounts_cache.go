package service

import (
	"context"
	"sync"
	"time"

	"github.com/keyward/keyward"
)

// accountCache remembers which accounts exist (by id) and the id of the
// account named default, so authenticating an operator key needs no
// database read. Only what exists is remembered; deleting an account
// invalidates it like everything else in the account.
type accountCache struct {
	mu        sync.Mutex
	gen       uint64
	exists    map[string]bool
	defaultID string
}

func newAccountCache() *accountCache { return &accountCache{exists: map[string]bool{}} }

func (c *accountCache) invalidate(inv keyward.Invalidation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch inv.Kind {
	case keyward.InvalidateAccount:
		c.gen++
		delete(c.exists, inv.ID)
		if c.defaultID == inv.ID {
			c.defaultID = ""
		}
	case keyward.InvalidateAll:
		c.gen++
		c.exists = map[string]bool{}
		c.defaultID = ""
	}
}

// accountExists reports whether the account exists, from the cache while
// the feed is healthy (and, in an outage, within the grace).
func (s *Service) accountExists(ctx context.Context, id string, now time.Time) (bool, error) {
	c := s.accounts
	healthy := s.store.FeedHealthy()
	c.mu.Lock()
	known, gen := c.exists[id], c.gen
	c.mu.Unlock()
	if known && healthy {
		return true, nil
	}
	var found bool
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		_, err := tx.GetAccount(ctx, id)
		if isNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		if known && keyward.ErrorCode(err) == keyward.ECodeUnavailable && s.withinGrace(now) {
			return true, nil
		}
		return false, err
	}
	if found && healthy {
		c.mu.Lock()
		if c.gen == gen {
			c.exists[id] = true
		}
		c.mu.Unlock()
	}
	return found, nil
}

// defaultAccount returns the id of the account named default, or "" if
// there is none.
func (s *Service) defaultAccount(ctx context.Context, now time.Time) (string, error) {
	c := s.accounts
	healthy := s.store.FeedHealthy()
	c.mu.Lock()
	id, gen := c.defaultID, c.gen
	c.mu.Unlock()
	if id != "" && healthy {
		return id, nil
	}
	var found string
	err := s.store.Read(ctx, func(tx keyward.Tx) error {
		a, err := tx.GetAccountByName(ctx, keyward.DefaultAccountName)
		if isNotFound(err) {
			return nil
		}
		if err == nil {
			found = a.ID
		}
		return err
	})
	if err != nil {
		if id != "" && keyward.ErrorCode(err) == keyward.ECodeUnavailable && s.withinGrace(now) {
			return id, nil
		}
		return "", err
	}
	if found != "" && healthy {
		c.mu.Lock()
		if c.gen == gen {
			c.defaultID = found
		}
		c.mu.Unlock()
	}
	return found, nil
}
