package compat

import (
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
)

// BigQuery's limits on what a contract names, beyond the column limits the
// mapping checks (EV-L04, EV-L06).
const (
	// MaxTableNameBytes is BigQuery's limit on a table name, in UTF-8 bytes.
	MaxTableNameBytes = 1024
	// dedupSuffix names the view hem puts next to every BigQuery table
	// (sink/bigquery DedupView); the view's name obeys the same limit.
	dedupSuffix = "_dedup"
	// latestSuffix names the view hem adds next to the table of an event
	// with an entity_key_field (sink/bigquery LatestView).
	latestSuffix = "_latest"
)

// maxTableName is the longest table name of an event: BigQuery's limit
// minus the longest suffix of the views hem puts beside its table.
func maxTableName(keyed bool) (max int, suffix string) {
	if keyed {
		return MaxTableNameBytes - len(latestSuffix), latestSuffix
	}
	return MaxTableNameBytes - len(dedupSuffix), dedupSuffix
}

// policyTag is the form BigQuery takes a policy tag in (a resource name).
var policyTag = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/taxonomies/[^/]+/policyTags/[^/]+$`)

// lintNames checks the table name (the table option, or the one derived
// from package and message) and the policy tags against BigQuery's rules:
// a contract the registry admits must be one BigQuery creates a table for.
func lintNames(s *contract.Schema) []Violation {
	md := s.Descriptor()
	subject := string(md.FullName())
	var out []Violation
	opts, _ := contract.EventOptions(md)
	name, rule, from := contract.TableName(md), "EV-L04", "the table name derived from package and message"
	if opts.GetTable() != "" {
		rule, from = "EV-L10", "the table option"
	}
	if max, suffix := maxTableName(opts.GetEntityKeyField() != ""); len(name) > max {
		out = append(out, Violation{rule, subject, fmt.Sprintf("%s has %d bytes; BigQuery allows %d and hem adds a view named <table>%s, so at most %d: set a shorter table option",
			from, len(name), MaxTableNameBytes, suffix, max)})
	}
	if !utf8.ValidString(name) {
		out = append(out, Violation{rule, subject, fmt.Sprintf("%s is not valid UTF-8", from)})
	} else {
		for _, r := range name {
			if !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.Pc, unicode.Pd, unicode.Zs) {
				out = append(out, Violation{rule, subject, fmt.Sprintf("%s %s holds %q; BigQuery table names hold only letters, marks, digits, connectors such as _, dashes and spaces",
					from, truncate(name), r)})
				break
			}
		}
	}
	walkTypes(md, func(path string, m protoreflect.MessageDescriptor) {
		fields := m.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			tag := contract.FieldOptions(fd).GetPolicyTag()
			if tag != "" && !policyTag.MatchString(tag) {
				out = append(out, Violation{"EV-L10", path + "." + string(fd.Name()), fmt.Sprintf("policy_tag %s is not a policy tag's resource name (projects/P/locations/L/taxonomies/T/policyTags/G); BigQuery would refuse the table", truncate(tag))})
			}
		}
	})
	return out
}

// truncate quotes s, cut to a length a message can carry.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}
