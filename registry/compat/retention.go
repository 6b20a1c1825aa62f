package compat

import (
	"fmt"
	"time"

	"github.com/hemlabs/hem/contract"
)

// RetentionRule is the id of the rule refusing a shortened retention
// (EV-D01); a registry admits such a version only when told the loss is
// acknowledged.
const RetentionRule = "EV-D01"

// day is the date format of previews.
const day = "2006-01-02"

// Retention compares candidate's retention with latest's (the newest stored
// version of its subject; nil for a first version) and returns one EV-D01
// violation per store whose retention candidate shortens: the warehouse
// table's partition expiration (an event's partition_expiration_days, a
// rollup's retention_days) and the archive's (archive_retention_days). Each
// says what would go at now, by date. Moving objects to a colder class
// earlier deletes nothing and is admitted.
//
// Unlike Check it compares with the newest version only: once a shorter
// retention is admitted, later versions keep it without a new
// acknowledgement.
//
// rows, when not nil, says how many rows the warehouse holds before a time
// (e.g. "1234 rows in the local warehouse"), or "" when it cannot tell; it
// is added to the warehouse's preview.
func Retention(candidate, latest *contract.Schema, now time.Time, rows func(before time.Time) string) []Violation {
	if latest == nil {
		return nil
	}
	cand, prev := contract.RetentionOf(candidate.Descriptor()), contract.RetentionOf(latest.Descriptor())
	subject := candidate.Subject
	var out []Violation
	add := func(format string, args ...any) {
		out = append(out, Violation{Rule: RetentionRule, Path: subject, Message: fmt.Sprintf(format, args...) + ack(subject)})
	}
	if shorter(cand.WarehouseDays, prev.WarehouseDays) {
		option, what := "partition_expiration_days", "table "+contract.TableName(candidate.Descriptor())
		if cand.Rollup {
			option, what = "(hem.options.v1.rollup).retention_days", "the rollup's table"
		}
		count := ""
		if rows != nil {
			if c := rows(cand.WarehouseExpiredBefore(now)); c != "" {
				count = ", " + c + ","
			}
		}
		add("%s shortened from %s to %d days: BigQuery deletes the partitions of %s dated %s%s as soon as the version is migrated, and nothing brings them back but hem restore from the archive",
			option, days(prev.WarehouseDays), cand.WarehouseDays, what, span(prev.WarehouseDays, cand.WarehouseDays, now), count)
	}
	if shorter(cand.ArchiveDays, prev.ArchiveDays) {
		add("archive_retention_days shortened from %s to %d days: once the bucket's lifecycle rules are applied (hem schema lifecycle, then terraform apply), GCS deletes the objects under %s written %s, the only copy of those events once the warehouse's partitions have expired",
			days(prev.ArchiveDays), cand.ArchiveDays, ArchivePrefix(subject), span(prev.ArchiveDays, cand.ArchiveDays, now))
	}
	return out
}

// ArchivePrefix is where the archive keeps a subject's objects (see
// sink/archive), the prefix its lifecycle rules match.
func ArchivePrefix(subject string) string { return "events/type=" + subject + "/" }

// shorter reports whether retention to (days, 0 for ever) keeps less than
// from.
func shorter(to, from int) bool {
	return to > 0 && (from == 0 || to < from)
}

func days(n int) string {
	if n == 0 {
		return "for ever"
	}
	return fmt.Sprintf("%d", n)
}

// span names the days that a retention of to days deletes at now and one of
// from days keeps (a day goes its retention after it starts, as
// contract.Retention counts).
func span(from, to int, now time.Time) string {
	today := now.UTC().Truncate(24 * time.Hour)
	last := today.AddDate(0, 0, -to)
	if from == 0 {
		return "up to " + last.Format(day) + " (everything older than " + fmt.Sprint(to) + " days)"
	}
	first := today.AddDate(0, 0, -from+1)
	return fmt.Sprintf("%s to %s (%d days)", first.Format(day), last.Format(day), from-to)
}

func ack(subject string) string {
	return fmt.Sprintf("; to go ahead, acknowledge it: hem schema push --acknowledge-retention %s", subject)
}
