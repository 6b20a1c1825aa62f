package bigquerytest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/wire"
)

// decodeRow turns one serialized row into column values. Any error makes
// the row (and with it the whole request) fail.
func (p *recordPlan) decodeRow(b []byte) (map[string]any, error) {
	msg := dynamicpb.NewMessage(p.desc)
	// Proto2 required fields are checked: BigQuery parses rows with them.
	if err := wire.Unmarshal(proto.UnmarshalOptions{}, b, msg); err != nil {
		if !p.lenient {
			return nil, fmt.Errorf("Could not parse the serialized row: %w", err) //nolint:staticcheck // BigQuery's wording.
		}
		// A lenient server keeps the fields that parse, one at a time.
		msg = dynamicpb.NewMessage(p.desc)
		for len(b) > 0 {
			_, _, n := protowire.ConsumeField(b)
			if n < 0 {
				break
			}
			_ = proto.UnmarshalOptions{Merge: true, AllowPartial: true}.Unmarshal(b[:n], msg)
			b = b[n:]
		}
	}
	return p.decode(msg.ProtoReflect())
}

func (p *recordPlan) decode(m protoreflect.Message) (map[string]any, error) {
	// Stricter than BigQuery, which may drop them: fields the writer schema
	// does not declare are data the table would silently lose.
	if len(m.GetUnknown()) > 0 && !p.lenient {
		return nil, errUnknownFields
	}
	out := make(map[string]any, len(p.columns))
	for _, c := range p.columns {
		if c.repeated() {
			out[c.Name] = []any{}
		} else {
			out[c.Name] = nil
		}
	}
	for _, fp := range p.matched {
		v, err := fp.value(m)
		if err != nil {
			return nil, err
		}
		out[fp.col.Name] = v
	}
	return out, nil
}

func (fp *fieldPlan) value(m protoreflect.Message) (any, error) {
	if fp.fd.Cardinality() == protoreflect.Repeated {
		list := m.Get(fp.fd).List()
		out := make([]any, list.Len())
		for i := range list.Len() {
			v, err := fp.convert(list.Get(i))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	var v any
	switch {
	case m.Has(fp.fd):
		var err error
		if v, err = fp.convert(m.Get(fp.fd)); err != nil {
			return nil, err
		}
	case fp.fd.HasDefault():
		// An explicit default stands for an unset field: it is how
		// adapt.NormalizeDescriptor carries proto3 implicit presence.
		var err error
		if v, err = fp.convert(fp.fd.Default()); err != nil {
			return nil, err
		}
	}
	if v == nil && fp.col.Mode == modeRequired {
		return nil, fmt.Errorf("Missing required field: %s.", fp.path) //nolint:staticcheck // BigQuery's wording.
	}
	return v, nil
}

func (fp *fieldPlan) convert(v protoreflect.Value) (any, error) {
	out, err := convertValue(fp, v)
	if err != nil {
		return nil, fmt.Errorf("Field %s: %w", fp.path, err) //nolint:staticcheck // BigQuery's wording.
	}
	return out, nil
}

// Limits of BigQuery's TIMESTAMP and DATE types.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

func convertValue(fp *fieldPlan, v protoreflect.Value) (any, error) {
	kind := fp.fd.Kind()
	switch fp.col.Type {
	case typeRecord:
		return fp.sub.decode(v.Message())
	case typeString:
		if kind == protoreflect.EnumKind {
			return enumName(fp.fd, v)
		}
		return validString(v.String())
	case typeBytes:
		return append([]byte{}, v.Bytes()...), nil
	case typeInteger:
		if kind == protoreflect.EnumKind {
			return int64(v.Enum()), nil
		}
		if isUnsigned(kind) {
			return int64(v.Uint()), nil // only 32-bit unsigned kinds are compatible
		}
		return v.Int(), nil
	case typeFloat:
		return v.Float(), nil
	case typeBoolean:
		switch {
		case kind == protoreflect.BoolKind:
			return v.Bool(), nil
		case isUnsigned(kind):
			return v.Uint() != 0, nil
		default:
			return v.Int() != 0, nil
		}
	case typeTimestamp:
		if kind == protoreflect.StringKind {
			return parseTimestamp(v.String())
		}
		return timestampMicros(v.Int())
	case typeDate:
		if kind == protoreflect.StringKind {
			return parseDate(v.String())
		}
		return dateDays(v.Int())
	case typeTime:
		if kind == protoreflect.StringKind {
			t, err := civil.ParseTime(v.String())
			if err != nil || !t.IsValid() {
				return nil, fmt.Errorf("invalid TIME %q", v.String())
			}
			return formatTime(t), nil
		}
		return packedTime(v.Int())
	case typeDatetime:
		if kind == protoreflect.StringKind {
			return parseDatetime(v.String())
		}
		return packedDatetime(v.Int())
	case typeGeography:
		return validString(v.String())
	case typeNumeric:
		return decimal(fp.fd, v, 9, maxNumeric)
	case typeBignumeric:
		return decimal(fp.fd, v, 38, maxBignumeric)
	case typeJSON:
		s, err := validString(v.String())
		if err != nil {
			return nil, err
		}
		if !json.Valid([]byte(s.(string))) {
			return nil, fmt.Errorf("invalid JSON %q", truncate(s.(string)))
		}
		return s, nil
	case typeInterval:
		return parseInterval(v.String())
	}
	return nil, fmt.Errorf("unsupported column type %s", fp.col.Type)
}

func isUnsigned(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return true
	}
	return false
}

func enumName(fd protoreflect.FieldDescriptor, v protoreflect.Value) (any, error) {
	ev := fd.Enum().Values().ByNumber(v.Enum())
	if ev == nil {
		return nil, fmt.Errorf("unknown enum number %d", v.Enum())
	}
	return string(ev.Name()), nil
}

func validString(s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("invalid UTF-8 in string")
	}
	return s, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func timestampMicros(us int64) (any, error) {
	t := time.UnixMicro(us).UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("TIMESTAMP %d microseconds is out of range", us)
	}
	return t, nil
}

var timestampLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTimestamp(s string) (any, error) {
	in := strings.TrimSuffix(strings.TrimSpace(s), " UTC")
	for _, layout := range timestampLayouts {
		t, err := time.Parse(layout, in)
		if err != nil {
			continue
		}
		t = t.UTC()
		t = t.Add(-time.Duration(t.Nanosecond() % 1000))
		if t.Before(minTime) || t.After(maxTime) {
			break
		}
		return t, nil
	}
	return nil, fmt.Errorf("invalid TIMESTAMP %q", s)
}

func dateDays(days int64) (any, error) {
	t := time.Unix(days*86400, 0).UTC()
	if days < -719162 || days > 2932896 {
		return nil, fmt.Errorf("DATE %d days is out of range", days)
	}
	return t, nil
}

func parseDate(s string) (any, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return nil, fmt.Errorf("invalid DATE %q", s)
	}
	return t, nil
}

func parseDatetime(s string) (any, error) {
	d, err := civil.ParseDateTime(strings.Replace(s, " ", "T", 1))
	if err != nil || !d.IsValid() {
		return nil, fmt.Errorf("invalid DATETIME %q", s)
	}
	return formatDatetime(d), nil
}

// formatTime prints a TIME as BigQuery does: microseconds, when there are
// any, in six digits.
func formatTime(t civil.Time) string {
	out := fmt.Sprintf("%02d:%02d:%02d", t.Hour, t.Minute, t.Second)
	if us := t.Nanosecond / 1000; us != 0 {
		out += fmt.Sprintf(".%06d", us)
	}
	return out
}

func formatDatetime(d civil.DateTime) string {
	return d.Date.String() + "T" + formatTime(d.Time)
}

// packedTime decodes the Storage Write API's int64 TIME encoding:
// hour(5) minute(6) second(6) microsecond(20).
func packedTime(v int64) (any, error) {
	t := civil.Time{
		Hour:       int(v>>32) & 0x1F,
		Minute:     int(v>>26) & 0x3F,
		Second:     int(v>>20) & 0x3F,
		Nanosecond: int(v&0xFFFFF) * 1000,
	}
	if v>>37 != 0 || !t.IsValid() || t.Nanosecond >= 1e9 {
		return nil, fmt.Errorf("invalid packed TIME %d", v)
	}
	return formatTime(t), nil
}

// packedDatetime decodes the int64 DATETIME encoding: year(14) month(4)
// day(5) followed by the TIME encoding.
func packedDatetime(v int64) (any, error) {
	d := civil.DateTime{
		Date: civil.Date{Year: int(v>>46) & 0x3FFF, Month: time.Month(int(v>>42) & 0xF), Day: int(v>>37) & 0x1F},
		Time: civil.Time{
			Hour:       int(v>>32) & 0x1F,
			Minute:     int(v>>26) & 0x3F,
			Second:     int(v>>20) & 0x3F,
			Nanosecond: int(v&0xFFFFF) * 1000,
		},
	}
	if v < 0 || !d.IsValid() || d.Time.Nanosecond >= 1e9 || d.Date.Year < 1 {
		return nil, fmt.Errorf("invalid packed DATETIME %d", v)
	}
	return formatDatetime(d), nil
}

// NUMERIC holds 38 digits, 9 after the point; BIGNUMERIC 76.76 digits, 38
// after the point (its scaled value is a 256-bit two's complement integer).
var (
	maxNumeric    = new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil), big.NewInt(1))
	maxBignumeric = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1))
)

var decimalLiteral = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// decimal converts to a NUMERIC or BIGNUMERIC decimal string. Bytes are the
// Storage Write API's encoding: the value times 10^scale as a little-endian
// two's complement integer. Excess fractional digits round half away from
// zero, as BigQuery does.
func decimal(fd protoreflect.FieldDescriptor, v protoreflect.Value, scale int64, limit *big.Int) (any, error) {
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil)
	var scaled *big.Int
	switch k := fd.Kind(); {
	case k == protoreflect.BytesKind:
		scaled = fromTwosComplementLE(v.Bytes())
	case k == protoreflect.StringKind:
		s := strings.TrimSpace(v.String())
		if !decimalLiteral.MatchString(s) {
			return nil, fmt.Errorf("invalid decimal %q", truncate(s))
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return nil, fmt.Errorf("invalid decimal %q", truncate(s))
		}
		scaled = roundScaled(r, pow)
	case k == protoreflect.FloatKind || k == protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%v is not a valid decimal", f)
		}
		scaled = roundScaled(new(big.Rat).SetFloat64(f), pow)
	case isUnsigned(k):
		scaled = new(big.Int).Mul(new(big.Int).SetUint64(v.Uint()), pow)
	default:
		scaled = new(big.Int).Mul(big.NewInt(v.Int()), pow)
	}
	if new(big.Int).Abs(scaled).Cmp(limit) > 0 && !(limit == maxBignumeric && scaled.Cmp(new(big.Int).Neg(new(big.Int).Add(limit, big.NewInt(1)))) == 0) {
		return nil, fmt.Errorf("decimal value out of range")
	}
	return formatScaled(scaled, int(scale)), nil
}

func fromTwosComplementLE(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	n := new(big.Int).SetBytes(be)
	if len(b) > 0 && b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// roundScaled is r*pow rounded half away from zero.
func roundScaled(r *big.Rat, pow *big.Int) *big.Int {
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow))
	num, den := x.Num(), x.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// formatScaled prints n/10^scale without trailing zeros.
func formatScaled(n *big.Int, scale int) string {
	digits := new(big.Int).Abs(n).String()
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	intPart, frac := digits[:len(digits)-scale], strings.TrimRight(digits[len(digits)-scale:], "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if n.Sign() < 0 {
		out = "-" + out
	}
	return out
}

var (
	canonicalInterval = regexp.MustCompile(`^([+-]?\d+)-(\d+) ([+-]?\d+) ([+-]?\d+):(\d+):(\d+)(?:\.(\d{1,9}))?$`)
	isoInterval       = regexp.MustCompile(`^P(?:([+-]?\d+)Y)?(?:([+-]?\d+)M)?(?:([+-]?\d+)D)?(?:T(?:([+-]?\d+)H)?(?:([+-]?\d+)M)?(?:([+-]?\d+)(?:\.(\d{1,9}))?S)?)?$`)
)

// parseInterval accepts the canonical INTERVAL format and ISO 8601
// durations, and returns the canonical text BigQuery would read back.
func parseInterval(s string) (any, error) {
	var iv bigquery.IntervalValue
	parts := make([]int64, 7)
	bad := fmt.Errorf("invalid INTERVAL %q", truncate(s))
	atoi := func(m []string) error {
		for i, p := range m {
			if p == "" {
				continue
			}
			if i == 6 {
				p = (p + "000000000")[:9]
			}
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return bad
			}
			parts[i] = n
		}
		return nil
	}
	switch {
	case canonicalInterval.MatchString(s):
		m := canonicalInterval.FindStringSubmatch(s)[1:]
		if err := atoi(m); err != nil {
			return nil, err
		}
		// The sign of the year and hour parts covers months and the time.
		if strings.HasPrefix(m[0], "-") {
			parts[1] = -parts[1]
		}
		if strings.HasPrefix(m[3], "-") {
			parts[4], parts[5], parts[6] = -parts[4], -parts[5], -parts[6]
		}
	case isoInterval.MatchString(s) && s != "P" && !strings.HasSuffix(s, "T"):
		m := isoInterval.FindStringSubmatch(s)[1:]
		if err := atoi(m); err != nil {
			return nil, err
		}
		if strings.HasPrefix(m[5], "-") {
			parts[6] = -parts[6]
		}
	default:
		return nil, bad
	}
	iv.Years, iv.Months, iv.Days = int32(parts[0]), int32(parts[1]), int32(parts[2])
	iv.Hours, iv.Minutes, iv.Seconds, iv.SubSecondNanos = int32(parts[3]), int32(parts[4]), int32(parts[5]), int32(parts[6])
	return iv.Canonicalize().String(), nil
}
