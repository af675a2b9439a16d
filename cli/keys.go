package cli

import "github.com/spf13/cobra"

func (e *env) keysCommand() *cobra.Command {
	return &cobra.Command{Use: "keys", Short: "Manage API keys on a running keyward server"}
}
