package perm

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tokEOF tokKind = iota
	tokName
	tokAnd
	tokOr
	tokOpen
	tokClose
)

type token struct {
	kind tokKind
	text string
	pos  int // 1-based
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of query"
	case tokName:
		return fmt.Sprintf("name %q", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// lex splits s into tokens: parentheses, and words separated by spaces,
// tabs or newlines; a word is an operator or a name.
func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			k := tokOpen
			if c == ')' {
				k = tokClose
			}
			toks = append(toks, token{kind: k, text: string(c), pos: i + 1})
			i++
		case nameChar(c):
			j := i
			for j < len(s) && nameChar(s[j]) {
				j++
			}
			w := s[i:j]
			t := token{kind: tokName, text: w, pos: i + 1}
			switch {
			case strings.EqualFold(w, "and"):
				t.kind = tokAnd
			case strings.EqualFold(w, "or"):
				t.kind = tokOr
			case len(w) > MaxNameLength:
				return nil, fmt.Errorf("%w: name at position %d is longer than %d characters", ErrSyntax, i+1, MaxNameLength)
			}
			toks = append(toks, t)
			i = j
		default:
			return nil, fmt.Errorf("%w: character %q at position %d; names use A-Z a-z 0-9 . _ - : /", ErrSyntax, rune(c), i+1)
		}
	}
	return toks, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	end := 1
	if n := len(p.toks); n > 0 {
		end = p.toks[n-1].pos + len(p.toks[n-1].text)
	}
	return token{kind: tokEOF, pos: end}
}

func (p *parser) next() token { t := p.peek(); p.i++; return t }

func (p *parser) or() (node, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOr {
		p.next()
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = orNode{left, right}
	}
	return left, nil
}

func (p *parser) and() (node, error) {
	left, err := p.term()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokAnd {
		p.next()
		right, err := p.term()
		if err != nil {
			return nil, err
		}
		left = andNode{left, right}
	}
	return left, nil
}

func (p *parser) term() (node, error) {
	t := p.next()
	switch t.kind {
	case tokName:
		return nameNode(t.text), nil
	case tokOpen:
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokClose {
			return nil, fmt.Errorf("%w: expected \")\" to close the \"(\" at position %d, found %s at position %d", ErrSyntax, t.pos, c, c.pos)
		}
		return inner, nil
	default:
		return nil, fmt.Errorf("%w: expected a permission name or \"(\" at position %d, found %s", ErrSyntax, t.pos, t)
	}
}

// node is a parsed query's tree.
type node interface {
	eval(has func(string) bool) bool
	walk(fn func(string))
}

type nameNode string
type andNode struct{ l, r node }
type orNode struct{ l, r node }

func (n nameNode) eval(has func(string) bool) bool { return has(string(n)) }
func (n andNode) eval(has func(string) bool) bool  { return n.l.eval(has) && n.r.eval(has) }
func (n orNode) eval(has func(string) bool) bool   { return n.l.eval(has) || n.r.eval(has) }
func (n nameNode) walk(fn func(string))            { fn(string(n)) }
func (n andNode) walk(fn func(string))             { n.l.walk(fn); n.r.walk(fn) }
func (n orNode) walk(fn func(string))              { n.l.walk(fn); n.r.walk(fn) }
