package service

import (
	"context"

	"github.com/keyward/keyward"
)

// Bootstrap prepares an empty database: it creates the account "default"
// (catalog template default) and an operator management key holding every
// management permission, and returns that key's secret. On a database that
// has any account or management key it does nothing and returns a zero
// token, so a restart never mints a second operator key.
func (s *Service) Bootstrap(ctx context.Context) (*keyward.Key, keyward.Token, error) {
	system := &keyward.Actor{RequestID: "bootstrap", Dialect: "system"}
	var (
		k   *keyward.Key
		tok keyward.Token
	)
	err := s.store.Write(ctx, func(tx keyward.Tx) error {
		accts, _, err := tx.ListAccounts(ctx, &keyward.AccountFilter{Page: keyward.Page{Limit: 1}})
		if err != nil || len(accts) > 0 {
			return err
		}
		mk, _, err := tx.ListKeys(ctx, &keyward.KeyFilter{Page: keyward.Page{Limit: 1}, Kind: keyward.KindManagement})
		if err != nil || len(mk) > 0 {
			return err
		}
		acct, err := s.createAccount(ctx, tx, system, keyward.DefaultAccountName, keyward.TemplateDefault)
		if err != nil {
			return err
		}
		k = &keyward.Key{
			Kind:        keyward.KindManagement,
			Operator:    true,
			Name:        "bootstrap operator key",
			Status:      keyward.StatusActive,
			Prefix:      keyward.DefaultManagementPrefix,
			Owner:       keyward.Owner{Type: keyward.OwnerAccount, ID: acct.ID},
			Permissions: keyward.AllManagementPermissions(),
		}
		if tok, err = keyward.NewToken(k.Prefix, s.random); err != nil {
			return keyward.Internal(err)
		}
		s.stamp(k, system, tok)
		if err := tx.CreateKey(ctx, k, tok.Hash()); err != nil {
			return err
		}
		return s.audit(ctx, tx, system, acct.ID, keyward.ActionMgmtKeyCreated, keyward.TargetManagementKey, k.ID,
			keyward.Diff(nil, keyward.KeyFieldMap(k)))
	})
	if err != nil {
		return nil, keyward.Token{}, err
	}
	return k, tok, nil
}

// createAccount creates an account with the given catalog template and its
// catalog, with an audit event, inside tx.
func (s *Service) createAccount(ctx context.Context, tx keyward.Tx, a *keyward.Actor, name, template string) (*keyward.Account, error) {
	now := s.now()
	acct := &keyward.Account{
		ID:                    s.ids.New(keyward.PrefixAccount),
		Name:                  name,
		DefaultPrefix:         keyward.DefaultPrefix,
		CatalogTemplate:       template,
		DefaultPermissionMode: keyward.ModeAll,
		CreatedAt:             now,
		UpdatedAt:             now,
		Version:               1,
	}
	resources, ok := keyward.CatalogTemplate(template, now)
	if !ok {
		return nil, keyward.InvalidField("catalog_template", "unknown template %q", template)
	}
	if err := tx.CreateAccount(ctx, acct); err != nil {
		return nil, err
	}
	for _, r := range resources {
		if err := tx.PutResource(ctx, acct.ID, r); err != nil {
			return nil, err
		}
	}
	return acct, s.audit(ctx, tx, a, acct.ID, keyward.ActionAccountCreated, keyward.TargetAccount, acct.ID, keyward.Diff(nil, map[string]any{
		"name": acct.Name, "default_prefix": acct.DefaultPrefix, "catalog_template": acct.CatalogTemplate,
		"default_permission_mode": acct.DefaultPermissionMode,
	}))
}
