package bigquerytest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the lexical class of a GoogleSQL token.
type tokKind int

const (
	tokIdent      tokKind = iota // unquoted name or keyword
	tokQuoted                    // `backquoted name`
	tokString                    // string literal, decoded
	tokBytes                     // bytes literal, decoded
	tokNumber                    // numeric literal
	tokParam                     // @name
	tokPositional                // ?
	tokOp                        // punctuation and operators
)

// token is one lexical token of a query. text is the decoded value for
// quoted names and literals, the source text otherwise; pos is its byte
// offset in the query, for BigQuery's [line:column] positions.
type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) is(kw string) bool { return t.kind == tokIdent && strings.EqualFold(t.text, kw) }
func (t token) op(s string) bool  { return t.kind == tokOp && t.text == s }

// lineCol renders a byte offset as BigQuery's 1-based [line:column].
func lineCol(q string, pos int) string {
	line, col := 1, 1
	for i, r := range q {
		if i >= pos {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("[%d:%d]", line, col)
}

// lex splits a GoogleSQL query into tokens, dropping comments (--, # and
// /* */). Errors are BigQuery syntax errors.
func lex(q string) ([]token, *apiError) {
	var out []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(q[i:], "--")):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, errInvalidQuery("Syntax error: Unclosed comment at %s", lineCol(q, i))
			}
			i += end + 4
		case c == '`':
			end := strings.IndexByte(q[i+1:], '`')
			if end < 0 {
				return nil, errInvalidQuery("Syntax error: Unclosed identifier literal at %s", lineCol(q, i))
			}
			out = append(out, token{kind: tokQuoted, text: q[i+1 : i+1+end], pos: i})
			i += end + 2
		case stringStart(q[i:]):
			t, n, err := lexString(q, i)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			i += n
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9'):
			j := i
			for j < len(q) && (isDigit(q[j]) || q[j] == '.' || q[j]|0x20 == 'e' || q[j]|0x20 == 'x' ||
				((q[j] == '+' || q[j] == '-') && q[j-1]|0x20 == 'e') || (q[j]|0x20 >= 'a' && q[j]|0x20 <= 'f' && strings.HasPrefix(strings.ToLower(q[i:]), "0x"))) {
				j++
			}
			out = append(out, token{kind: tokNumber, text: q[i:j], pos: i})
			i = j
		case c == '@':
			if strings.HasPrefix(q[i:], "@@") {
				return nil, errInvalidQuery("bigquerytest: unsupported: system variables (@@) at %s", lineCol(q, i))
			}
			j := i + 1
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			if j == i+1 {
				return nil, errInvalidQuery("Syntax error: Unexpected \"@\" at %s", lineCol(q, i))
			}
			out = append(out, token{kind: tokParam, text: q[i+1 : j], pos: i})
			i = j
		case c == '?':
			out = append(out, token{kind: tokPositional, text: "?", pos: i})
			i++
		case isIdentByte(c) || c >= utf8.RuneSelf:
			j := i
			for j < len(q) {
				r, n := utf8.DecodeRuneInString(q[j:])
				if !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
					break
				}
				j += n
			}
			if j == i {
				return nil, errInvalidQuery("Syntax error: Illegal input character %q at %s", q[i:i+1], lineCol(q, i))
			}
			out = append(out, token{kind: tokIdent, text: q[i:j], pos: i})
			i = j
		default:
			for _, op := range []string{"<=", ">=", "<>", "!=", "||", "<<", ">>", "=>"} {
				if strings.HasPrefix(q[i:], op) {
					out = append(out, token{kind: tokOp, text: op, pos: i})
					i += 2
					goto next
				}
			}
			if !strings.ContainsRune("(),.;*+-/<>=[]{}:%&|^~", rune(c)) {
				return nil, errInvalidQuery("Syntax error: Illegal input character %q at %s", q[i:i+1], lineCol(q, i))
			}
			out = append(out, token{kind: tokOp, text: q[i : i+1], pos: i})
			i++
		next:
		}
	}
	return out, nil
}

// stringStart reports whether s starts a string or bytes literal: a quote
// after at most two r/b prefix letters.
func stringStart(s string) bool {
	seen := byte(0)
	for i := 0; i < len(s) && i <= 2; i++ {
		c := s[i]
		if c == '\'' || c == '"' {
			return true
		}
		l := c | 0x20
		if i == 2 || (l != 'r' && l != 'b') || l == seen {
			return false
		}
		seen = l
	}
	return false
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isIdentByte(c byte) bool { return c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' || isDigit(c) }

// lexString reads a string or bytes literal with optional r/b prefixes,
// single, double or triple quoted, and decodes its escapes.
func lexString(q string, start int) (token, int, *apiError) {
	i := start
	raw, bytes := false, false
	for q[i] != '\'' && q[i] != '"' {
		switch q[i] | 0x20 {
		case 'r':
			raw = true
		case 'b':
			bytes = true
		}
		i++
	}
	quote := q[i : i+1]
	if strings.HasPrefix(q[i:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	i += len(quote)
	var b strings.Builder
	for {
		if i >= len(q) {
			return token{}, 0, errInvalidQuery("Syntax error: Unclosed string literal at %s", lineCol(q, start))
		}
		if strings.HasPrefix(q[i:], quote) {
			i += len(quote)
			break
		}
		c := q[i]
		if c == '\n' && len(quote) == 1 {
			return token{}, 0, errInvalidQuery("Syntax error: Unclosed string literal at %s", lineCol(q, start))
		}
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(q) {
			return token{}, 0, errInvalidQuery("Syntax error: Unclosed string literal at %s", lineCol(q, start))
		}
		if raw {
			b.WriteString(q[i : i+2])
			i += 2
			continue
		}
		e := q[i+1]
		i += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"', '`', '?':
			b.WriteByte(e)
		case 'x', 'X':
			if i+2 > len(q) {
				return token{}, 0, errInvalidQuery("Syntax error: Illegal escape sequence at %s", lineCol(q, i-2))
			}
			n, err := strconv.ParseUint(q[i:i+2], 16, 8)
			if err != nil {
				return token{}, 0, errInvalidQuery("Syntax error: Illegal escape sequence: \\x%s at %s", q[i:i+2], lineCol(q, i-2))
			}
			b.WriteByte(byte(n))
			i += 2
		case 'u', 'U':
			w := 4
			if e == 'U' {
				w = 8
			}
			if i+w > len(q) {
				return token{}, 0, errInvalidQuery("Syntax error: Illegal escape sequence at %s", lineCol(q, i-2))
			}
			n, err := strconv.ParseUint(q[i:i+w], 16, 32)
			if err != nil {
				return token{}, 0, errInvalidQuery("Syntax error: Illegal escape sequence at %s", lineCol(q, i-2))
			}
			b.WriteRune(rune(n))
			i += w
		default:
			if e >= '0' && e <= '7' && i+1 < len(q) {
				n, err := strconv.ParseUint(q[i-1:i+2], 8, 8)
				if err == nil {
					b.WriteByte(byte(n))
					i++
					continue
				}
			}
			return token{}, 0, errInvalidQuery("Syntax error: Illegal escape sequence: \\%c at %s", e, lineCol(q, i-2))
		}
	}
	kind := tokString
	if bytes {
		kind = tokBytes
	} else if !utf8.ValidString(b.String()) {
		return token{}, 0, errInvalidQuery("Syntax error: String literal is not valid UTF-8 at %s", lineCol(q, start))
	}
	return token{kind: kind, text: b.String(), pos: start}, i - start, nil
}
