// Package compat is hem's compatibility engine: it decides whether a version
// of an event contract may be admitted, by the rules of EVOLUTION.md.
//
// Lint runs the admission rules (EV-L01..EV-L11) that every version must
// pass, the first included. Check runs the evolution rules against every
// earlier version of the same subject (EV-P01, transitive): wire (EV-W01..
// EV-W10), JSON (EV-J01..EV-J04), BigQuery on the mapped schema (EV-B01..
// EV-B04) and protovalidate (EV-V01, EV-V02). A new major version is a new
// package, hence a new subject with no earlier versions (EV-P02): that is the
// one way to make a breaking change.
//
// A Violation names its rule id, the element path through the event's
// fields (shop.orders.v1.OrderPlaced.items.quantity) and a sentence that
// says what to do. The engine is pure CPU work, safe for concurrent use, and
// never panics on any pair of descriptors.
package compat

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hemlabs/hem/contract"
)

// Violation is one broken rule.
type Violation struct {
	// Rule is the stable id, e.g. EV-W06.
	Rule string
	// Path is the element path, e.g. shop.orders.v1.OrderPlaced.items.quantity.
	Path string
	// Message says what is wrong and what to do.
	Message string
}

func (v Violation) String() string { return v.Rule + " " + v.Path + ": " + v.Message }

var ruleNames = map[string]string{
	"EV-L01": "PACKAGE_MAJOR_SUFFIX", "EV-L02": "NO_REQUIRED_LABEL", "EV-L03": "NO_RECURSION",
	"EV-L04": "BQ_SHAPE_LIMITS", "EV-L05": "BQ_SUPPORTED_TYPES", "EV-L06": "BQ_COLUMN_NAME_VALID",
	"EV-L07": "BQ_NAME_CASE_UNIQUE", "EV-L08": "SELF_CONTAINED", "EV-L09": "PROTOVALIDATE_VALID",
	"EV-L10": "EVENT_OPTIONS_VALID", "EV-L11": "WELL_KNOWN_GENUINE",
	"EV-W01": "PACKAGE_SAME", "EV-W02": "SYNTAX_SAME", "EV-W03": "TYPE_NO_DELETE", "EV-W04": "FIELD_NO_DELETE",
	"EV-W05": "FIELD_NUMBER_STABLE", "EV-W06": "FIELD_SAME_TYPE", "EV-W07": "FIELD_SAME_CARDINALITY",
	"EV-W08": "FIELD_SAME_ONEOF", "EV-W09": "FIELD_SAME_DEFAULT", "EV-W10": "ENUM_VALUE_NO_DELETE",
	"EV-J01": "FIELD_SAME_NAME", "EV-J02": "FIELD_SAME_JSON_NAME", "EV-J03": "ENUM_VALUE_SAME_NAME",
	"EV-J04": "JSON_FORMAT_SAME",
	"EV-B01": "COLUMN_IMMUTABLE", "EV-B02": "ADDITIVE_NULLABLE_ONLY", "EV-B03": "NO_NAME_COLLISION",
	"EV-B04": "MAPPING_PINNED",
	"EV-V01": "PV_EXISTING_FROZEN", "EV-V02": "PV_NEW_FIELD_NOT_REQUIRED",
	"EV-P01": "TRANSITIVE", "EV-P02": "MAJOR_BOUNDARY",
}

// RuleName returns the name of a rule id ("EV-W06" → "FIELD_SAME_TYPE"), or
// "" for an unknown id.
func RuleName(id string) string { return ruleNames[id] }

// Rules lists every rule id, sorted.
func Rules() []string {
	ids := make([]string, 0, len(ruleNames))
	for id := range ruleNames {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Admit runs Lint and Check and returns their violations sorted by rule and
// path, each reported once however many earlier versions it breaks.
func Admit(candidate *contract.Schema, prior []*contract.Schema) []Violation {
	return tidy(append(Lint(candidate), Check(candidate, prior)...))
}

// breaking is the advice every evolution violation ends with.
func breaking(subject string) string {
	pkg := subject
	if i := strings.LastIndex(subject, "."); i > 0 {
		pkg = subject[:i]
	}
	next := nextMajor(pkg)
	return fmt.Sprintf("a breaking change needs a new major version: copy the contract to package %s", next)
}

func nextMajor(pkg string) string {
	i := strings.LastIndex(pkg, ".v")
	if i < 0 {
		return pkg + ".v2"
	}
	var n int
	if _, err := fmt.Sscanf(pkg[i+2:], "%d", &n); err != nil {
		return pkg + ".v2"
	}
	return fmt.Sprintf("%s.v%d", pkg[:i], n+1)
}

func tidy(vs []Violation) []Violation {
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Path, b.Path), strings.Compare(a.Message, b.Message))
	})
	return slices.CompactFunc(vs, func(a, b Violation) bool { return a == b })
}
