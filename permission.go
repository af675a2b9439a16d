package keyward

import (
	"fmt"
	"sort"
	"strings"
)

// Limits of a permission query; a query beyond them is malformed.
const (
	MaxQueryLen   = 4096
	MaxQueryAtoms = 128
	MaxQueryDepth = 32
)

// Query is a parsed permission check (docs/permissions.md): atoms resource:access or
// resource:access:target combined with AND, OR and parentheses. AND binds
// tighter than OR; the keywords are case-insensitive.
type Query struct {
	text  string
	nodes []qnode
	root  int
}

type qnode struct {
	op       byte // 'a' atom, '&' and, '|' or
	l, r     int
	resource string
	access   Access
	target   string
}

// Checker answers one atom of a query.
type Checker interface {
	Allows(resource string, access Access, target string) bool
}

// String returns the query as it was written.
func (q *Query) String() string { return q.text }

// Eval reports whether c allows the query.
func (q *Query) Eval(c Checker) bool { return q.eval(q.root, c) }

func (q *Query) eval(i int, c Checker) bool {
	n := &q.nodes[i]
	switch n.op {
	case '&':
		return q.eval(n.l, c) && q.eval(n.r, c)
	case '|':
		return q.eval(n.l, c) || q.eval(n.r, c)
	default:
		return c.Allows(n.resource, n.access, n.target)
	}
}

// atoms returns the atoms of the query in order of appearance, as text.
func (q *Query) atoms() []string {
	var out []string
	for _, n := range q.nodes {
		if n.op == 'a' {
			s := n.resource + ":" + string(n.access)
			if n.target != "" {
				s += ":" + n.target
			}
			out = append(out, s)
		}
	}
	return out
}

// ParseQuery parses a permission query. The error is an *Error with code
// invalid_permission_query saying where the query breaks.
func ParseQuery(s string) (*Query, error) {
	if len(s) > MaxQueryLen {
		return nil, queryErr("the query is longer than %d characters", MaxQueryLen)
	}
	p := &queryParser{src: s, q: &Query{text: s}}
	p.next()
	if p.tok.kind == tokEOF {
		return nil, queryErr("the query is empty")
	}
	root, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, queryErr("unexpected %s at position %d", p.tok.describe(), p.tok.pos+1)
	}
	p.q.root = root
	return p.q, nil
}

func queryErr(format string, args ...any) *Error {
	e := Errorf(ECodeInvalidPermission, "invalid permission query: "+format, args...)
	e.Fields = []FieldError{{Field: "permissions", Message: e.Message}}
	return e
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokAtom
	tokAnd
	tokOr
	tokLParen
	tokRParen
	tokBad
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokAnd:
		return "AND"
	case tokOr:
		return "OR"
	case tokLParen:
		return "'('"
	case tokRParen:
		return "')'"
	}
	return fmt.Sprintf("%q", t.text)
}

type queryParser struct {
	src   string
	pos   int
	tok   token
	q     *Query
	atoms int
}

func (p *queryParser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF, pos: start}
		return
	}
	switch p.src[p.pos] {
	case '(':
		p.pos++
		p.tok = token{kind: tokLParen, text: "(", pos: start}
		return
	case ')':
		p.pos++
		p.tok = token{kind: tokRParen, text: ")", pos: start}
		return
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(' || c == ')' {
			break
		}
		p.pos++
	}
	text := p.src[start:p.pos]
	switch {
	case strings.EqualFold(text, "and"):
		p.tok = token{kind: tokAnd, text: text, pos: start}
	case strings.EqualFold(text, "or"):
		p.tok = token{kind: tokOr, text: text, pos: start}
	default:
		p.tok = token{kind: tokAtom, text: text, pos: start}
	}
}

func (p *queryParser) add(n qnode) int {
	p.q.nodes = append(p.q.nodes, n)
	return len(p.q.nodes) - 1
}

// expr := term (OR term)*
func (p *queryParser) expr(depth int) (int, error) {
	if depth > MaxQueryDepth {
		return 0, queryErr("parentheses are nested deeper than %d", MaxQueryDepth)
	}
	return p.chain(depth, tokOr, '|', p.term)
}

// term := factor (AND factor)*
func (p *queryParser) term(depth int) (int, error) {
	return p.chain(depth, tokAnd, '&', p.factor)
}

// chain := operand (op operand)*, as a left-leaning tree of nodes op.
func (p *queryParser) chain(depth int, op tokKind, node byte, operand func(depth int) (int, error)) (int, error) {
	left, err := operand(depth)
	if err != nil {
		return 0, err
	}
	for p.tok.kind == op {
		p.next()
		right, err := operand(depth)
		if err != nil {
			return 0, err
		}
		left = p.add(qnode{op: node, l: left, r: right})
	}
	return left, nil
}

// factor := atom | '(' expr ')'
func (p *queryParser) factor(depth int) (int, error) {
	switch p.tok.kind {
	case tokLParen:
		p.next()
		n, err := p.expr(depth + 1)
		if err != nil {
			return 0, err
		}
		if p.tok.kind != tokRParen {
			return 0, queryErr("expected ')' at position %d, found %s", p.tok.pos+1, p.tok.describe())
		}
		p.next()
		return n, nil
	case tokAtom:
		n, err := p.atom(p.tok)
		if err != nil {
			return 0, err
		}
		p.next()
		return n, nil
	}
	return 0, queryErr("expected a permission or '(' at position %d, found %s", p.tok.pos+1, p.tok.describe())
}

func (p *queryParser) atom(t token) (int, error) {
	p.atoms++
	if p.atoms > MaxQueryAtoms {
		return 0, queryErr("more than %d permissions in one query", MaxQueryAtoms)
	}
	parts := strings.SplitN(t.text, ":", 3)
	if len(parts) < 2 {
		return 0, queryErr("%q at position %d is not resource:access or resource:access:target", t.text, t.pos+1)
	}
	if !ValidResourceID(parts[0]) {
		return 0, queryErr("%q at position %d: %q is not a resource id", t.text, t.pos+1, parts[0])
	}
	a := Access(parts[1])
	if a != AccessRead && a != AccessWrite {
		return 0, queryErr("%q at position %d: access must be read or write", t.text, t.pos+1)
	}
	n := qnode{op: 'a', resource: parts[0], access: a}
	if len(parts) == 3 {
		if parts[2] != Wildcard && !ValidTarget(parts[2]) {
			return 0, queryErr("%q at position %d: %q is not a valid target", t.text, t.pos+1, parts[2])
		}
		n.target = parts[2]
	}
	return p.add(n), nil
}

// MaxTargetLen bounds one target id.
const MaxTargetLen = 128

// ValidTarget reports whether t can be a target object id: 1–128 characters
// of letters, digits and _ . - = @ / + ~ (no spaces, colons or parentheses,
// which the query language uses).
func ValidTarget(t string) bool {
	if len(t) == 0 || len(t) > MaxTargetLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(isBase62(c) || strings.IndexByte("_.-=@/+~", c) >= 0) {
			return false
		}
	}
	return true
}

// Grants is a set of scopes indexed for permission checks.
type Grants struct {
	res map[string]*resourceGrant
}

type resourceGrant struct {
	read, write targets
}

// targets are the objects a grant reaches: every one (all), or a set.
type targets struct {
	all bool
	set map[string]struct{}
}

func (ts *targets) add(t string) {
	if t == Wildcard {
		ts.all = true
		return
	}
	if ts.set == nil {
		ts.set = map[string]struct{}{}
	}
	ts.set[t] = struct{}{}
}

// NewGrants indexes scopes. A write scope also grants read on its targets.
func NewGrants(scopes []Scope) *Grants {
	g := &Grants{res: make(map[string]*resourceGrant, len(scopes))}
	for _, s := range scopes {
		rg := g.res[s.Resource]
		if rg == nil {
			rg = &resourceGrant{}
			g.res[s.Resource] = rg
		}
		for _, t := range s.Targets {
			if s.Access == AccessWrite {
				rg.write.add(t)
			}
			if s.Access == AccessRead || s.Access == AccessWrite {
				rg.read.add(t)
			}
		}
	}
	return g
}

// Allows reports whether the grants satisfy one atom. Without a target, any
// scope on the resource at the level suffices (the caller filters objects by
// the returned scopes); with one, a scope whose targets hold "*" or that
// target is needed. The target "*" needs a wildcard scope.
func (g *Grants) Allows(resource string, access Access, target string) bool {
	rg := g.res[resource]
	if rg == nil {
		return false
	}
	ts := rg.read
	if access == AccessWrite {
		ts = rg.write
	} else if access != AccessRead {
		return false
	}
	if ts.all {
		return true
	}
	if target == "" {
		return len(ts.set) > 0
	}
	_, ok := ts.set[target]
	return ok
}

// EffectiveScopes returns what an API key may do, given the account's
// catalog and the scopes of the key's roles: in mode all, every
// non-protected resource at its highest level; in read_only, every
// non-protected readable resource at read; in restricted, the key's scopes
// and its roles'. Resources a single-project key may not hold, protected
// resources and resources no longer in the catalog are left out. The result
// is sorted by resource, then access.
func EffectiveScopes(k *Key, cat Catalog, roleScopes []Scope) []Scope {
	single := k.ProjectID != nil
	usable := func(r *Resource) bool {
		return r != nil && !r.Protected && (!single || r.AllowsSingleProject())
	}
	var out []Scope
	switch k.PermissionMode {
	case ModeAll, ModeReadOnly:
		for _, r := range cat {
			if !usable(r) {
				continue
			}
			switch {
			case k.PermissionMode == ModeAll && r.Writable:
				out = append(out, Scope{Resource: r.ID, Access: AccessWrite, Targets: []string{Wildcard}})
			case r.Readable:
				out = append(out, Scope{Resource: r.ID, Access: AccessRead, Targets: []string{Wildcard}})
			}
		}
	case ModeRestricted:
		for _, list := range [][]Scope{k.Scopes, roleScopes} {
			for _, s := range list {
				if r := cat[s.Resource]; usable(r) && r.Supports(s.Access) {
					out = append(out, Scope{Resource: s.Resource, Access: s.Access, Targets: cloneSlice(s.Targets)})
				}
			}
		}
	}
	sortScopes(out)
	if out == nil {
		out = []Scope{}
	}
	return out
}

// IntersectScopes returns what both scope lists grant: the power of a key
// bounded by its owner's roles. A write scope on both sides stays write; a
// write scope on one side and read on the other becomes read. Targets
// intersect ("*" meets anything as that thing). The result is sorted like
// EffectiveScopes.
func IntersectScopes(a, b []Scope) []Scope {
	ga, gb := NewGrants(a), NewGrants(b)
	var out []Scope
	for res, ra := range ga.res {
		rb := gb.res[res]
		if rb == nil {
			continue
		}
		w, r := meet(ra.write, rb.write), meet(ra.read, rb.read)
		if w.all || len(w.set) > 0 {
			out = append(out, Scope{Resource: res, Access: AccessWrite, Targets: w.list()})
		}
		// Read adds something only beyond what write already grants.
		if !w.all && (r.all || len(r.set) > len(w.set)) {
			out = append(out, Scope{Resource: res, Access: AccessRead, Targets: r.list()})
		}
	}
	sortScopes(out)
	if out == nil {
		out = []Scope{}
	}
	return out
}

// meet intersects two target sets, each either every object (all) or a set.
func meet(a, b targets) targets {
	switch {
	case a.all && b.all:
		return targets{all: true}
	case a.all:
		return targets{set: b.set}
	case b.all:
		return targets{set: a.set}
	}
	out := map[string]struct{}{}
	for t := range a.set {
		if _, ok := b.set[t]; ok {
			out[t] = struct{}{}
		}
	}
	return targets{set: out}
}

// list is the targets of a scope that grants ts, sorted.
func (ts targets) list() []string {
	if ts.all {
		return []string{Wildcard}
	}
	out := make([]string, 0, len(ts.set))
	for t := range ts.set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func sortScopes(s []Scope) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Resource != s[j].Resource {
			return s[i].Resource < s[j].Resource
		}
		return s[i].Access < s[j].Access
	})
}
