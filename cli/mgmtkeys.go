package cli

import (
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/client"
)

// managementKeys is the kind of the management-keys commands: the same
// object, routes and commands as API keys, with management permissions
// instead of a permission mode, scopes and roles.
func managementKeys() *keyKind[client.ManagementKey, client.ManagementKeyWithSecret] {
	return &keyKind[client.ManagementKey, client.ManagementKeyWithSecret]{
		object: object[client.ManagementKey]{noun: "management key", plural: "management keys", arg: "ID", member: "id",
			id:  func(k *client.ManagementKey) string { return k.ID },
			get: (*client.Client).GetManagementKey, remove: (*client.Client).DeleteManagementKey,
			show: printManagementKey, table: printManagementKeyList},
		management: true,
		group:      "management-keys",
		create:     (*client.Client).CreateManagementKey, update: (*client.Client).UpdateManagementKey,
		rotate: (*client.Client).RotateManagementKey, pager: (*client.Client).ManagementKeysPager,
		secret: func(k *client.ManagementKeyWithSecret) (*client.ManagementKey, keyward.Token) {
			return &k.ManagementKey, k.Secret
		},
		help: map[string]help{
			"create": {
				short: "Create a management key and print its secret once",
				long: `Create a management key, the credential of keyward's management API. Its
secret is printed once, labelled, above the key's table (with --json, it is
the "secret" member of the server's JSON): store it right away.

--permission (repeatable, at least one) names each management permission the
key holds: keys:read, keys:write, keys:verify, keys:reveal,
management_keys:read, management_keys:write, members:read, members:write,
catalog:read, catalog:write, audit:read, usage:read, and on operator keys
accounts:read and accounts:write. A key can only create keys within its own permissions.

--operator makes an operator key, which spans every account instead of being
bound to one; only an operator key can create one.`,
				example: `  keyward management-keys create --name "support desk" --permission keys:read --permission keys:write
  keyward management-keys create --name verifier --permission keys:verify --expires-in 90d --json | jq -r .secret
  keyward management-keys create --name "second operator" --operator --permission accounts:read --permission keys:read`,
			},
			"list": {
				short: "List management keys, newest first",
				long: `List the management keys of the account, newest first, one page at a time
(25 keys unless --limit). The PERMISSIONS column counts the permissions each
key holds; "management-keys get" lists them. Operator keys are listed only to
operator keys.

With --json, the server's page {data, has_more} is printed; with --all, one
document holding every key, {data: [...], has_more: false}.`,
				example: `  keyward management-keys list
  keyward management-keys list --status active --all --json | jq -r '.data[] | .id + " " + (.permissions | join(","))'`,
			},
			"get": {
				short: "Show one management key (never its secret)",
				long: `Show one management key by id, with its permissions. keyward never shows a
secret again after create and rotate. The ETAG row is what
"management-keys update --if-match" takes.`,
				example: `  keyward management-keys get key_01J00000000000000000000000
  keyward management-keys get key_01J00000000000000000000000 --json | jq .permissions`,
			},
			"update": {
				short: "Change a management key; only the flags you give are changed",
				long: `Change a management key with a partial update (PATCH): only the flags given are
sent. --permission replaces the whole list of permissions; the caller must
hold every permission the key holds now and will hold. No key may change
itself (HTTP 403): use another key.

--if-match ETAG (from "management-keys get") makes the update fail with HTTP
412 if the key changed in the meantime.`,
				example: `  keyward management-keys update key_01J00000000000000000000000 --permission keys:read --permission keys:verify
  keyward management-keys update key_01J00000000000000000000000 --status disabled --clear-expires`,
			},
			"rotate": {
				short: "Give a management key a new secret and print it once",
				long: `Give a management key a new secret; its id, settings and permissions stay.
The new secret is printed once, labelled. The old secret stops working at
once, or after --grace (at most 7d). A key may rotate itself.`,
				example: `  keyward management-keys rotate key_01J00000000000000000000000 --grace 1h
  keyward management-keys rotate key_01J00000000000000000000000 --json | jq -r .secret > new.key`,
			},
			"revoke": {
				short: "Revoke a management key for good",
				long: `Revoke a management key: every request made with it fails (HTTP 401) from now
on. Revocation is final; to stop a key for a while, use
"management-keys update ID --status disabled".`,
				example: `  keyward management-keys revoke key_01J00000000000000000000000`,
			},
			"delete": {
				short: "Delete a management key",
				long: `Delete a management key: every request made with it fails at once (HTTP 401);
its audit trail stays. A key may delete itself. With --json, prints
{"id": ID, "deleted": true}.`,
				example: `  keyward management-keys delete key_01J00000000000000000000000`,
			},
		},
	}
}

func (e *env) managementKeysCommand() *cobra.Command {
	kind := managementKeys()
	return e.clientGroup("management-keys", help{
		short: "Manage the management keys of a running keyward server",
		long: clientLong(`Manage the management keys of a running keyward server: the credentials of its
management API (these commands included). Each carries a list of management
permissions; a key never grants more than it holds, never changes itself, and
only operator keys see or touch operator keys.`, ""),
		example: `  keyward management-keys create --name "CI" --permission keys:write --permission keys:read
  keyward management-keys list
  keyward management-keys revoke key_01J00000000000000000000000`,
	}, func(c *connFlags) []*cobra.Command { return keyCommands(e, c, kind) })
}
