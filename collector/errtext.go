package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Decoders word their errors for a developer: protojson and encoding/json
// quote the token they stumbled on ("invalid value for string field phone:
// 31612345678"), which is a producer's value, often a personal one. Such a
// message becomes the FailedEvent's message, which is stored where clear
// PII must never rest (the failed-events table, hem-failed, the archive),
// and may be logged. So decode errors of producer JSON are worded here:
// the position, the field and the rule, never the value.

// protojsonPos is protojson's position of an error, "(line 1:80)".
var protojsonPos = regexp.MustCompile(`\(line (\d+):(\d+)\): `)

// protojsonRules are protojson's error messages (google.golang.org/protobuf
// encoding/protojson and internal/encoding/json) that quote a producer's
// token, each matched at the start of the text after the position, and
// what is kept of it: the part the pattern matches, or keep when set. A
// message no pattern matches is replaced by a fixed text.
var protojsonRules = []struct {
	re   *regexp.Regexp
	keep string
}{
	{re: regexp.MustCompile(`^invalid value for [a-z0-9]+ field [A-Za-z0-9_]+`)},
	{re: regexp.MustCompile(`^invalid value for [a-z0-9]+ key`)},
	{re: regexp.MustCompile(`^duplicate map key`)},
	// Field names are the producer's too, but they name a field; only
	// names that could be one are kept.
	{re: regexp.MustCompile(`^(unknown|duplicate) field "?[A-Za-z_][A-Za-z0-9_]{0,127}"?$`)},
	{re: regexp.MustCompile(`^(unknown|duplicate) field`)},
	{re: regexp.MustCompile(`^error parsing "?[A-Za-z_][A-Za-z0-9_]{0,127}"?, oneof [A-Za-z0-9_.]+ is already set$`)},
	{re: regexp.MustCompile(`^error parsing .*, oneof [A-Za-z0-9_.]+ is already set$`), keep: "a second field of a oneof is set"},
	{re: regexp.MustCompile(`^unexpected token`)},
	{re: regexp.MustCompile(`^invalid value`)},
	{re: regexp.MustCompile(`^invalid character .* at start of string`), keep: "invalid character at start of string"},
	{re: regexp.MustCompile(`^invalid character .* in string`), keep: "invalid character in string"},
	{re: regexp.MustCompile(`^invalid escape code .* in string`), keep: "invalid escape code in string"},
	{re: regexp.MustCompile(`^invalid UTF-8 in string$`)},
	{re: regexp.MustCompile(`^unexpected character .*, missing ":" after field name`), keep: `missing ":" after field name`},
	{re: regexp.MustCompile(`^unexpected EOF$`)},
	{re: regexp.MustCompile(`^invalid google\.protobuf\.[A-Za-z]+ value`)},
	{re: regexp.MustCompile(`^invalid google\.protobuf\.Value`)},
	{re: regexp.MustCompile(`^google\.protobuf\.[A-Za-z]+ value out of range`)},
	{re: regexp.MustCompile(`^google\.protobuf\.[A-Za-z.]+: (seconds|nanos) out of range`)},
	{re: regexp.MustCompile(`^google\.protobuf\.[A-Za-z.]+: signs of seconds and nanos do not match$`)},
	{re: regexp.MustCompile(`^google\.protobuf\.[A-Za-z.]+: invalid [A-Za-z]+ value$`)},
	{re: regexp.MustCompile(`^google\.protobuf\.[A-Za-z.]+ contains (invalid path|irreversible value)`)},
	{re: regexp.MustCompile(`^google\.protobuf\.Value: none of the oneof fields is set$`)},
	{re: regexp.MustCompile(`^(google\.protobuf\.Any: )?unable to (resolve|unmarshal)`), keep: "the @type cannot be resolved or its value does not decode"},
	{re: regexp.MustCompile(`^error in marshaling Any\.value field`)},
	{re: regexp.MustCompile(`^@type field value is not a string`)},
	{re: regexp.MustCompile(`^(duplicate|missing) "(@type|value)" field$`)},
	{re: regexp.MustCompile(`^@type field contains empty value$`)},
	{re: regexp.MustCompile(`^google\.protobuf\.Any: type_url is not set$`)},
	{re: regexp.MustCompile(`^(empty object|exceeded max recursion depth)$`)},
}

// protojsonErrorText words an error of protojson.Unmarshal on a producer's
// event: its position and what is wrong, without the value it quoted.
func protojsonErrorText(err error) string {
	text := strings.TrimPrefix(err.Error(), "proto: ")
	where := ""
	if m := protojsonPos.FindStringSubmatchIndex(text); m != nil {
		where = fmt.Sprintf(" at line %s, column %s", text[m[2]:m[3]], text[m[4]:m[5]])
		text = text[m[1]:]
	}
	for _, r := range protojsonRules {
		if m := r.re.FindString(text); m != "" {
			if r.keep != "" {
				m = r.keep
			}
			return "event is not valid protojson" + where + ": " + m
		}
	}
	return "event is not valid protojson" + where
}

// jsonErrorText words an error of encoding/json on a producer's event
// without the value it quoted ("invalid character 'a' …", "cannot
// unmarshal number 31612345678 …").
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		kind, _, _ := strings.Cut(te.Value, " ") // "number -5": the kind only
		return fmt.Sprintf("%s: a JSON %s where %v is expected", te.Field, kind, te.Type)
	}
	return "not valid JSON"
}

// valueFreeError is a decode error worded without the producer's values;
// the decoder's own error stays reachable through Unwrap.
type valueFreeError struct {
	text string
	err  error
}

func (e *valueFreeError) Error() string { return e.text }
func (e *valueFreeError) Unwrap() error { return e.err }

// A contract's own rules may word their messages with the value they
// check (a CEL expression returns any string: 'too short: ' + this), and
// protovalidate puts that message in the violation, which the FailedEvent
// stores. So the values of a contract's PII fields are withheld from
// violation messages and paths (map keys); what other fields hold stays.

// withheldValue replaces a PII value quoted in a violation.
const withheldValue = "[PII withheld]"

// minWithheld is the shortest value withheld: replacing every "1" or "a"
// of a message would garble it and hide nothing personal.
const minWithheld = 3

// piiValues are the values of m's PII fields at any depth (every value
// under a PII message field), as text, longest first; nil when the
// contract has no PII fields.
func (p *plan) piiValues(m protoreflect.Message) []string {
	if !p.hasPII {
		return nil
	}
	out := p.codec.AppendPIIValues(nil, m, minWithheld)
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// withholdPII returns s without the values.
func withholdPII(s string, values []string) string {
	for _, v := range values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, withheldValue)
		}
	}
	return s
}
