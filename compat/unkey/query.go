package unkey

import (
	"fmt"
	"strings"

	"github.com/keyward/keyward"
)

// Unkey's permission query language (verifyKey.permissions): permission
// slugs joined by AND and OR (AND binds tighter), grouped with
// parentheses: `a.read AND (b.write OR c.admin)`. It is read here and
// written as keyward's query with the same structure: a slug that names a
// permission (a catalog resource) becomes resource:read, which a key
// holding the resource at any level passes; a slug with a ':' is already
// keyward's atom (resource:access or resource:access:target).

// Bounds of a query: longer or deeper ones are a 400.
const (
	maxQueryLen   = 1000
	maxQueryDepth = 16
)

// queryError is a 400 on verifyKey.permissions saying where the query
// breaks.
func queryError(format string, args ...any) error {
	e := keyward.Errorf(keyward.ECodeInvalidPermission, "invalid permission query: "+format, args...)
	e.Fields = []keyward.FieldError{{Field: "permissions", Message: e.Message}}
	return e
}

// translateQuery checks an Unkey permission query and returns keyward's.
func translateQuery(q string) (string, error) {
	if len(q) > maxQueryLen {
		return "", queryError("the query is longer than %d characters", maxQueryLen)
	}
	p := &uparser{toks: lex(q)}
	if len(p.toks) == 0 {
		return "", queryError("the query is empty")
	}
	if err := p.expr(0); err != nil {
		return "", err
	}
	if p.i < len(p.toks) {
		return "", queryError("unexpected %s at position %d", p.toks[p.i].describe(), p.toks[p.i].pos+1)
	}
	return strings.Join(p.out, " "), nil
}

// utoken is one token of a query: "(", ")", AND, OR or a slug.
type utoken struct {
	text string
	pos  int
}

func (t utoken) describe() string { return fmt.Sprintf("%q", t.text) }

func (t utoken) is(word string) bool { return strings.EqualFold(t.text, word) }

func (t utoken) slug() bool {
	return t.text != "(" && t.text != ")" && !t.is("AND") && !t.is("OR")
}

func lex(q string) []utoken {
	var out []utoken
	for i := 0; i < len(q); {
		switch c := q[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			out = append(out, utoken{text: q[i : i+1], pos: i})
			i++
		default:
			start := i
			for i < len(q) && !strings.ContainsRune(" \t\n\r()", rune(q[i])) {
				i++
			}
			out = append(out, utoken{text: q[start:i], pos: start})
		}
	}
	return out
}

// uparser is a recursive-descent parser of the grammar
//
//	expr   := term (OR term)*
//	term   := factor (AND factor)*
//	factor := slug | "(" expr ")"
//
// writing keyward's query as it goes.
type uparser struct {
	toks []utoken
	i    int
	out  []string
}

func (p *uparser) peek() (utoken, bool) {
	if p.i >= len(p.toks) {
		return utoken{}, false
	}
	return p.toks[p.i], true
}

func (p *uparser) expr(depth int) error {
	if depth > maxQueryDepth {
		return queryError("parentheses are nested deeper than %d", maxQueryDepth)
	}
	return p.list(depth, "OR", p.term)
}

func (p *uparser) term(depth int) error { return p.list(depth, "AND", p.factor) }

// list parses operands separated by op (expr's OR, term's AND), each with
// operand.
func (p *uparser) list(depth int, op string, operand func(depth int) error) error {
	if err := operand(depth); err != nil {
		return err
	}
	for t, ok := p.peek(); ok && t.is(op); t, ok = p.peek() {
		p.i++
		p.out = append(p.out, op)
		if err := operand(depth); err != nil {
			return err
		}
	}
	return nil
}

func (p *uparser) factor(depth int) error {
	t, ok := p.peek()
	switch {
	case !ok:
		return queryError("expected a permission or '(' at the end of the query")
	case t.text == "(":
		p.i++
		p.out = append(p.out, "(")
		if err := p.expr(depth + 1); err != nil {
			return err
		}
		if c, ok := p.peek(); !ok || c.text != ")" {
			if !ok {
				return queryError("expected ')' at the end of the query")
			}
			return queryError("expected ')' at position %d, found %s", c.pos+1, c.describe())
		}
		p.i++
		p.out = append(p.out, ")")
		return nil
	case !t.slug():
		return queryError("expected a permission or '(' at position %d, found %s", t.pos+1, t.describe())
	}
	if len(t.text) > maxSlugLen || !slugPattern.MatchString(t.text) {
		return queryError("%q at position %d is not a permission slug (letters, digits, _ : - . *)", t.text, t.pos+1)
	}
	p.i++
	if strings.Contains(t.text, ":") {
		p.out = append(p.out, t.text)
	} else {
		p.out = append(p.out, t.text+":"+string(keyward.AccessRead))
	}
	return nil
}
