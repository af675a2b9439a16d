package service

import (
	"context"
	"sync"

	"github.com/keyward/keyward"
)

// catalogCache remembers each account's catalog and roles, which every
// verification cache miss needs to compute what a key may do: without it
// each miss would read the whole catalog. It is exact the way the
// verification cache is: a catalog or role change publishes an account
// invalidation, applied before the change's response on this node and
// through the feed on the others; a read that raced one is not kept (the
// generation), and nothing is kept or used while the feed is unhealthy.
type catalogCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*accountCatalog
}

// accountCatalog is an account's catalog and the scopes of its roles.
// Shared by every reader: never changed after it is built.
type accountCatalog struct {
	cat   keyward.Catalog
	roles map[string][]keyward.Scope
}

func newCatalogCache() *catalogCache { return &catalogCache{m: map[string]*accountCatalog{}} }

func (c *catalogCache) invalidate(inv keyward.Invalidation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch inv.Kind {
	case keyward.InvalidateAccount:
		c.gen++
		delete(c.m, inv.ID)
	case keyward.InvalidateAll:
		c.gen++
		c.m = map[string]*accountCatalog{}
	}
}

// accountCatalog returns the catalog and roles of an account: from the
// cache while the feed is healthy, else read in tx (and kept if nothing
// changed meanwhile).
func (s *Service) accountCatalog(ctx context.Context, tx keyward.Tx, accountID string) (*accountCatalog, error) {
	c := s.catalogs
	healthy := s.store.FeedHealthy()
	c.mu.Lock()
	ac, gen := c.m[accountID], c.gen
	c.mu.Unlock()
	if ac != nil && healthy {
		return ac, nil
	}
	res, err := tx.ListResources(ctx, accountID)
	if err != nil {
		return nil, err
	}
	list, err := tx.ListRoles(ctx, accountID)
	if err != nil {
		return nil, err
	}
	ac = &accountCatalog{cat: keyward.NewCatalog(res), roles: make(map[string][]keyward.Scope, len(list))}
	for _, r := range list {
		ac.roles[r.Name] = r.Scopes
	}
	if healthy {
		c.mu.Lock()
		if c.gen == gen {
			c.m[accountID] = ac
		}
		c.mu.Unlock()
	}
	return ac, nil
}
