package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/client"
)

// keyKind is what differs between API keys (K is client.Key) and
// management keys (client.ManagementKey), which share their routes and so
// their commands. S is the answer that carries a new secret.
type keyKind[K, S any] struct {
	object[K]
	management bool
	group      string // the command group: keys, management-keys
	help       map[string]help
	create     func(*client.Client, context.Context, *keyward.KeyFields, ...client.CallOption) (*S, error)
	update     func(*client.Client, context.Context, string, *keyward.KeyFields, ...client.CallOption) (*K, error)
	rotate     func(*client.Client, context.Context, string, *client.RotateRequest, ...client.CallOption) (*S, error)
	pager      func(*client.Client, *client.KeyListParams, ...client.CallOption) *client.Pager[K]
	// secret returns the key and the secret of an answer that has one.
	secret func(*S) (*K, keyward.Token)
}

// apiKeys is the kind of the keys commands.
func apiKeys() *keyKind[client.Key, client.KeyWithSecret] {
	return &keyKind[client.Key, client.KeyWithSecret]{
		object: object[client.Key]{noun: "key", plural: "keys", arg: "ID", member: "id",
			id:  func(k *client.Key) string { return k.ID },
			get: (*client.Client).GetKey, remove: (*client.Client).DeleteKey,
			show: printKey, table: printKeyList},
		group:  "keys",
		create: (*client.Client).CreateKey, update: (*client.Client).UpdateKey, rotate: (*client.Client).RotateKey,
		pager:  (*client.Client).KeysPager,
		secret: func(k *client.KeyWithSecret) (*client.Key, keyward.Token) { return &k.Key, k.Secret },
		help: map[string]help{
			"create": {
				short: "Create an API key and print its secret once",
				long: `Create an API key. The key's secret is printed once, labelled, above the
key's table (with --json, it is the "secret" member of the server's JSON).
keyward keeps only a hash of it: store it right away.

Without --permission-mode the key gets the account's default mode (usually
"all"); --scope or --role alone make a restricted key.

--owner-type user (with --owner-id usr_…) gives the key to a user: it never
does more than the user's current roles allow. --owner-type service_account
gives it to a service account. The default owner is the account.

--recoverable keeps the secret encrypted so that "keys secret" can show it
again; the server needs a master key for that.

--metadata takes key=value for a string and key:=JSON for any JSON value
(numbers, booleans, objects).

--rate-limit LIMIT/WINDOW lets the key verify at most LIMIT times per WINDOW
(100/1m); beyond it verification answers RATE_LIMITED. --credits N gives the
key N credits, which verifications spend; once they are spent it answers
USAGE_EXCEEDED. --credits-refill AMOUNT/INTERVAL resets them to AMOUNT every
INTERVAL (1000/30d).`,
				example: `  keyward keys create --name "billing export"
  keyward keys create --name reader --scope documents:read --scope files:read:f_1,f_2 \
      --expires-in 90d --metadata team=data --metadata tier:=3 --ip 10.0.0.0/8
  keyward keys create --name "trial" --rate-limit 10/1s --credits 1000 --credits-refill 1000/30d
  keyward keys create --name "alice's key" --owner-type user --owner-id usr_01J00000000000000000000000 --role support
  keyward keys create --name ci --json | jq -r .secret`,
			},
			"list": {
				short: "List API keys, newest first",
				long: `List API keys, newest first, one page at a time (25 keys unless --limit).
When there are more, a hint on stderr names the --starting-after to use; --all
follows the pages to the end.

With --json, the server's page {data, has_more} is printed; with --all, one
document holding every key, {data: [...], has_more: false}.`,
				example: `  keyward keys list
  keyward keys list --status active --search deploy --limit 100
  keyward keys list --role support --owner-type user
  keyward keys list --expired true --all --json | jq -r '.data[].id'`,
			},
			"get": {
				short: "Show one API key (never its secret)",
				long: `Show one API key by id. keyward never shows a secret again after create and
rotate (except "keys secret" for recoverable keys). The ETAG row is what
"keys update --if-match" takes.`,
				example: `  keyward keys get key_01J00000000000000000000000
  keyward keys get key_01J00000000000000000000000 --json | jq .scopes`,
			},
			"update": {
				short: "Change an API key; only the flags you give are changed",
				long: `Change an API key with a partial update (PATCH): only the flags given are sent,
everything else stays as it is. --scope, --role, --metadata and --ip replace
the whole list or map; the --clear-* flags and --no-scopes / --no-roles empty
them. --rate-limit replaces the rate limit; --credits (with --credits-refill,
or without it for no refill) replaces the credits and their refill.

Changing --permission-mode to restricted needs --scope, --role or --no-scopes
in the same command. A revoked key cannot be changed any more, only deleted.
--if-match ETAG (from "keys get") makes the update fail with HTTP 412 if the
key changed in the meantime.`,
				example: `  keyward keys update key_01J00000000000000000000000 --name "CI deploy (old)" --status disabled
  keyward keys update key_01J00000000000000000000000 --permission-mode restricted \
      --scope documents:write --scope search:read --expires-in 30d
  keyward keys update key_01J00000000000000000000000 --clear-expires --clear-metadata --no-scopes
  keyward keys update key_01J00000000000000000000000 --rate-limit 100/1m --credits 5000 --credits-refill 5000/1d
  keyward keys update key_01J00000000000000000000000 --clear-rate-limit --clear-credits`,
			},
			"rotate": {
				short: "Give an API key a new secret and print it once",
				long: `Give an API key a new secret; its id and settings stay. The new secret is
printed once, labelled. The old secret stops working at once, or after --grace
(at most 7d), so clients can switch over; once the grace ends it verifies as
ROTATED. Rotating again with no grace ends every old secret at once.

--expires-at or --expires-in give the key a new expiry with its new secret
(an account with an expiry policy may need one).`,
				example: `  keyward keys rotate key_01J00000000000000000000000 --grace 24h
  keyward keys rotate key_01J00000000000000000000000 --expires-in 90d --json | jq -r .secret`,
			},
			"revoke": {
				short: "Revoke an API key for good",
				long: `Revoke an API key: it fails verification (REVOKED) from now on, on every node.
Revocation is final: a revoked key cannot be re-enabled or changed, only
deleted. To stop a key for a while, use "keys update ID --status disabled".`,
				example: `  keyward keys revoke key_01J00000000000000000000000
  keyward keys revoke key_01J00000000000000000000000 --yes`,
			},
			"delete": {
				short: "Delete an API key",
				long: `Delete an API key. It fails verification at once (NOT_FOUND); its audit trail
stays. With --json, prints {"id": ID, "deleted": true}.`,
				example: `  keyward keys delete key_01J00000000000000000000000
  keyward keys delete key_01J00000000000000000000000 --yes`,
			},
		},
	}
}

func (e *env) keysCommand() *cobra.Command {
	kind := apiKeys()
	return e.clientGroup("keys", help{
		short: "Manage API keys on a running keyward server",
		long: clientLong("Manage the API keys of a running keyward server through its HTTP API.",
			"\n\"keys verify\" also exits with 1 when the key is not VALID."),
		example: `  export KEYWARD_URL=http://127.0.0.1:8420
  export KEYWARD_TOKEN="$(cat operator.key)"
  keyward keys create --name "CI deploy" --scope documents:read
  keyward keys list --status active
  keyward keys revoke key_01J00000000000000000000000`,
	}, func(c *connFlags) []*cobra.Command {
		return append(keyCommands(e, c, kind), e.keysVerifyCommand(c), e.keysSecretCommand(c), e.keysImportCommand(c), e.keysUsageCommand(c))
	})
}

// keyCommands are the commands API keys and management keys share.
func keyCommands[K, S any](e *env, c *connFlags, kind *keyKind[K, S]) []*cobra.Command {
	return []*cobra.Command{
		keysCreateCommand(e, c, kind), keysListCommand(e, c, kind), getCommand(e, c, &kind.object, kind.help["get"]),
		keysUpdateCommand(e, c, kind), keysRotateCommand(e, c, kind), keysRevokeCommand(e, c, kind),
		deleteCommand(e, c, &kind.object, kind.help["delete"], ""),
	}
}

// showNewSecret prints an answer with a new secret: the secret once,
// labelled, then note, then the key's table.
func showNewSecret[K, S any](kind *keyKind[K, S], label, note string) func(io.Writer, *S) error {
	return func(w io.Writer, s *S) error {
		k, secret := kind.secret(s)
		printSecret(w, label, secret.Reveal())
		if note != "" {
			fmt.Fprintf(w, "%s\n\n", note)
		}
		return kind.show(w, k)
	}
}

// ---- create -------------------------------------------------------------

type keyFlags struct {
	name, description, prefix, projectID, mode string
	status                                     string
	scopes, roles, metadata, ips               []string
	expiresAt, expiresIn                       string
	ownerType, ownerID                         string
	recoverable, operator                      bool
	permissions                                []string
	rateLimit, creditsRefill                   string
	credits                                    int64
}

// addKeyFlags declares the flags create and update share, for management
// keys or API keys.
func addKeyFlags(f *pflag.FlagSet, k *keyFlags, management bool, group string, update bool) {
	f.StringVar(&k.name, "name", "", "name of the key")
	f.StringVar(&k.description, "description", "", "free-text description")
	if management {
		f.StringArrayVar(&k.permissions, "permission", nil, "grant this management permission, such as keys:read or members:write; repeatable")
	} else {
		f.StringVar(&k.projectID, "project-id", "", "scope the key to one project (prj_…); default: all projects")
		f.StringVar(&k.mode, "permission-mode", "", "all, read_only or restricted (restricted grants exactly --scope and --role)")
		f.StringArrayVar(&k.scopes, "scope", nil, "grant resource:access or resource:access:target1,target2 (access read or write); repeatable")
		f.StringArrayVar(&k.roles, "role", nil, "grant the scopes of a role; repeatable")
	}
	addExpiryFlags(f, k)
	if !management {
		f.StringVar(&k.rateLimit, "rate-limit", "", "allow at most LIMIT verifications per WINDOW, as LIMIT/WINDOW: 100/1m, 10/1s, 5000/1d")
		f.Int64Var(&k.credits, "credits", 0, "credits the key has left: each verification spends its cost (usually 1); when they run out it answers USAGE_EXCEEDED")
		f.StringVar(&k.creditsRefill, "credits-refill", "", "reset the credits to AMOUNT every INTERVAL, as AMOUNT/INTERVAL: 1000/30d (with --credits)")
	}
	f.StringArrayVar(&k.metadata, "metadata", nil, "metadata entry key=value (a string) or key:=JSON (any JSON value); repeatable")
	f.StringArrayVar(&k.ips, "ip", nil, "allow only this IP address or CIDR prefix to use the key; repeatable")
	switch {
	case update:
		f.StringVar(&k.status, "status", "", "active or disabled (or revoked, which is final: see "+group+" revoke)")
	case management:
		f.StringVar(&k.prefix, "prefix", "", "token prefix, [a-z][a-z0-9]{0,15} (default kwm)")
		f.BoolVar(&k.operator, "operator", false, "make an operator key, which spans every account (only an operator key can)")
	default:
		f.StringVar(&k.prefix, "prefix", "", "token prefix, [a-z][a-z0-9]{0,15} (default: the account's, usually kw)")
		f.StringVar(&k.ownerType, "owner-type", "", "who owns the key: account (the default), user or service_account")
		f.StringVar(&k.ownerID, "owner-id", "", "the owning user (usr_…) or service account (sa_…)")
		f.BoolVar(&k.recoverable, "recoverable", false, "keep the secret encrypted so that keys secret can show it again (needs the server's master key)")
	}
}

func addExpiryFlags(f *pflag.FlagSet, k *keyFlags) {
	f.StringVar(&k.expiresAt, "expires-at", "", "expiry as an RFC 3339 time, such as 2030-01-02T15:04:05Z")
	f.StringVar(&k.expiresIn, "expires-in", "", "expiry as a duration from now, such as 90d, 12h or 1d12h")
}

func keysCreateCommand[K, S any](e *env, c *connFlags, kind *keyKind[K, S]) *cobra.Command {
	k := &keyFlags{}
	h := kind.help["create"]
	cmd := h.command("create --name NAME [flags]", argsNone(), func(cmd *cobra.Command, _ []string) error {
		in, err := createFields(cmd.Flags(), k, kind.management)
		if err != nil {
			return err
		}
		return change(e, cmd, c, showNewSecret(kind, "Secret", ""), nil, func(ctx context.Context, r *remote, opts []client.CallOption) (*S, error) {
			return kind.create(r.Client, ctx, in, opts...)
		})
	})
	addKeyFlags(cmd.Flags(), k, kind.management, kind.group, false)
	return cmd
}

// createFields reads the flags of a create.
func createFields(f *pflag.FlagSet, k *keyFlags, management bool) (*keyward.KeyFields, error) {
	if strings.TrimSpace(k.name) == "" {
		return nil, usagef("--name is required")
	}
	in := &keyward.KeyFields{Name: keyward.Some(k.name)}
	if f.Changed("description") {
		in.Description = keyward.Some(k.description)
	}
	if f.Changed("prefix") {
		if !keyward.ValidPrefix(k.prefix) {
			return nil, usagef("--prefix must match [a-z][a-z0-9]{0,15}, not %q", k.prefix)
		}
		in.Prefix = keyward.Some(k.prefix)
	}
	if management {
		if !f.Changed("permission") {
			return nil, usagef("--permission is required: give each management permission the key holds (such as --permission keys:read)")
		}
		if k.operator {
			in.Operator = keyward.Some(true)
		}
	} else {
		if f.Changed("project-id") {
			in.ProjectID = keyward.Some(k.projectID)
		}
		if err := ownerMember(f, k, in); err != nil {
			return nil, err
		}
		if k.recoverable {
			in.Recoverable = keyward.Some(true)
		}
		if err := limitMembers(f, k, in); err != nil {
			return nil, err
		}
	}
	if err := permissionMembers(f, k, in); err != nil {
		return nil, err
	}
	if !in.PermissionMode.Set && (len(k.scopes) > 0 || len(k.roles) > 0) {
		in.PermissionMode = keyward.Some(keyward.ModeRestricted)
	}
	if err := commonMembers(f, k, in); err != nil {
		return nil, err
	}
	return in, nil
}

// ownerMember reads --owner-type and --owner-id.
func ownerMember(f *pflag.FlagSet, k *keyFlags, in *keyward.KeyFields) error {
	typ, id := f.Changed("owner-type"), f.Changed("owner-id")
	if !typ && !id {
		return nil
	}
	if !typ {
		return usagef("--owner-id needs --owner-type (user or service_account)")
	}
	if err := oneOf("--owner-type", k.ownerType, keyward.OwnerAccount, keyward.OwnerUser, keyward.OwnerServiceAccount); err != nil {
		return err
	}
	owner := keyward.Owner{Type: keyward.OwnerType(k.ownerType)}
	switch ownerID := strings.TrimSpace(k.ownerID); {
	case ownerID != "":
		owner.ID = ownerID
	case owner.Type != keyward.OwnerAccount:
		return usagef("--owner-type %s needs --owner-id, the id of the %s", k.ownerType, strings.ReplaceAll(k.ownerType, "_", " "))
	}
	in.Owner = keyward.Some(owner)
	return nil
}

// permissionMembers reads --permission-mode, --scope and --role (API keys)
// and --permission (management keys).
func permissionMembers(f *pflag.FlagSet, k *keyFlags, in *keyward.KeyFields) error {
	if f.Changed("permission-mode") {
		if err := oneOf("--permission-mode", k.mode, keyward.ModeAll, keyward.ModeReadOnly, keyward.ModeRestricted); err != nil {
			return err
		}
		in.PermissionMode = keyward.Some(keyward.PermissionMode(k.mode))
	}
	if err := scopeFlags(f, k.scopes, &in.Scopes); err != nil {
		return err
	}
	if f.Changed("role") {
		if err := checkRoleNames(k.roles); err != nil {
			return err
		}
		in.Roles = keyward.Some(k.roles)
	}
	if f.Changed("permission") {
		for _, p := range k.permissions {
			res, act, ok := strings.Cut(p, ":")
			if !ok || !keyward.ValidResourceID(res) || !keyward.ValidResourceID(act) {
				return usagef("--permission %q is not a management permission (such as keys:read or members:write)", p)
			}
		}
		in.Permissions = keyward.Some(k.permissions)
	}
	return nil
}

// scopeFlags reads every --scope into dst, when given.
func scopeFlags(f *pflag.FlagSet, flags []string, dst *keyward.Field[[]keyward.Scope]) error {
	if !f.Changed("scope") {
		return nil
	}
	scopes := make([]keyward.Scope, 0, len(flags))
	for _, s := range flags {
		sc, err := parseScope(s)
		if err != nil {
			return err
		}
		scopes = append(scopes, sc)
	}
	*dst = keyward.Some(scopes)
	return nil
}

// nameFlag reads --name into dst, when given; it must not be blank.
func nameFlag(f *pflag.FlagSet, name string, dst *keyward.Field[string]) error {
	if !f.Changed("name") {
		return nil
	}
	if strings.TrimSpace(name) == "" {
		return usagef("--name must not be empty")
	}
	*dst = keyward.Some(name)
	return nil
}

// checkRoleNames checks the form of every --role.
func checkRoleNames(roles []string) error {
	for _, r := range roles {
		if strings.TrimSpace(r) == "" {
			return usagef("--role must not be empty")
		}
		if !keyward.ValidRoleName(r) {
			return usagef("--role %q is not a role name ([a-z][a-z0-9_.-]*)", r)
		}
	}
	return nil
}

// commonMembers reads the expiry, metadata and IP allowlist flags.
func commonMembers(f *pflag.FlagSet, k *keyFlags, in *keyward.KeyFields) error {
	exp, set, err := parseExpiry(f, k, time.Now())
	if err != nil {
		return err
	}
	if set {
		in.ExpiresAt = keyward.Some(exp)
	}
	if f.Changed("metadata") {
		md, err := parseMetadata(k.metadata)
		if err != nil {
			return err
		}
		in.Metadata = keyward.Some(md)
	}
	if f.Changed("ip") {
		for _, ip := range k.ips {
			if _, err := keyward.ParseAllowEntry(strings.TrimSpace(ip)); err != nil {
				return usagef("--ip %q is not an IP address or CIDR prefix (such as 203.0.113.7 or 10.0.0.0/8)", ip)
			}
		}
		in.IPAllowlist = keyward.Some(k.ips)
	}
	return nil
}

// limitMembers reads --rate-limit, --credits and --credits-refill, checked
// against the server's bounds so that a mistake names its flag.
func limitMembers(f *pflag.FlagSet, k *keyFlags, in *keyward.KeyFields) error {
	if f.Changed("rate-limit") {
		limit, window, err := parseRate("--rate-limit", k.rateLimit, "LIMIT/WINDOW, such as 100/1m (100 verifications a minute)",
			keyward.MaxRateLimit, keyward.MaxRateWindow)
		if err != nil {
			return err
		}
		in.RateLimit = keyward.Some(keyward.RateLimit{Limit: limit, Window: window})
	}
	if f.Changed("credits-refill") && !f.Changed("credits") {
		return usagef("--credits-refill needs --credits: the credits left and their refill are set together")
	}
	if f.Changed("credits") {
		if k.credits < 0 || k.credits > keyward.MaxCredits {
			return usagef("--credits must be from 0 to %d, not %d", int64(keyward.MaxCredits), k.credits)
		}
		cr := keyward.Credits{Remaining: k.credits}
		if f.Changed("credits-refill") {
			amount, interval, err := parseRate("--credits-refill", k.creditsRefill, "AMOUNT/INTERVAL, such as 1000/30d (back to 1000 credits every 30 days)",
				keyward.MaxCredits, keyward.MaxRefillInterval)
			if err != nil {
				return err
			}
			cr.Refill = &keyward.Refill{Amount: amount, Interval: interval}
		}
		in.Credits = keyward.Some(cr)
	}
	return nil
}

// parseRate reads COUNT/DURATION: a count from 1 to maxCount per a
// duration of whole seconds from 1s to maxSeconds. form describes the
// value for errors.
func parseRate(flag, v, form string, maxCount, maxSeconds int64) (count, seconds int64, err error) {
	n, per, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return 0, 0, usagef("%s %q is not %s", flag, v, form)
	}
	count, err = strconv.ParseInt(strings.TrimSpace(n), 10, 64)
	if err != nil || count < 1 || count > maxCount {
		return 0, 0, usagef("%s %q: the number before / must be from 1 to %d (%s)", flag, v, maxCount, form)
	}
	d, err := parseDuration(per)
	if err != nil || d < time.Second || d%time.Second != 0 || int64(d/time.Second) > maxSeconds {
		return 0, 0, usagef("%s %q: the duration after / must be whole seconds from 1s to %s (%s)", flag, v, lifetimeText(&maxSeconds), form)
	}
	return count, int64(d / time.Second), nil
}

// ---- list ---------------------------------------------------------------

func keysListCommand[K, S any](e *env, c *connFlags, kind *keyKind[K, S]) *cobra.Command {
	p := &client.KeyListParams{}
	filters := []filter{enumFilter("status", "only keys with this status: active, disabled or revoked", &p.Status,
		keyward.StatusActive, keyward.StatusDisabled, keyward.StatusRevoked)}
	if !kind.management {
		filters = append(filters,
			textFilter("project-id", "only keys scoped to this project", &p.ProjectID),
			enumFilter("owner-type", "only keys owned by: account, user or service_account", &p.OwnerType,
				keyward.OwnerAccount, keyward.OwnerUser, keyward.OwnerServiceAccount),
			textFilter("owner-id", "only keys of this owner", &p.OwnerID),
			enumFilter("permission-mode", "only keys with this mode: all, read_only or restricted", &p.PermissionMode,
				keyward.ModeAll, keyward.ModeReadOnly, keyward.ModeRestricted),
			textFilter("resource", "only restricted keys whose scopes name this catalog resource", &p.Resource),
			validFilter("role", "only keys that hold this role", "a role name", keyward.ValidRoleName, &p.Role),
		)
	}
	filters = append(filters,
		textFilter("search", "only keys whose name contains this text (case-insensitive)", &p.Search),
		boolFilter("expired", "true: only expired keys; false: only keys not expired", &p.Expired),
		timeFilter("created-after", "only keys created after this RFC 3339 time", &p.CreatedAfter),
		timeFilter("created-before", "only keys created before this RFC 3339 time", &p.CreatedBefore),
		timeFilter("last-used-before", "only keys last used before this RFC 3339 time", &p.LastUsedBefore),
		timeFilter("expires-after", "only keys that expire after this RFC 3339 time (never-expiring keys excluded)", &p.ExpiresAfter),
		timeFilter("expires-before", "only keys that expire before this RFC 3339 time (never-expiring keys excluded)", &p.ExpiresBefore),
	)
	return listCommand(e, c, &kind.object, kind.help["list"], &cursor{&p.Limit, &p.StartingAfter, &p.EndingBefore},
		func(r *remote) pages[K] { return kind.pager(r.Client, p, r.capture()...) }, filters...)
}

// ---- update, revoke -----------------------------------------------------

type updateFlags struct {
	keyFlags
	clearDescription, clearExpires, clearProject, clearMetadata, clearIPs bool
	clearRateLimit, clearCredits                                          bool
	noScopes, noRoles                                                     bool
	ifMatch                                                               string
}

func keysUpdateCommand[K, S any](e *env, c *connFlags, kind *keyKind[K, S]) *cobra.Command {
	u := &updateFlags{}
	h := kind.help["update"]
	cmd := h.command("update ID [flags]", argOne(kind.argText()), func(cmd *cobra.Command, args []string) error {
		in, err := updateFields(cmd.Flags(), u)
		if err != nil {
			return err
		}
		return change(e, cmd, c, kind.show, &patch{in.Empty(), u.ifMatch}, func(ctx context.Context, r *remote, opts []client.CallOption) (*K, error) {
			return kind.update(r.Client, ctx, args[0], in, opts...)
		})
	})
	f := cmd.Flags()
	addKeyFlags(f, &u.keyFlags, kind.management, kind.group, true)
	f.BoolVar(&u.clearDescription, "clear-description", false, "remove the description")
	f.BoolVar(&u.clearExpires, "clear-expires", false, "remove the expiry: the key never expires")
	f.BoolVar(&u.clearMetadata, "clear-metadata", false, "remove all metadata")
	f.BoolVar(&u.clearIPs, "clear-ip-allowlist", false, "remove the IP allowlist: any address may use the key")
	if !kind.management {
		f.BoolVar(&u.clearProject, "clear-project", false, "scope the key to all projects again")
		f.BoolVar(&u.noScopes, "no-scopes", false, "remove every scope (sends scopes: [])")
		f.BoolVar(&u.noRoles, "no-roles", false, "remove every role (sends roles: [])")
		f.BoolVar(&u.clearRateLimit, "clear-rate-limit", false, "remove the rate limit")
		f.BoolVar(&u.clearCredits, "clear-credits", false, "remove the credits: verifications no longer spend any")
	}
	addIfMatchFlag(f, &u.ifMatch, "key")
	return cmd
}

// exclusive fails when both flags of a pair are given.
func exclusive(f *pflag.FlagSet, pairs ...[2]string) error {
	for _, pair := range pairs {
		if f.Changed(pair[0]) && f.Changed(pair[1]) {
			return usagef("give --%s or --%s, not both", pair[0], pair[1])
		}
	}
	return nil
}

// nullIf makes dst null when set: a --clear-* flag was given.
func nullIf[T any](set bool, dst *keyward.Field[T]) {
	if set {
		*dst = keyward.Null[T]()
	}
}

// updateFields reads the flags of a PATCH.
func updateFields(f *pflag.FlagSet, u *updateFlags) (*keyward.KeyFields, error) {
	if err := exclusive(f,
		[2]string{"description", "clear-description"}, [2]string{"expires-at", "clear-expires"}, [2]string{"expires-in", "clear-expires"},
		[2]string{"project-id", "clear-project"}, [2]string{"metadata", "clear-metadata"}, [2]string{"ip", "clear-ip-allowlist"},
		[2]string{"scope", "no-scopes"}, [2]string{"role", "no-roles"},
		[2]string{"rate-limit", "clear-rate-limit"}, [2]string{"credits", "clear-credits"}, [2]string{"credits-refill", "clear-credits"},
	); err != nil {
		return nil, err
	}
	in := &keyward.KeyFields{}
	if err := nameFlag(f, u.name, &in.Name); err != nil {
		return nil, err
	}
	if f.Changed("status") {
		if err := oneOf("--status", u.status, keyward.StatusActive, keyward.StatusDisabled, keyward.StatusRevoked); err != nil {
			return nil, err
		}
		in.Status = keyward.Some(keyward.KeyStatus(u.status))
	}
	if f.Changed("description") {
		in.Description = keyward.Some(u.description)
	}
	if f.Changed("project-id") {
		in.ProjectID = keyward.Some(u.projectID)
	}
	if err := permissionMembers(f, &u.keyFlags, in); err != nil {
		return nil, err
	}
	if err := limitMembers(f, &u.keyFlags, in); err != nil {
		return nil, err
	}
	if err := commonMembers(f, &u.keyFlags, in); err != nil {
		return nil, err
	}
	nullIf(u.clearDescription, &in.Description)
	if u.clearExpires {
		in.ClearExpiresAt = keyward.Some(true)
	}
	nullIf(u.clearProject, &in.ProjectID)
	nullIf(u.clearMetadata, &in.Metadata)
	nullIf(u.clearIPs, &in.IPAllowlist)
	if u.noScopes {
		in.Scopes = keyward.Some([]keyward.Scope{})
	}
	if u.noRoles {
		in.Roles = keyward.Some([]string{})
	}
	nullIf(u.clearRateLimit, &in.RateLimit)
	nullIf(u.clearCredits, &in.Credits)
	return in, nil
}

func keysRevokeCommand[K, S any](e *env, c *connFlags, kind *keyKind[K, S]) *cobra.Command {
	var yes bool
	h := kind.help["revoke"]
	cmd := h.more(confirmNote("")).command("revoke ID", argOne(kind.argText()), func(cmd *cobra.Command, args []string) error {
		q := fmt.Sprintf("Revoke %s %s? It stops working for good and can never be changed again.", kind.noun, args[0])
		return e.run(cmd, c, func(ctx context.Context, r *remote) error {
			if err := e.confirm(yes, "", q); err != nil {
				return err
			}
			k, err := kind.update(r.Client, ctx, args[0], &keyward.KeyFields{Status: keyward.Some(keyward.StatusRevoked)}, r.capture()...)
			return show(e, r, k, err, kind.show)
		})
	})
	addYesFlag(cmd.Flags(), &yes, "revoke", false)
	return cmd
}

// ---- rotate -------------------------------------------------------------

func keysRotateCommand[K, S any](e *env, c *connFlags, kind *keyKind[K, S]) *cobra.Command {
	var grace string
	k := &keyFlags{}
	h := kind.help["rotate"]
	cmd := h.command("rotate ID [--grace DURATION]", argOne(kind.argText()), func(cmd *cobra.Command, args []string) error {
		var in *client.RotateRequest // none without flags
		var d time.Duration
		if cmd.Flags().Changed("grace") {
			var err error
			d, err = parseDuration(grace)
			if err != nil || d < 0 || d%time.Second != 0 {
				return usagef("--grace %q is not a duration of whole seconds, such as 0, 90s, 24h or 7d", grace)
			}
			if longest := int64(keyward.MaxGracePeriod / time.Second); int64(d/time.Second) > longest {
				return usagef("--grace %s is longer than the longest grace period, %s", grace, lifetimeText(&longest))
			}
			in = &client.RotateRequest{GracePeriodSeconds: keyward.Some(int64(d / time.Second))}
		}
		exp, set, err := parseExpiry(cmd.Flags(), k, time.Now())
		if err != nil {
			return err
		}
		if set {
			if in == nil {
				in = &client.RotateRequest{}
			}
			in.ExpiresAt = keyward.Some(exp)
		}
		note := "The previous secret no longer works."
		if d > 0 {
			note = fmt.Sprintf("The previous secret keeps working for %s.", d)
		}
		return change(e, cmd, c, showNewSecret(kind, "New secret", note), nil, func(ctx context.Context, r *remote, opts []client.CallOption) (*S, error) {
			return kind.rotate(r.Client, ctx, args[0], in, opts...)
		})
	})
	cmd.Flags().StringVar(&grace, "grace", "", "keep the old secret valid this long, such as 1h or 7d (default 0: not at all)")
	addExpiryFlags(cmd.Flags(), k)
	return cmd
}

// ---- secret, import -----------------------------------------------------

func (e *env) keysSecretCommand(c *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "secret ID",
		Short: "Show the secret of a recoverable API key again",
		Long: `Show the secret of a recoverable API key (one created with --recoverable on a
server that has a master key). It needs the keys:reveal permission, and every
reveal is written to the audit log. Keys that are not recoverable have no
secret to show (HTTP 409).`,
		Example: `  keyward keys secret key_01J00000000000000000000000
  keyward keys secret key_01J00000000000000000000000 --json | jq -r .secret`,
		Args: argOne("the key id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.run(cmd, c, func(ctx context.Context, r *remote) error {
				s, err := r.RevealSecret(ctx, args[0], r.capture()...)
				return show(e, r, s, err, func(w io.Writer, s *client.KeySecret) error {
					return printRows(w, [][2]string{{"ID", s.ID}, {"SECRET", s.Secret.Reveal()}})
				})
			})
		},
	}
}

// maxImportInput bounds what keys import reads; the server takes at most
// 1 MiB anyway.
const maxImportInput = 16 << 20

func (e *env) keysImportCommand(c *connFlags) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "import --file FILE",
		Short: "Import API keys from another system by the hashes of their secrets",
		Long: `Import API keys from another system without reissuing them: keyward gets the
SHA-256 of each secret, never the secret, and the keys then verify with their
original tokens.

--file names a JSON array of 1 to 1000 import items ("-" reads standard
input). Each item is {"hash": SHA-256 as 64 hex characters or base64,
"start": shown instead of the key's start, "last4": its last four
characters, …} plus any member "keys create" sends: name (required),
description, owner, project_id, permission_mode, scopes, roles, expires_at,
metadata, ip_allowlist. For example:

  [{"hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "last4": "ab12", "name": "legacy key", "permission_mode": "read_only"}]

The import is all or nothing: if any item is refused, nothing is imported and
every refused item is listed (keys[2].hash, keys[5].name …).`,
		Example: `  keyward keys import --file legacy-keys.json
  export-legacy-keys | keyward keys import --file - --json | jq -r '.data[].id'`,
		Args: argsNone(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := e.readImport(cmd.Flags(), file)
			if err != nil {
				return err
			}
			return e.run(cmd, c, func(ctx context.Context, r *remote) error {
				keys, err := r.ImportKeys(ctx, items, r.capture()...)
				if err != nil {
					return err
				}
				return e.print(r, func(w io.Writer) error { return printKeyList(w, keys) })
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", `JSON array of the keys to import, or "-" for standard input`)
	return cmd
}

// readImport reads the import items of --file: a JSON array of 1–1000
// objects, each read as the server reads the items of an import (so that
// a malformed item is named before anything is sent).
func (e *env) readImport(f *pflag.FlagSet, file string) ([]keyward.ImportItem, error) {
	if !f.Changed("file") || strings.TrimSpace(file) == "" {
		return nil, usagef(`--file is required: a JSON array of the keys to import, or "-" for standard input`)
	}
	var r io.Reader
	if file == "-" {
		if e.stdin == nil {
			return nil, usagef("--file -: standard input is closed")
		}
		r = e.stdin
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, usagef("--file: %v", err)
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, maxImportInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(b) > maxImportInput {
		return nil, usagef("--file %s is larger than %d MiB", file, maxImportInput>>20)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, usagef("--file %s is not a JSON array of import items: %v", file, err)
	}
	if len(items) == 0 || len(items) > 1000 {
		return nil, usagef("--file %s holds %d items: import 1 to 1000 keys at a time", file, len(items))
	}
	for i, it := range items {
		if t := bytes.TrimSpace(it); len(t) == 0 || t[0] != '{' {
			return nil, usagef("--file %s: item %d is not a JSON object", file, i)
		}
	}
	var in api.ImportRequest
	body := append(append([]byte(`{"keys":`), b...), '}')
	if err := api.DecodeStrict(body, &in); err != nil {
		return nil, usagef("--file %s: %s", file, keyward.AsError(err).Message)
	}
	return in.Keys, nil
}

// ---- flag values ---------------------------------------------------------

// oneOf fails unless v is one of allowed.
func oneOf[S ~string](flag, v string, allowed ...S) error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if v == string(a) {
			return nil
		}
		names[i] = string(a)
	}
	return usagef("%s must be one of %s, not %q", flag, strings.Join(names, ", "), v)
}

// parseScope reads resource:access or resource:access:target1,target2
// (keyward.ParseScope).
func parseScope(s string) (keyward.Scope, error) {
	sc, err := keyward.ParseScope(s)
	if err != nil {
		return sc, usagef("--scope %q: %v (want resource:access or resource:access:target1,target2, such as documents:read)", s, err)
	}
	return sc, nil
}

// parseExpiry reads --expires-at or --expires-in.
func parseExpiry(f *pflag.FlagSet, k *keyFlags, now time.Time) (time.Time, bool, error) {
	at, in := f.Changed("expires-at"), f.Changed("expires-in")
	switch {
	case at && in:
		return time.Time{}, false, usagef("give --expires-at or --expires-in, not both")
	case at:
		t, err := parseTime("--expires-at", strings.TrimSpace(k.expiresAt))
		if err != nil {
			return time.Time{}, false, usagef("--expires-at %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z)", k.expiresAt)
		}
		return t, true, nil
	case in:
		d, err := parseDuration(k.expiresIn)
		if err != nil || d <= 0 {
			return time.Time{}, false, usagef("--expires-in %q is not a positive duration (such as 90d, 12h or 1d12h)", k.expiresIn)
		}
		return now.Add(d).UTC().Truncate(time.Second), true, nil
	}
	return time.Time{}, false, nil
}

// parseDuration is time.ParseDuration that also takes a leading number of
// days: 90d, 1d12h.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 || n > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, fmt.Errorf("bad number of days in %q", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		if s = s[i+1:]; s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if days > 0 && (d < 0 || d > math.MaxInt64-days) {
		return 0, fmt.Errorf("bad duration")
	}
	return days + d, nil
}

// parseMetadata reads key=value (a string) and key:=JSON entries.
func parseMetadata(entries []string) (map[string]json.RawMessage, error) {
	md := make(map[string]json.RawMessage, len(entries))
	for _, ent := range entries {
		i := strings.IndexByte(ent, '=')
		if i <= 0 {
			return nil, usagef("--metadata %q: want key=value or key:=JSON", ent)
		}
		name, val := ent[:i], ent[i+1:]
		var raw json.RawMessage
		if strings.HasSuffix(name, ":") {
			name = name[:len(name)-1]
			if !json.Valid([]byte(val)) {
				return nil, usagef("--metadata %q: the value after := must be JSON (strings in double quotes)", ent)
			}
			raw = json.RawMessage(val)
		} else {
			b, _ := json.Marshal(val)
			raw = b
		}
		if name == "" {
			return nil, usagef("--metadata %q: the key is empty", ent)
		}
		if _, dup := md[name]; dup {
			return nil, usagef("--metadata: key %q is given twice", name)
		}
		md[name] = raw
	}
	return md, nil
}

// ---- verify -------------------------------------------------------------

// notValidError is a verification that answered something else than VALID.
type notValidError struct{ code string }

func (n notValidError) Error() string { return "the key is not valid: " + n.code }

// maxTokenInput bounds what keys verify reads from stdin.
const maxTokenInput = 64 << 10

func (e *env) keysVerifyCommand(c *connFlags) *cobra.Command {
	var permissions, projectID, ip string
	cmd := &cobra.Command{
		Use:   "verify [TOKEN | -]",
		Short: "Verify an API key as a service would; exit 0 only if VALID",
		Long: `Verify an API key the way a service does on every request, and print the
result's code (VALID, NOT_FOUND, REVOKED, DISABLED, EXPIRED, ROTATED,
OWNER_INACTIVE, FORBIDDEN_IP, WRONG_PROJECT, INSUFFICIENT_PERMISSIONS, …) and,
in table mode, what the server says about the key.

The key to verify is read from standard input when the argument is "-" or
missing: prefer that, so the secret stays out of your shell history. (The
management key doing the verification comes from KEYWARD_TOKEN, as for every
keys command; it needs the keys:verify permission.)

Exit status: 0 when the code is VALID, 1 for any other code or a refused
request, 2 for bad usage, 3 when the server cannot be reached.`,
		Example: `  printf '%s' "$CUSTOMER_KEY" | keyward keys verify -
  keyward keys verify - --permissions 'documents:read AND (files:read OR search:read)' < key.txt
  keyward keys verify - --project-id prj_01J00000000000000000000000 --ip 203.0.113.7 --json < key.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one argument, the key to verify or - for standard input (got %d)", commandName(cmd), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := e.readToken(args)
			if err != nil {
				return err
			}
			in := &keyward.VerifyRequest{Key: keyward.Some(keyward.TokenFromString(tok))}
			f := cmd.Flags()
			if f.Changed("permissions") {
				if strings.TrimSpace(permissions) == "" {
					return usagef("--permissions must not be empty")
				}
				in.Permissions = &permissions
			}
			if f.Changed("project-id") {
				in.ProjectID = &projectID
			}
			if f.Changed("ip") {
				in.IP = &ip
			}
			return e.run(cmd, c, func(ctx context.Context, r *remote) error {
				v, err := r.VerifyKey(ctx, in, r.capture()...)
				if err := show(e, r, v, err, printVerify); err != nil {
					return err
				}
				if v.Code != keyward.VerifyValid || !v.Valid {
					return notValidError{code: string(v.Code)}
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&permissions, "permissions", "", "permission query the key must satisfy, such as 'documents:read AND files:write:f_1'")
	f.StringVar(&projectID, "project-id", "", "the project the request is for")
	f.StringVar(&ip, "ip", "", "the client IP address the request came from (checked against the key's allowlist)")
	return cmd
}

// readToken returns the key to verify: the argument, or standard input
// for "-" or no argument.
func (e *env) readToken(args []string) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		if strings.TrimSpace(args[0]) == "" {
			return "", usagef("the key to verify is empty")
		}
		return strings.TrimSpace(args[0]), nil
	}
	if len(args) == 0 && e.stdinIsTerminal() {
		return "", usagef("give the key to verify on standard input (printf '%%s' \"$KEY\" | keyward keys verify -) or as an argument")
	}
	if e.stdin == nil {
		return "", usagef("no key to verify: standard input is closed")
	}
	b, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.stdin), maxTokenInput+1))
	if err != nil {
		return "", fmt.Errorf("read the key from standard input: %w", err)
	}
	if len(b) > maxTokenInput {
		return "", usagef("standard input is too long to be a key")
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", usagef("no key to verify: standard input is empty")
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", usagef("standard input holds more than one word: give only the key")
	}
	return tok, nil
}
