package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
)

func (e *env) adminCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Work on the database directly, without a running server",
		Long: `Commands that open the database directly instead of calling a server: for
when every management key is lost. They need the data directory (and file
access to it); each change is recorded in the audit log with the actor
"system".`,
	}
	cmd.AddCommand(e.adminCreateManagementKeyCommand())
	return cmd
}

func (e *env) adminCreateManagementKeyCommand() *cobra.Command {
	var (
		store         storeFlags
		account, name string
		operator      bool
		permissions   []string
		expiresIn     string
	)
	cmd := &cobra.Command{
		Use:   "create-management-key --account ID|NAME",
		Short: "Create a management key in the database directly (recovery)",
		Long: `Create a management key by writing to the database directly, and print its
secret once. Use it when every management key is lost. It works while
"keyward serve" runs on the same data directory.

--account names the account (id or name) the key is bound to; --operator
makes an operator key that spans every account instead (it is still
recorded in the audit log of --account, default "default"). Without
--permission the key gets every permission it may hold.

Example:
  keyward admin create-management-key --data-dir /var/lib/keyward --account default --name "recovery"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if account == "" && !operator {
				return usagef("--account (or --operator) is required")
			}
			if account == "" {
				account = keyward.DefaultAccountName
			}
			if len(permissions) == 0 {
				for _, p := range keyward.ManagementPermissions() {
					if operator || !p.OperatorOnly {
						permissions = append(permissions, p.ID)
					}
				}
			}
			db, err := store.open(ctx, nil, true)
			if err != nil {
				return err
			}
			defer db.Close()
			svc := service.New(service.Options{Store: db})
			defer svc.Close(ctx)
			a, err := svc.SystemActor(ctx, account, "admin")
			if err != nil {
				return err
			}
			in := &keyward.KeyFields{Name: keyward.Some(name), Permissions: keyward.Some(permissions)}
			if operator {
				in.Operator = keyward.Some(true)
			}
			if expiresIn != "" {
				d, err := parseDuration(expiresIn)
				if err != nil || d <= 0 {
					return usagef("--expires-in: %q is not a positive duration (like 24h or 7d)", expiresIn)
				}
				in.ExpiresAt = keyward.Some(time.Now().Add(d))
			} else if !operator {
				// Recovery must work in an account whose policy requires
				// expiries: give the key one within the policy.
				if exp, ok, err := svc.PolicyExpiry(ctx, a, 24*time.Hour); err != nil {
					return err
				} else if ok {
					in.ExpiresAt = keyward.Some(exp)
					fmt.Fprintf(e.stderr, "the account's expiry policy applies: the key expires at %s (set --expires-in to choose)\n", exp.UTC().Format(time.RFC3339))
				}
			}
			k, tok, err := svc.CreateKey(ctx, a, keyward.KindManagement, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "created management key %s (shown once, keep it safe):\n\n", k.ID)
			fmt.Fprintln(e.stdout, tok.Reveal())
			return nil
		},
	}
	f := cmd.Flags()
	store.register(f)
	f.StringVar(&account, "account", "", "account (id or name) the key is bound to")
	f.BoolVar(&operator, "operator", false, "create an operator key, spanning every account")
	f.StringVar(&name, "name", "recovery management key", "the key's name")
	f.StringSliceVar(&permissions, "permission", nil, "a management permission (repeatable; default: all the key may hold)")
	f.StringVar(&expiresIn, "expires-in", "", "give the key an expiry this far ahead (like 24h or 7d); by default only where the account's policy requires one (then 24h, or less if its max_key_lifetime is shorter)")
	return cmd
}
