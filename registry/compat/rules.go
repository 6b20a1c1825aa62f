package compat

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hemlabs/hem/contract"
)

// Rule is one compatibility rule as users read it. The table below is the
// source of docs/EVOLUTION.md's rule sections (TestEvolutionDoc keeps the
// file in step with it), so the text here is user documentation.
type Rule struct {
	// ID is the stable id violations carry, e.g. EV-W06.
	ID string
	// Name is the stable name, e.g. FIELD_SAME_TYPE.
	Name string
	// Group is the section the rule belongs to: Admission, Wire, JSON,
	// BigQuery, Validation, Retention or Process.
	Group string
	// Refuses says what the rule refuses, with an example.
	Refuses string
	// Why says what would break if it were admitted.
	Why string
	// Instead says what to do.
	Instead string
}

// Rule groups, in the order the documentation shows them.
const (
	GroupAdmission  = "Admission"
	GroupWire       = "Wire"
	GroupJSON       = "JSON"
	GroupBigQuery   = "BigQuery"
	GroupValidation = "Validation"
	GroupRetention  = "Retention"
	GroupProcess    = "Process"
	GroupRollup     = "Rollup"
)

const newMajor = "a new major version: copy the contract to package `…v2` (EV-P02)"

var rules = []Rule{
	{"EV-L01", "PACKAGE_MAJOR_SUFFIX", GroupAdmission,
		"a package that does not end in a major version (`package acme.orders;`).",
		"the major version is the only way to make a breaking change (EV-P02); without one, a contract could never break anything.",
		"name the package `acme.orders.v1`."},
	{"EV-L02", "NO_REQUIRED_LABEL", GroupAdmission,
		"proto2 `required` fields (editions `LEGACY_REQUIRED`) anywhere in the event.",
		"a required field can never be added or removed safely, and BigQuery cannot add REQUIRED columns to a table.",
		"make the field optional and add `(buf.validate.field).required = true`."},
	{"EV-L03", "NO_RECURSION", GroupAdmission,
		"a message that refers back to itself, directly or through others (`message Node { Node parent = 1; }`).",
		"BigQuery records cannot be recursive.",
		"flatten the structure, e.g. refer to the parent by its id."},
	{"EV-L04", "BQ_SHAPE_LIMITS", GroupAdmission,
		fmt.Sprintf("records nested more than %d levels deep; a table of more than %d columns (nested and metadata columns included); a table name derived from package and message longer than %d bytes (%d for an event with an `entity_key_field`) or holding characters other than letters, marks, digits, connectors such as `_`, dashes and spaces.",
			contract.MaxRecordDepth, contract.MaxColumns, MaxTableNameBytes-len(dedupSuffix), MaxTableNameBytes-len(latestSuffix)),
		fmt.Sprintf("BigQuery would refuse the table (its name limit is %d bytes, and hem adds a view named `<table>%s`, and `<table>%s` for an event with an entity key).", MaxTableNameBytes, dedupSuffix, latestSuffix),
		"flatten or split the event; for a long name, set the `table` option."},
	{"EV-L05", "BQ_SUPPORTED_TYPES", GroupAdmission,
		"fields with no column type: `google.protobuf.Any`, `FieldMask` and `Empty`, groups (delimited encoding) and extensions.",
		"no BigQuery column can hold them faithfully.",
		"use a concrete message, or `google.protobuf.Struct` (a JSON column) for free-form data; declare a field instead of an extension."},
	{"EV-L06", "BQ_COLUMN_NAME_VALID", GroupAdmission,
		fmt.Sprintf("field names that are not column names: outside `[A-Za-z_][A-Za-z0-9_]*`, longer than %d characters, starting with `_`, or starting (in any case) with a prefix BigQuery reserves: `_TABLE_`, `_FILE_`, `_PARTITION`, `_ROW_TIMESTAMP`, `__ROOT__`, `_COLIDENTIFIER`.", contract.MaxNameLength),
		"every field is a column; `_` is reserved for hem's metadata columns (`_event_id`, `_event_time`, …), so payload columns never collide with them; BigQuery refuses the rest.",
		"rename the field."},
	{"EV-L07", "BQ_NAME_CASE_UNIQUE", GroupAdmission,
		"two fields of one message whose names differ only in case (`userId`, `userid`).",
		"BigQuery column names ignore case.",
		"rename one of them."},
	{"EV-L08", "SELF_CONTAINED", GroupAdmission,
		"a descriptor set that imports a file it does not carry, and contract files importing files other than contracts and " + importList() + ".",
		"the registry, the processor and archive readers decode with the stored set alone; other well-known files have no column mapping.",
		"register the set with every file it needs (`hem schema push` does) and import only those files."},
	{"EV-L09", "PROTOVALIDATE_VALID", GroupAdmission,
		"protovalidate rules that do not compile (CEL that does not parse or type-check, rules of the wrong type for the field).",
		"the collector validates every event with them: a rule that does not compile would refuse every event.",
		"fix the rule; `buf lint` with the PROTOVALIDATE rule shows it as you edit."},
	{"EV-L10", "EVENT_OPTIONS_VALID", GroupAdmission,
		fmt.Sprintf("hem options BigQuery cannot honour: a `partition_field` that is not a top-level, non-repeated `google.protobuf.Timestamp` field; more than %d `clustering_fields`, or one that is not a top-level, non-repeated field whose column is BOOL, INT64, NUMERIC, STRING, TIMESTAMP or DATE; an `entity_key_field` that is not a top-level, non-repeated field whose column is neither RECORD nor JSON; a negative `partition_expiration_days`, `archive_retention_days` or `archive_cold_after_days`; an `archive_cold_after_days` not less than a non-zero `archive_retention_days`; an `archive_cold_storage_class` other than NEARLINE, COLDLINE or ARCHIVE; a `table` option longer than %d bytes (%d with an `entity_key_field`) or holding characters BigQuery refuses; a field's `policy_tag` that is not a policy tag's resource name (`projects/P/locations/L/taxonomies/T/policyTags/G`).",
			contract.MaxClustering, MaxTableNameBytes-len(dedupSuffix), MaxTableNameBytes-len(latestSuffix)),
		"BigQuery would refuse the table, the collector could not derive the entity key, or the archive's lifecycle rules would be meaningless (objects deleted before they move).",
		"fix the option."},
	{"EV-L11", "WELL_KNOWN_GENUINE", GroupAdmission,
		"a set carrying a file under one of " + codeList(genuinePrefixes) + " that differs from the copy hem is built with, or that hem does not know.",
		"hem reads events with its own copies of those files: the registry would admit the contract and the collector accept its events, and every event would then fail where hem reads it.",
		"build the set against the genuine files (`hem schema push` does); keep your own files out of those folders."},

	{"EV-W01", "PACKAGE_SAME", GroupWire,
		"a version whose package differs from an earlier version's (`acme.orders.v1` → `acme.order.v1`).",
		"the package is part of every type's full name, which stored events and readers rely on.",
		newMajor + "."},
	{"EV-W02", "SYNTAX_SAME", GroupWire,
		"a change of the file's syntax or edition (`proto2` → `proto3`), and an enum switching between open and closed.",
		"that changes how fields are encoded and how unknown enum values are read.",
		newMajor + "."},
	{"EV-W03", "TYPE_NO_DELETE", GroupWire,
		"a message or enum used by the event that is gone: renamed (`Item` → `LineItem`) or deleted.",
		"types an event uses keep their full names within a major; readers resolve them by name.",
		"keep the type; " + newMajor + "."},
	{"EV-W04", "FIELD_NO_DELETE", GroupWire,
		"deleting a field (`string coupon = 7;`), even when its number is reserved.",
		"stored events and the table still hold it.",
		"keep the field and mark it `[deprecated = true]`."},
	{"EV-W05", "FIELD_NUMBER_STABLE", GroupWire,
		"a field moved to another number (`coupon = 7` → `coupon = 8`), and a reserved number or name that is no longer reserved.",
		"numbers identify fields on the wire: a reused number would decode stored events into the wrong field.",
		"put the field back at its number; restore the reservation."},
	{"EV-W06", "FIELD_SAME_TYPE", GroupWire,
		"a field whose type changes, widening included (`int32 qty` → `int64 qty`), another enum or message type, or a map becoming a repeated message.",
		"stored events would decode wrongly, and a column's type cannot change.",
		"add a new field with the new type (deprecate the old one), or " + newMajor + "."},
	{"EV-W07", "FIELD_SAME_CARDINALITY", GroupWire,
		"a field changing between singular, repeated and map, or between implicit and explicit presence (`int32 n` → `optional int32 n`).",
		"that changes the wire encoding and the column mode.",
		"add a new field, or " + newMajor + "."},
	{"EV-W08", "FIELD_SAME_ONEOF", GroupWire,
		"an existing field moving into, out of or between oneofs, and a oneof renamed or deleted.",
		"readers of stored events would see other members cleared or set.",
		"put new fields in a new oneof, or add new fields to an existing one; otherwise " + newMajor + "."},
	{"EV-W09", "FIELD_SAME_DEFAULT", GroupWire,
		"an explicit (proto2, editions) default added, removed or changed (`[default = 5]` → `[default = 6]`).",
		"old and new readers would see different values for the same bytes.",
		"restore the default."},
	{"EV-W10", "ENUM_VALUE_NO_DELETE", GroupWire,
		"an enum value deleted or renumbered (`STATUS_SHIPPED = 3;` removed).",
		"stored events and table rows use it.",
		"keep the value (you may mark it deprecated)."},

	{"EV-J01", "FIELD_SAME_NAME", GroupJSON,
		"a field renamed (`string user_id = 1` → `string customer_id = 1`).",
		"the name is the JSON key and the BigQuery column.",
		"keep the name; deprecate the field and add a new one if you must."},
	{"EV-J02", "FIELD_SAME_JSON_NAME", GroupJSON,
		"a `json_name` added, removed or changed (`[json_name = \"uid\"]`).",
		"JSON producers and readers would disagree on the key.",
		"restore it."},
	{"EV-J03", "ENUM_VALUE_SAME_NAME", GroupJSON,
		"an enum value renamed (`SHIPPED = 3` → `DISPATCHED = 3`).",
		"JSON and the STRING column carry the value's name.",
		"keep the name."},
	{"EV-J04", "JSON_FORMAT_SAME", GroupJSON,
		"a change of the editions `json_format` feature.",
		"JSON producers and readers would disagree on the format.",
		newMajor + "."},

	{"EV-B01", "COLUMN_IMMUTABLE", GroupBigQuery,
		"a column of an earlier version whose type or mode changes in the mapped table, at any depth (`google.protobuf.Timestamp at` → `int64 at`: TIMESTAMP → INT64).",
		"BigQuery cannot change a column's type or mode.",
		"add a new field, or " + newMajor + "."},
	{"EV-B02", "ADDITIVE_NULLABLE_ONLY", GroupBigQuery,
		"a new column that is neither NULLABLE nor REPEATED.",
		"BigQuery adds only NULLABLE or REPEATED columns to a table.",
		"make the field optional (EV-L02 already refuses `required`)."},
	{"EV-B03", "NO_NAME_COLLISION", GroupBigQuery,
		"a new column whose name equals, ignoring case, a column any earlier version put in the table (table has `userid`; new field `userId`).",
		"BigQuery ignores case in column names, and columns of earlier versions stay in the table.",
		"choose another name."},
	{"EV-B04", "MAPPING_PINNED", GroupBigQuery,
		fmt.Sprintf("a version mapped by another version of the proto → BigQuery mapping than its earlier versions were admitted under (this hem maps with version %d).", MappingVersion),
		"the table was created with the old mapping; the same fields would need other columns.",
		newMajor + "."},

	{"EV-V01", "PV_EXISTING_FROZEN", GroupValidation,
		"protovalidate rules of an existing field, oneof or message added, changed or removed (`(buf.validate.field).string.min_len = 1` added to `name`).",
		"stored and in-flight events were valid under the old rules; producers built against them would start being refused.",
		"add a new field with the new rules, or " + newMajor + "."},
	{"EV-V02", "PV_NEW_FIELD_NOT_REQUIRED", GroupValidation,
		"a new field of an existing message marked `(buf.validate.field).required = true`.",
		"events producers already send lack it and would be refused.",
		"drop `required` and check the field in the producer, or add it in a new major."},

	{"EV-R01", "ROLLUP_SPEC_VALID", GroupRollup,
		"a rollup message (option `(hem.options.v1.rollup)`) that does not say what to compute: no `source`, a grain other than hour or day, negative lateness or retention; a field with no role or more than one (`bucket`, `dimension`, a measure); no bucket, two buckets or a bucket that is not a `google.protobuf.Timestamp`; no measure; a repeated or record field; `AGGREGATE_COUNT` with an `of`, SUM/MIN/MAX/APPROX_COUNT_DISTINCT without one; a count in a field that is not `int64`; an empty `sql` escape hatch, or one with `;` or beside `aggregate`.",
		"hem computes the rollup table from the declaration alone: every column must have one meaning.",
		"fix the option; see the sample rollups in `proto/shop/orders/v1/rollups.proto`."},
	{"EV-R02", "ROLLUP_SOURCE_VALID", GroupRollup,
		"a rollup whose `source` is not a registered event type, whose `time_column` is not a TIMESTAMP column of the source table, or whose dimensions and aggregated columns (`of`, dotted for nested fields) are missing from the source table, reached through a repeated field, of another type than the rollup field, or not numeric for a SUM.",
		"the rollup's query would fail, or silently cast, on every run.",
		"push the source event type first (or with the rollup), name existing columns, and give each rollup field the source column's type."},
	{"EV-R03", "ROLLUP_DEFINITION_SAME", GroupRollup,
		"a rollup version that changes what earlier rows mean: another source, grain, time column, table or bucket; a dimension added or pointed at another column; a measure's aggregate, `of` or `sql` changed; a rollup becoming an event type or back. (Removing or retyping a column is EV-W04/EV-W06.)",
		"rows already computed hold the old definition, and partitions outside the lateness window are not recomputed.",
		"add a new measure instead (allowed: the next `hem rollup run` backfills every partition the source still holds), or " + newMajor + "."},
	{RetentionRule, "RETENTION_NOT_SHORTENED", GroupRetention,
		"a version keeping data for less time than the newest stored version: `partition_expiration_days` or `archive_retention_days` (an event's), `retention_days` (a rollup's) lowered (`365` → `90`) or set where it was zero (for ever). The violation lists the dates that would go. Moving archive objects to a colder class earlier is admitted.",
		"BigQuery deletes the partitions older than a new expiration as soon as it is set, and GCS lifecycle rules delete the older archive objects within a day; nothing brings archive objects back, and warehouse rows come back only by `hem restore` from the archive.",
		"keep the retention; or, having read what would go, acknowledge it: `hem schema push --acknowledge-retention SUBJECT` (`hem schema check --acknowledge-retention SUBJECT` in CI). Later versions are compared with the acknowledged one."},

	{"EV-P01", "TRANSITIVE", GroupProcess,
		"a candidate that breaks any rule above against any earlier version of its subject, not only the latest (a field deleted in v2 and added back with another type in v3).",
		"archives hold events of every version and the table holds the union of every version's columns.",
		"see the rule the violation names."},
	{"EV-P02", "MAJOR_BOUNDARY", GroupProcess,
		"nothing by itself: a new major package (`acme.orders.v2`) is a new subject with no earlier versions, its own table and its own archive prefix.",
		"that is the one way to make a breaking change.",
		"publish both majors for a while, move readers to the new table, then stop publishing the old one."},
}

// importList names the files outside the contracts a contract may import.
func importList() string {
	return codeList(slices.Sorted(maps.Keys(allowedImports)))
}

func codeList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}

var ruleByID = func() map[string]Rule {
	m := make(map[string]Rule, len(rules))
	for _, r := range rules {
		m[r.ID] = r
	}
	return m
}()

// RuleName returns the name of a rule id ("EV-W06" → "FIELD_SAME_TYPE"), or
// "" for an unknown id.
func RuleName(id string) string { return ruleByID[id].Name }

// Rules lists every rule id, sorted.
func Rules() []string {
	return slices.Sorted(maps.Keys(ruleByID))
}

// RuleTable returns every rule in documentation order.
func RuleTable() []Rule { return slices.Clone(rules) }

// Describe returns the rule of an id.
func Describe(id string) (Rule, bool) {
	r, ok := ruleByID[id]
	return r, ok
}
