package compat

import (
	"fmt"

	"github.com/hemlabs/hem/contract"
)

// CheckRollupSource runs the rule that needs a rollup's source event type
// (EV-R02): source is the newest version of the subject the rollup names,
// nil when there is none. It returns nil for an event type, and for a
// rollup whose own declaration is broken (Lint reports that, as EV-R01).
func CheckRollupSource(candidate, source *contract.Schema) []Violation {
	if candidate == nil || !candidate.IsRollup() {
		return nil
	}
	r, err := candidate.Rollup()
	if err != nil {
		return nil
	}
	if source == nil {
		return []Violation{{Rule: contract.RuleRollupSource, Path: candidate.Subject,
			Message: fmt.Sprintf("source %s is not a registered event type: push it first, or in the same push as the rollup", r.Source)}}
	}
	if source.IsRollup() {
		return []Violation{{Rule: contract.RuleRollupSource, Path: candidate.Subject,
			Message: fmt.Sprintf("source %s is a rollup; a rollup's source is an event type", r.Source)}}
	}
	t, err := contract.MapTable(source.Descriptor())
	if err != nil {
		return []Violation{{Rule: contract.RuleRollupSource, Path: candidate.Subject,
			Message: fmt.Sprintf("source %s has no table mapping: %v", r.Source, err)}}
	}
	return mappingViolations(r.Bind(t))
}

func mappingViolations(err error) []Violation {
	if err == nil {
		return nil
	}
	mes, ok := contract.AsMappingErrors(err)
	if !ok {
		return []Violation{{Rule: contract.RuleRollupSource, Message: err.Error()}}
	}
	out := make([]Violation, 0, len(mes))
	for _, me := range mes {
		out = append(out, Violation{Rule: me.Rule, Path: me.Path, Message: me.Message})
	}
	return out
}

// rollupEvolution reports what a candidate changes in the definition of a
// prior rollup version (EV-R03): rows already computed would mean something
// else. A new measure is allowed: the next run backfills it.
func (c *checker) rollupEvolution(prior, cand *contract.Schema) {
	path := cand.Subject
	if prior.IsRollup() != cand.IsRollup() {
		c.add("EV-R03", path, "version %d is %s and this one %s: %s", prior.Version, kind(prior), kind(cand), breaking(path))
		return
	}
	if !cand.IsRollup() {
		return
	}
	p, perr := prior.Rollup()
	n, nerr := cand.Rollup()
	if perr != nil || nerr != nil {
		return // Lint reports a broken declaration
	}
	same := func(what, was, is string) {
		if was != is {
			c.add("EV-R03", path, "%s changed from %q to %q; rows already computed hold the old definition: %s", what, was, is, breaking(path))
		}
	}
	same("source", p.Source, n.Source)
	same("grain", p.Grain.String(), n.Grain.String())
	same("time_column", p.TimeColumn, n.TimeColumn)
	same("table", p.Table.Name, n.Table.Name)
	same("bucket", p.Bucket, n.Bucket)
	dims := map[string]string{}
	for _, d := range p.Dimensions {
		dims[d.Column] = d.Source
	}
	for _, d := range n.Dimensions {
		was, ok := dims[d.Column]
		switch {
		case !ok:
			c.add("EV-R03", path+"."+d.Column, "a new dimension splits every group, and rows already computed lack it: %s", breaking(path))
		default:
			same("dimension "+d.Column, was, d.Source)
		}
	}
	measures := map[string]contract.RollupMeasure{}
	for _, m := range p.Measures {
		measures[m.Column] = m
	}
	for _, m := range n.Measures {
		was, ok := measures[m.Column]
		if !ok {
			continue // a new measure: backfilled by the next run
		}
		same("measure "+m.Column, measureText(was), measureText(m))
	}
}

func kind(s *contract.Schema) string {
	if s.IsRollup() {
		return "a rollup"
	}
	return "an event type"
}

func measureText(m contract.RollupMeasure) string {
	if m.SQL != "" {
		return "sql " + m.SQL
	}
	if m.Of == "" {
		return m.Aggregate.String()
	}
	return m.Aggregate.String() + "(" + m.Of + ")"
}
