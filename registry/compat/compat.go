// Package compat is hem's compatibility engine: it decides whether a version
// of an event contract may be admitted, by the rules of docs/EVOLUTION.md
// (generated from the rule table in rules.go).
//
// Lint runs the admission rules (EV-L01..EV-L11) that every version must
// pass, the first included. Check runs the evolution rules against every
// earlier version of the same subject (EV-P01, transitive): wire (EV-W01..
// EV-W10), JSON (EV-J01..EV-J04), BigQuery on the mapped schema (EV-B01..
// EV-B04) and protovalidate (EV-V01, EV-V02). A new major version is a new
// package, hence a new subject with no earlier versions (EV-P02): that is the
// one way to make a breaking change. Retention (EV-D01) compares a version
// with the newest stored one only and refuses a shorter retention, which a
// registry admits when the loss is acknowledged.
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
