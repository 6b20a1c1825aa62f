package mapping

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// functions are the helpers a data team needs beyond CEL's standard library
// and ext.Strings: numbers written with a decimal comma, exact decimal
// scaling to integer units, local dates and times. See the package doc.
func functions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("decimal",
			cel.Overload("decimal_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.DoubleType,
				cel.BinaryBinding(func(s, sep ref.Val) ref.Val {
					f, err := parseDecimal(string(s.(types.String)), string(sep.(types.String)))
					if err != nil {
						return types.NewErr("decimal: %s", err)
					}
					return types.Double(f)
				}))),
		cel.Function("scaled",
			cel.Overload("scaled_string_int", []*cel.Type{cel.StringType, cel.IntType}, cel.IntType,
				cel.BinaryBinding(func(s, scale ref.Val) ref.Val {
					return scaledVal(string(s.(types.String)), int64(scale.(types.Int)), ".")
				})),
			cel.Overload("scaled_string_int_string", []*cel.Type{cel.StringType, cel.IntType, cel.StringType}, cel.IntType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return scaledVal(string(args[0].(types.String)), int64(args[1].(types.Int)), string(args[2].(types.String)))
				}))),
		cel.Function("date",
			cel.Overload("date_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.TimestampType,
				cel.BinaryBinding(func(s, layout ref.Val) ref.Val {
					return dateVal(string(s.(types.String)), string(layout.(types.String)), "UTC")
				})),
			cel.Overload("date_string_string_string", []*cel.Type{cel.StringType, cel.StringType, cel.StringType}, cel.TimestampType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					return dateVal(string(args[0].(types.String)), string(args[1].(types.String)), string(args[2].(types.String)))
				}))),
	}
}

func scaledVal(s string, scale int64, sep string) ref.Val {
	n, err := parseScaled(s, scale, sep)
	if err != nil {
		return types.NewErr("scaled: %s", err)
	}
	return types.Int(n)
}

func dateVal(s, layout, zone string) ref.Val {
	l, err := compileLayout(layout)
	if err != nil {
		return types.NewErr("date: %s", err)
	}
	loc, err := location(zone)
	if err != nil {
		return types.NewErr("date: %s", err)
	}
	t, err := l.parse(s, loc)
	if err != nil {
		return types.NewErr("date: %s", err)
	}
	return types.Timestamp{Time: t}
}

// normalizeDecimal checks that s is a decimal number whose decimal
// separator is sep ("." or ","), and returns it with "." as separator and
// without grouping (the other of "." and ",", spaces, no-break spaces, "'").
func normalizeDecimal(s, sep string) (string, error) {
	if sep != "." && sep != "," {
		return "", fmt.Errorf("the decimal separator must be \".\" or \",\", not %q", sep)
	}
	group := byte(',')
	if sep == "," {
		group = '.'
	}
	var b strings.Builder
	b.Grow(len(s))
	digits, seenSep := 0, false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case (r == '-' || r == '+') && i == 0:
			b.WriteRune(r)
		case r == rune(sep[0]) && !seenSep:
			seenSep = true
			b.WriteByte('.')
		case !seenSep && digits > 0 && (r == rune(group) || r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\''):
			// grouping between digits of the integer part
		default:
			return "", errNotDecimal
		}
	}
	if digits == 0 {
		return "", errNotDecimal
	}
	return b.String(), nil
}

var errNotDecimal = errors.New("not a decimal number")

func parseDecimal(s, sep string) (float64, error) {
	n, err := normalizeDecimal(s, sep)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", err, s)
	}
	f, err := strconv.ParseFloat(n, 64)
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
	n, err := normalizeDecimal(s, sep)
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
	intPart, frac, _ := strings.Cut(n, ".")
	var keep, rest string
	if int64(len(frac)) > scale {
		keep, rest = frac[:scale], frac[scale:]
	} else {
		keep = frac + strings.Repeat("0", int(scale)-len(frac))
	}
	digits := strings.TrimLeft(intPart+keep, "0")
	v := new(big.Int)
	if digits != "" {
		v.SetString(digits, 10)
	}
	if rest != "" && rest[0] >= '5' {
		v.Add(v, big.NewInt(1))
	}
	if neg {
		v.Neg(v)
	}
	if !v.IsInt64() {
		return 0, fmt.Errorf("out of range: %q", s)
	}
	return v.Int64(), nil
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

var layouts sync.Map // string → *layout or error

// compileLayout parses a layout: YYYY year, MM/M month, DD/D day, HH/H hour
// (0-23), mm minute, ss second, S... a fraction of a second (1 to 9 digits);
// any other character is literal. One-letter forms take 1 or 2 digits.
func compileLayout(s string) (*layout, error) {
	if v, ok := layouts.Load(s); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*layout), nil
	}
	l, err := parseLayout(s)
	if err != nil {
		layouts.Store(s, err)
		return nil, err
	}
	layouts.Store(s, l)
	return l, nil
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
	var v [128]int
	v['D'], v['M'] = 1, 1
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
		v[p.field] = x
		rest = rest[n:]
	}
	if rest != "" {
		return time.Time{}, fmt.Errorf("%q does not match the layout", s)
	}
	// time.Date normalizes 31.02 to 03.03: refuse what is not a real date.
	if v['M'] < 1 || v['M'] > 12 || v['D'] < 1 || v['D'] > time.Date(v['Y'], time.Month(v['M'])+1, 0, 0, 0, 0, 0, time.UTC).Day() ||
		v['H'] > 23 || v['m'] > 59 || v['s'] > 59 {
		return time.Time{}, fmt.Errorf("%q is not a valid date and time", s)
	}
	t := time.Date(v['Y'], time.Month(v['M']), v['D'], v['H'], v['m'], v['s'], v['S'], loc)
	return t, nil
}

var zones sync.Map // name → *time.Location or error

// location loads a time zone once: time.LoadLocation reads the zone
// database on every call.
func location(name string) (*time.Location, error) {
	if v, ok := zones.Load(name); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "" || name == "Local" {
		err = fmt.Errorf("unknown time zone %q (an IANA name such as Europe/Berlin, or UTC)", name)
		zones.Store(name, err)
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}
