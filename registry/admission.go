package registry

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/registry/compat"
)

// Violation is one broken rule: a stable rule id, the element path and a
// sentence a data engineer can act on (see registry/compat).
type Violation = compat.Violation

// Check is the admission rule the registry applies to a candidate version
// of a subject: with no prior versions the lint rules (compat.Lint), else
// the lint and evolution rules against every prior version (compat.Admit).
// It is pure; "hem schema check" runs it in CI without a registry.
func Check(candidate *contract.Schema, prior []*contract.Schema) []Violation {
	if len(prior) == 0 {
		return compat.Lint(candidate)
	}
	return compat.Admit(candidate, prior)
}

// admission is Check with the lint verdicts of this registration's
// candidates remembered: they do not depend on the prior versions, which
// change when a registration loses a race and is planned again.
type admission map[*contract.Schema][]Violation

func (a admission) check(candidate *contract.Schema, prior []*contract.Schema) []Violation {
	lint, ok := a[candidate]
	if !ok {
		lint = compat.Lint(candidate)
		a[candidate] = lint
	}
	if len(prior) == 0 {
		return lint
	}
	// compat.Admit is Lint plus Check, sorted and without duplicates.
	vs := append(slices.Clone(lint), compat.Check(candidate, prior)...)
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Path, b.Path), strings.Compare(a.Message, b.Message))
	})
	return slices.Compact(vs)
}

// withRollupSource adds to vs the violations of a rollup candidate against
// its source event type (EV-R02), source being nil when it is unknown.
func withRollupSource(vs []Violation, candidate, source *contract.Schema) []Violation {
	vs = append(vs, compat.CheckRollupSource(candidate, source)...)
	slices.SortFunc(vs, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Path, b.Path), strings.Compare(a.Message, b.Message))
	})
	return slices.Compact(vs)
}

// rollupSource finds the source event type of a rollup candidate: in the
// same registration, else its newest stored version; nil when neither has
// it.
func (r *Registry) rollupSource(ctx context.Context, snap *snapshot, candidate *contract.Schema, candidates []*contract.Schema) (*contract.Schema, error) {
	opts, _ := contract.RollupOptions(candidate.Descriptor())
	name := opts.GetSource()
	for _, c := range candidates {
		if c.Subject == name {
			return c, nil
		}
	}
	es := snap.bySubject[name]
	if len(es) == 0 {
		return nil, nil
	}
	return r.schemaOf(ctx, es[len(es)-1])
}
