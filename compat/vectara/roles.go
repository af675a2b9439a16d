package vectara

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/keyward/keyward"
)

// Vectara's newer role members (api_roles, corpus_roles, agent_roles) and
// how they map onto keyward scopes of the vectara catalog template:
// account-wide roles are scopes with the target "*" on corpus, agents and
// pipelines; corpus and agent roles are scopes naming the corpus or agent
// key. keyward has two levels, read and write (which includes read), so
// Vectara's finer roles fold onto them (docs/compatibility.md, Vectara).

// level is a keyward access level as a number, for comparing and joining.
type level int

const (
	none level = iota
	read
	write
)

// levelOf is the level of an access; anything else is none.
var levelOf = map[keyward.Access]level{keyward.AccessRead: read, keyward.AccessWrite: write}

func (l level) access() keyward.Access {
	if l == write {
		return keyward.AccessWrite
	}
	return keyward.AccessRead
}

// Resources of the vectara catalog the role members speak of.
const (
	agentsResource    = "agents"
	pipelinesResource = "pipelines"
)

// roleResources are the resources account-wide roles grant, in scope order.
var roleResources = []string{corpusResource, agentsResource, pipelinesResource}

// grant is what a role allows: a level per resource.
type grant map[string]level

// apiRoles are Vectara's ApiRole values in its enum order (the order
// answers list them in) with what each grants on every object of a
// resource. billing_administrator is known but refused: billing is
// protected in keyward and never granted to an API key.
var apiRoles = []apiRole{
	{"owner", grant{corpusResource: write, agentsResource: write, pipelinesResource: write}},
	{"administrator", grant{corpusResource: write, agentsResource: write, pipelinesResource: write}},
	{"billing_administrator", nil},
	{"corpus_administrator", grant{corpusResource: write}},
	{"corpus_developer", grant{corpusResource: write}},
	{"agent_administrator", grant{agentsResource: write}},
	{"agent_viewer", grant{agentsResource: read}},
	{"agent_developer", grant{agentsResource: write}},
	{"agent_user", grant{agentsResource: write}},
	{"pipeline_administrator", grant{pipelinesResource: write}},
	{"pipeline_viewer", grant{pipelinesResource: read}},
	{"viewer", grant{corpusResource: read, agentsResource: read, pipelinesResource: read}},
	{"corpus_viewer", grant{corpusResource: read}},
}

const billingAdministrator = "billing_administrator"

type apiRole struct {
	name  string
	grant grant // nil: refused
}

func apiRoleIndex(name string) int {
	return slices.IndexFunc(apiRoles, func(r apiRole) bool { return r.name == name })
}

func apiRoleNames() []string {
	out := make([]string, len(apiRoles))
	for i, r := range apiRoles {
		out[i] = r.name
	}
	return out
}

// objectRoles describes one per-object role member: corpus_roles on the
// corpus resource, agent_roles on agents. levels maps each role to the
// level it grants on its object; canonical names the role shown for a
// level when no other name was recorded.
type objectRoles struct {
	member    string // corpus_roles, agent_roles
	keyMember string // corpus_key, agent_key
	resource  string
	names     []string // Vectara's enum order
	levels    map[string]level
	canonical map[level]string
	pattern   *regexp.Regexp
	patternIs string
}

var (
	corpusRoles = &objectRoles{
		member: "corpus_roles", keyMember: "corpus_key", resource: corpusResource,
		names:     []string{"owner", "administrator", "viewer", "editor"},
		levels:    map[string]level{"owner": write, "administrator": write, "editor": write, "viewer": read},
		canonical: map[level]string{write: "editor", read: "viewer"},
		pattern:   corpusKeyPattern, patternIs: "letters, digits and _ = -",
	}
	agentRoles = &objectRoles{
		member: "agent_roles", keyMember: "agent_key", resource: agentsResource,
		names: []string{"agent_administrator", "agent_viewer", "agent_developer", "agent_user"},
		levels: map[string]level{"agent_administrator": write, "agent_developer": write, "agent_user": write,
			"agent_viewer": read},
		canonical: map[level]string{write: "agent_developer", read: "agent_viewer"},
		pattern:   agentKeyPattern, patternIs: "letters, digits and _ -",
	}
)

// agentKeyPattern is Vectara's AgentKey: [0-9a-zA-Z_-]+, 1–50 characters
// (the same length bound as a corpus key).
var agentKeyPattern = regexp.MustCompile(`^[0-9a-zA-Z_-]+$`)

// objectRole is one entry of corpus_roles or agent_roles: the object's key
// and the role on it. It renders as {corpus_key, role} or {agent_key,
// role}.
type objectRole struct {
	Key  string
	Role string
}

type corpusRoleView struct {
	CorpusKey string `json:"corpus_key"`
	Role      string `json:"role"`
}

type agentRoleView struct {
	AgentKey string `json:"agent_key"`
	Role     string `json:"role"`
}

// roleSet is the three role members of a key, as a request gives them or
// an answer shows them.
type roleSet struct {
	API    []string
	Corpus []objectRole
	Agent  []objectRole
}

func (s *roleSet) empty() bool { return len(s.API)+len(s.Corpus)+len(s.Agent) == 0 }

// parseAPIRoles reads api_roles: null or a list of distinct ApiRole names.
func parseAPIRoles(f keyward.Field[json.RawMessage], add func(field, msg string)) []string {
	if !f.HasValue() {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(f.Value, &items); err != nil {
		add("api_roles", "must be a list of role names or null")
		return nil
	}
	var out []string
	for i, raw := range items {
		at := "api_roles[" + strconv.Itoa(i) + "]"
		var name string
		switch err := json.Unmarshal(raw, &name); {
		case err != nil || apiRoleIndex(name) < 0:
			add(at, "must be one of "+strings.Join(apiRoleNames(), ", "))
		case name == billingAdministrator:
			add(at, "billing is protected in keyward: an API key can never hold billing_administrator")
		case slices.Contains(out, name):
			add(at, "repeats "+strconv.Quote(name)+": name each role once")
		default:
			out = append(out, name)
		}
	}
	return out
}

// parse reads corpus_roles or agent_roles: null or a list of objects with
// exactly the key member and role, one entry per object key.
func (o *objectRoles) parse(f keyward.Field[json.RawMessage], add func(field, msg string)) []objectRole {
	if !f.HasValue() {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(f.Value, &items); err != nil {
		add(o.member, "must be a list of {"+o.keyMember+", role} objects or null")
		return nil
	}
	var out []objectRole
	seen := map[string]int{}
	for i, raw := range items {
		at := o.member + "[" + strconv.Itoa(i) + "]"
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			add(at, "must be an object {"+o.keyMember+", role}")
			continue
		}
		ok := true
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			if name != o.keyMember && name != "role" {
				add(at+"."+name, "is not a known field: an entry has "+o.keyMember+" and role")
				ok = false
			}
		}
		var key, role string
		switch raw, present := obj[o.keyMember]; {
		case !present:
			add(at+"."+o.keyMember, "is required")
			ok = false
		case json.Unmarshal(raw, &key) != nil || raw[0] != '"':
			add(at+"."+o.keyMember, "must be a string")
			ok = false
		case len(key) > maxCorpusKeyLen || !o.pattern.MatchString(key):
			add(at+"."+o.keyMember, "must be 1–50 characters of "+o.patternIs)
			ok = false
		}
		switch raw, present := obj["role"]; {
		case !present:
			add(at+".role", "is required: one of "+strings.Join(o.names, ", "))
			ok = false
		case json.Unmarshal(raw, &role) != nil || raw[0] != '"' || !slices.Contains(o.names, role):
			add(at+".role", "must be one of "+strings.Join(o.names, ", "))
			ok = false
		}
		if !ok {
			continue
		}
		if prev, dup := seen[key]; dup {
			add(at+"."+o.keyMember, "repeats "+o.member+"["+strconv.Itoa(prev)+"]: one role per "+o.keyMember)
			continue
		}
		seen[key] = i
		out = append(out, objectRole{Key: key, Role: role})
	}
	return out
}

// scopedTo is a scope with the request member it comes from, so that a
// rule the service finds broken on scopes[i] is reported on that member.
type scopedTo struct {
	scope  keyward.Scope
	member string
}

// scopesOf translates role members into restricted scopes: per resource,
// the account-wide level as a scope on "*", and the objects at each level
// other than that one (an object at the account-wide level is already
// covered by "*", and keyward keeps one scope per resource and access).
func scopesOf(s *roleSet) []scopedTo {
	wide := grant{}
	for _, name := range s.API {
		for res, l := range apiRoles[apiRoleIndex(name)].grant {
			wide[res] = max(wide[res], l)
		}
	}
	var out []scopedTo
	for _, res := range roleResources {
		if l := wide[res]; l > none {
			out = append(out, scopedTo{keyward.Scope{Resource: res, Access: l.access(), Targets: []string{keyward.Wildcard}}, "api_roles"})
		}
		for _, o := range []*objectRoles{corpusRoles, agentRoles} {
			if o.resource != res {
				continue
			}
			entries := s.Corpus
			if o == agentRoles {
				entries = s.Agent
			}
			for _, l := range []level{write, read} {
				var targets []string
				for _, e := range entries {
					if o.levels[e.Role] == l && wide[res] != l {
						targets = append(targets, e.Key)
					}
				}
				if len(targets) > 0 {
					out = append(out, scopedTo{keyward.Scope{Resource: res, Access: l.access(), Targets: targets}, o.member})
				}
			}
		}
	}
	// keyward's order: by resource, then access (read before write).
	slices.SortStableFunc(out, func(a, b scopedTo) int {
		if c := strings.Compare(a.scope.Resource, b.scope.Resource); c != 0 {
			return c
		}
		return strings.Compare(string(a.scope.Access), string(b.scope.Access))
	})
	return out
}

// rolesOf describes scopes (what a key may do) in Vectara's role members.
// Account-wide grants on corpus, agents and pipelines become api_roles,
// scopes naming corpora or agents become corpus_roles and agent_roles.
// Where several Vectara roles grant the same level, the name recorded at
// creation (hint) is shown while it still describes the level the key
// has; otherwise the canonical one. Grants Vectara has no role member for
// (pipelines by id, other catalogs' resources) show only in api_policy.
func rolesOf(scopes []keyward.Scope, hint *roleSet) roleSet {
	wide := grant{}
	objects := map[string]map[string]level{}
	for _, sc := range scopes {
		if !slices.Contains(roleResources, sc.Resource) {
			continue
		}
		l := levelOf[sc.Access]
		for _, t := range sc.Targets {
			if t == keyward.Wildcard {
				wide[sc.Resource] = max(wide[sc.Resource], l)
				continue
			}
			if objects[sc.Resource] == nil {
				objects[sc.Resource] = map[string]level{}
			}
			objects[sc.Resource][t] = max(objects[sc.Resource][t], l)
		}
	}
	if hint == nil {
		hint = &roleSet{}
	}
	out := roleSet{API: apiRolesOf(wide, hint.API), Corpus: []objectRole{}, Agent: []objectRole{}}
	out.Corpus = corpusRoles.shown(objects[corpusResource], wide[corpusResource], hint.Corpus)
	out.Agent = agentRoles.shown(objects[agentsResource], wide[agentsResource], hint.Agent)
	return out
}

// apiRolesOf names account-wide levels: the recorded names if together
// they grant exactly these levels; else administrator for write on all
// three resources, viewer for at least read on all three (plus the write
// roles of those at write), or one role per resource.
func apiRolesOf(wide grant, hint []string) []string {
	if len(hint) > 0 {
		got, valid := grant{}, true
		for _, name := range hint {
			i := apiRoleIndex(name)
			if i < 0 || apiRoles[i].grant == nil {
				valid = false
				break
			}
			for res, l := range apiRoles[i].grant {
				got[res] = max(got[res], l)
			}
		}
		if valid && maps.Equal(got, nonZero(wide)) {
			return inEnumOrder(hint)
		}
	}
	c, a, p := wide[corpusResource], wide[agentsResource], wide[pipelinesResource]
	if c == write && a == write && p == write {
		return []string{"administrator"}
	}
	var out []string
	if c >= read && a >= read && p >= read {
		out = append(out, "viewer")
		c, a, p = c-read, a-read, p-read // what is left beyond viewer: write becomes "read" here
		if c > none {
			out = append(out, "corpus_developer")
		}
		if a > none {
			out = append(out, "agent_developer")
		}
		if p > none {
			out = append(out, "pipeline_administrator")
		}
		return inEnumOrder(out)
	}
	for res, names := range map[string][2]string{
		corpusResource:    {"corpus_viewer", "corpus_developer"},
		agentsResource:    {"agent_viewer", "agent_developer"},
		pipelinesResource: {"pipeline_viewer", "pipeline_administrator"},
	} {
		switch wide[res] {
		case read:
			out = append(out, names[0])
		case write:
			out = append(out, names[1])
		}
	}
	return inEnumOrder(out)
}

func nonZero(g grant) grant {
	out := grant{}
	for res, l := range g {
		if l > none {
			out[res] = l
		}
	}
	return out
}

// inEnumOrder returns distinct api role names in Vectara's enum order.
func inEnumOrder(names []string) []string {
	out := []string{}
	for _, r := range apiRoles {
		if slices.Contains(names, r.name) {
			out = append(out, r.name)
		}
	}
	return out
}

// shown returns the entries of one per-object member, sorted by key: one
// per object a scope names, at its highest level, and the recorded entries
// at exactly the account-wide level (merged into "*" at creation).
func (o *objectRoles) shown(objects map[string]level, wide level, hint []objectRole) []objectRole {
	recorded := map[string]string{}
	for _, e := range hint {
		recorded[e.Key] = e.Role
	}
	name := func(key string, l level) string {
		if r, ok := recorded[key]; ok && o.levels[r] == l {
			return r
		}
		return o.canonical[l]
	}
	out := []objectRole{}
	for key, l := range objects {
		out = append(out, objectRole{Key: key, Role: name(key, l)})
	}
	for key, r := range recorded {
		if _, named := objects[key]; !named && wide > none && o.levels[r] == wide {
			out = append(out, objectRole{Key: key, Role: r})
		}
	}
	slices.SortFunc(out, func(a, b objectRole) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (s *roleSet) equal(t *roleSet) bool {
	return slices.Equal(inEnumOrder(s.API), inEnumOrder(t.API)) && sameEntries(s.Corpus, t.Corpus) && sameEntries(s.Agent, t.Agent)
}

func sameEntries(a, b []objectRole) bool {
	sa, sb := slices.Clone(a), slices.Clone(b)
	for _, s := range [][]objectRole{sa, sb} {
		slices.SortFunc(s, func(x, y objectRole) int { return strings.Compare(x.Key, y.Key) })
	}
	return slices.Equal(sa, sb)
}

// hintMember is the metadata member that records the role names a key was
// created with, where they differ from what its scopes alone would show
// (owner rather than editor, say). It names, it never grants: the scopes
// are the key's permissions, and a name is shown only while it matches
// them.
const hintMember = "vectara_roles"

// maxHintBytes bounds the recorded names: beyond it (hundreds of
// non-canonical entries) none are kept and the canonical names are shown.
const maxHintBytes = 8 << 10

// hintJSON is the recorded form of a role set.
type hintJSON struct {
	APIRoles    []string         `json:"api_roles,omitempty"`
	CorpusRoles []corpusRoleView `json:"corpus_roles,omitempty"`
	AgentRoles  []agentRoleView  `json:"agent_roles,omitempty"`
}

// hintFor returns the metadata that records the requested names, or nil
// when the scopes alone show them (or they would take too much room).
func hintFor(requested *roleSet, scopes []keyward.Scope) map[string]json.RawMessage {
	if derived := rolesOf(scopes, nil); derived.equal(requested) {
		return nil
	}
	b, err := json.Marshal(viewOfRoles(requested).hint())
	if err != nil || len(b) > maxHintBytes {
		return nil
	}
	return map[string]json.RawMessage{hintMember: b}
}

// hintOf reads the recorded names of a key; anything unreadable (the
// member changed natively) is no hint.
func hintOf(k *keyward.Key) *roleSet {
	raw, ok := k.Metadata[hintMember]
	if !ok {
		return nil
	}
	var h hintJSON
	if json.Unmarshal(raw, &h) != nil {
		return nil
	}
	s := &roleSet{API: h.APIRoles}
	for _, e := range h.CorpusRoles {
		s.Corpus = append(s.Corpus, objectRole{Key: e.CorpusKey, Role: e.Role})
	}
	for _, e := range h.AgentRoles {
		s.Agent = append(s.Agent, objectRole{Key: e.AgentKey, Role: e.Role})
	}
	return s
}

// rolesView is a role set as the ApiKey object shows it: every member
// present, [] when empty.
type rolesView struct {
	APIRoles    []string
	CorpusRoles []corpusRoleView
	AgentRoles  []agentRoleView
}

func viewOfRoles(s *roleSet) rolesView {
	v := rolesView{APIRoles: inEnumOrder(s.API), CorpusRoles: []corpusRoleView{}, AgentRoles: []agentRoleView{}}
	for _, e := range s.Corpus {
		v.CorpusRoles = append(v.CorpusRoles, corpusRoleView{CorpusKey: e.Key, Role: e.Role})
	}
	for _, e := range s.Agent {
		v.AgentRoles = append(v.AgentRoles, agentRoleView{AgentKey: e.Key, Role: e.Role})
	}
	return v
}

func (v rolesView) hint() hintJSON {
	return hintJSON{APIRoles: v.APIRoles, CorpusRoles: v.CorpusRoles, AgentRoles: v.AgentRoles}
}
