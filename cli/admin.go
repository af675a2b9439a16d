package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/service"
	"github.com/keyward/keyward/sqlite"
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
		dataDir, account, name string
		operator               bool
		permissions            []string
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
			db, err := sqlite.Open(ctx, filepath.Join(dataDir, sqlite.FileName))
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
	f.StringVar(&dataDir, "data-dir", "keyward-data", "directory of the embedded SQLite database")
	f.StringVar(&account, "account", "", "account (id or name) the key is bound to")
	f.BoolVar(&operator, "operator", false, "create an operator key, spanning every account")
	f.StringVar(&name, "name", "recovery management key", "the key's name")
	f.StringSliceVar(&permissions, "permission", nil, "a management permission (repeatable; default: all the key may hold)")
	return cmd
}
