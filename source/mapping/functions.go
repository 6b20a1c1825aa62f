package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// functions are the helpers a data team needs beyond CEL's standard library
// and ext.Strings: numbers written with a decimal comma, exact decimal
// scaling to integer units, local dates and times. See the package doc.
func functions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("decimal", decls.DisableTypeGuards(true),
			cel.Overload("decimal_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.DoubleType,
				cel.BinaryBinding(func(s, sep ref.Val) ref.Val {
					str, ok1 := s.(types.String)
					sp, ok2 := sep.(types.String)
					if !ok1 || !ok2 {
						return types.NoSuchOverloadErr()
					}
					f, err := parseDecimal(string(str), string(sp))
					if err != nil {
						return types.NewErr("decimal: %s", err)
					}
					return types.Double(f)
				}))),
		cel.Function("scaled", decls.DisableTypeGuards(true),
			cel.Overload("scaled_string_int", []*cel.Type{cel.StringType, cel.IntType}, cel.IntType,
				cel.BinaryBinding(func(s, scale ref.Val) ref.Val {
					return scaledVal(s, scale, types.String("."))
				})),
			cel.Overload("scaled_string_int_string", []*cel.Type{cel.StringType, cel.IntType, cel.StringType}, cel.IntType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return scaledVal(args[0], args[1], args[2])
				}))),
		cel.Function("date", decls.DisableTypeGuards(true),
			cel.Overload("date_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.TimestampType,
				cel.BinaryBinding(func(s, layout ref.Val) ref.Val {
					return dateVal(s, layout, types.String("UTC"))
				})),
			cel.Overload("date_string_string_string", []*cel.Type{cel.StringType, cel.StringType, cel.StringType}, cel.TimestampType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return dateVal(args[0], args[1], args[2])
				}))),
	}
}

func scaledVal(sv, scalev, sepv ref.Val) ref.Val {
	s, ok1 := sv.(types.String)
	scale, ok2 := scalev.(types.Int)
	sep, ok3 := sepv.(types.String)
	if !ok1 || !ok2 || !ok3 {
		return types.NoSuchOverloadErr()
	}
	n, err := parseScaled(string(s), int64(scale), string(sep))
	if err != nil {
		return types.NewErr("scaled: %s", err)
	}
	return types.Int(n)
}

func dateVal(sv, layoutv, zonev ref.Val) ref.Val {
	s, ok1 := sv.(types.String)
	layout, ok2 := layoutv.(types.String)
	zone, ok3 := zonev.(types.String)
	if !ok1 || !ok2 || !ok3 {
		return types.NoSuchOverloadErr()
	}
	l, err := compileLayout(string(layout), false)
	if err != nil {
		return types.NewErr("date: %s", err)
	}
	loc, err := location(string(zone), false)
	if err != nil {
		return types.NewErr("date: %s", err)
	}
	t, err := l.parse(string(s), loc)
	if err != nil {
		return types.NewErr("date: %s", err)
	}
	return types.Timestamp{Time: t}
}

// normalizeDecimal checks that s is a decimal number whose decimal
// separator is sep ("." or ","), and appends it to dst with "." as
// separator and without grouping (the other of "." and ",", spaces,
// no-break spaces, "'").
func normalizeDecimal(dst []byte, s, sep string) ([]byte, error) {
	if sep != "." && sep != "," {
		return nil, fmt.Errorf("the decimal separator must be \".\" or \",\", not %q", sep)
	}
	group := ','
	if sep == "," {
		group = '.'
	}
	digits, seenSep := 0, false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			dst = append(dst, byte(r))
			digits++
		case (r == '-' || r == '+') && i == 0:
			dst = append(dst, byte(r))
		case r == rune(sep[0]) && !seenSep:
			seenSep = true
			dst = append(dst, '.')
		case !seenSep && digits > 0 && (r == group || r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\''):
			// grouping between digits of the integer part
		default:
			return nil, errNotDecimal
		}
	}
	if digits == 0 {
		return nil, errNotDecimal
	}
	return dst, nil
}

var errNotDecimal = errors.New("not a decimal number")

func parseDecimal(s, sep string) (float64, error) {
	var buf [64]byte
	n, err := normalizeDecimal(buf[:0], s, sep)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", err, s)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, fmt.Errorf("out of range: %q", s)
	}
	return f, nil
}

// parseScaled returns the decimal number s times 10^scale as an integer,
// computed exactly and rounded half away from zero, so "19,99" with scale 6
// is 19990000 (float arithmetic gives 19989999.999999996).
func parseScaled(s string, scale int64, sep string) (int64, error) {
	if scale < 0 || scale > 18 {
		return 0, fmt.Errorf("scale %d is not within 0..18", scale)
	}
	var buf [64]byte
	n, err := normalizeDecimal(buf[:0], s, sep)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", err, s)
	}
	neg := false
	switch n[0] {
	case '-':
		neg = true
		n = n[1:]
	case '+':
		n = n[1:]
	}
	intPart, frac, _ := bytes.Cut(n, []byte("."))
	var v uint64
	over := false
	digit := func(d byte) {
		if v > (math.MaxUint64-9)/10 {
			over = true
			return
		}
		v = v*10 + uint64(d-'0')
	}
	for i := range len(intPart) {
		digit(intPart[i])
	}
	for i := range scale {
		if i < int64(len(frac)) {
			digit(frac[i])
		} else {
			digit('0')
		}
	}
	if scale < int64(len(frac)) && frac[scale] >= '5' {
		v++
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	if over || v > limit {
		return 0, fmt.Errorf("out of range: %q", s)
	}
	if neg {
		return int64(-v), nil //nolint:gosec // v <= 1<<63, checked above
	}
	return int64(v), nil
}

// A layout is a date/time layout such as "DD.MM.YYYY HH:mm", compiled.
type layout struct {
	parts []layoutPart
}

type layoutPart struct {
	field   byte // 'Y', 'M', 'D', 'H', 'm', 's', 'S'; 0 for literal text
	min     int  // digits
	max     int
	literal string
}

// layouts holds the layouts written as constants in declarations; one read
// from the data is parsed on every call rather than kept, so a file cannot
// grow the cache.
var layouts sync.Map // string → *layout

// compileLayout parses a layout: YYYY year, MM/M month, DD/D day, HH/H hour
// (0-23), mm minute, ss second, S... a fraction of a second (1 to 9 digits);
// any other character is literal. One-letter forms take 1 or 2 digits.
// keep caches it (Compile, for constants).
func compileLayout(s string, keep bool) (*layout, error) {
	if v, ok := layouts.Load(s); ok {
		return v.(*layout), nil
	}
	l, err := parseLayout(s)
	if err == nil && keep {
		layouts.Store(s, l)
	}
	return l, err
}

func parseLayout(s string) (*layout, error) {
	l := &layout{}
	seen := map[byte]bool{}
	for i := 0; i < len(s); {
		c := s[i]
		j := i
		for j < len(s) && s[j] == c {
			j++
		}
		n := j - i
		var p layoutPart
		switch {
		case c == 'Y' && n == 4:
			p = layoutPart{field: 'Y', min: 4, max: 4}
		case (c == 'M' || c == 'D' || c == 'H') && n <= 2:
			p = layoutPart{field: c, min: n, max: 2}
		case (c == 'm' || c == 's') && n == 2:
			p = layoutPart{field: c, min: 2, max: 2}
		case c == 'S' && n <= 9:
			p = layoutPart{field: 'S', min: 1, max: 9}
		case c == 'Y' || c == 'M' || c == 'D' || c == 'H' || c == 'm' || c == 's' || c == 'S':
			return nil, fmt.Errorf("layout %q: %s is not a layout element (YYYY, MM, M, DD, D, HH, H, mm, ss, S…)", s, s[i:j])
		default:
			l.parts = append(l.parts, layoutPart{literal: s[i:j]})
			i = j
			continue
		}
		if seen[p.field] {
			return nil, fmt.Errorf("layout %q: %s appears twice", s, s[i:j])
		}
		seen[p.field] = true
		l.parts = append(l.parts, p)
		i = j
	}
	if !seen['Y'] || !seen['M'] || !seen['D'] {
		return nil, fmt.Errorf("layout %q: needs a year (YYYY), a month (MM) and a day (DD)", s)
	}
	return l, nil
}

func (l *layout) parse(s string, loc *time.Location) (time.Time, error) {
	var v dateFields
	v['D'-'A'], v['M'-'A'] = 1, 1
	rest := s
	for _, p := range l.parts {
		if p.field == 0 {
			if !strings.HasPrefix(rest, p.literal) {
				return time.Time{}, fmt.Errorf("%q does not match the layout", s)
			}
			rest = rest[len(p.literal):]
			continue
		}
		n := 0
		for n < len(rest) && n < p.max && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n < p.min {
			return time.Time{}, fmt.Errorf("%q does not match the layout", s)
		}
		x, _ := strconv.Atoi(rest[:n])
		if p.field == 'S' {
			x *= int(math.Pow10(9 - n))
		}
		v[p.field-'A'] = x
		rest = rest[n:]
	}
	if rest != "" {
		return time.Time{}, fmt.Errorf("%q does not match the layout", s)
	}
	// time.Date normalizes 31.02 to 03.03: refuse what is not a real date.
	if v['M'-'A'] < 1 || v['M'-'A'] > 12 || v['D'-'A'] < 1 || v['D'-'A'] > time.Date(v['Y'-'A'], time.Month(v['M'-'A'])+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		v['H'-'A'] > 23 || v['m'-'A'] > 59 || v['s'-'A'] > 59 {
		return time.Time{}, fmt.Errorf("%q is not a valid date and time", s)
	}
	t := time.Date(v['Y'-'A'], time.Month(v['M'-'A']), v['D'-'A'], v['H'-'A'], v['m'-'A'], v['s'-'A'], v['S'-'A'], loc)
	return t, nil
}

// dateFields holds a date's fields, indexed by layout letter - 'A'.
type dateFields ['s' - 'A' + 1]int

// zones holds the time zones written as constants in declarations (and
// UTC): time.LoadLocation reads the zone database on every call.
var zones sync.Map // name → *time.Location

// location loads a time zone; keep caches it (Compile, for constants).
func location(name string, keep bool) (*time.Location, error) {
	if v, ok := zones.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "UTC" {
		zones.Store(name, time.UTC)
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q (an IANA name such as Europe/Berlin, or UTC)", name)
	}
	if keep {
		zones.Store(name, loc)
	}
	return loc, nil
}
