package cli

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/archive"
)

// replayExpiry is the target table's retention: events it has expired would
// be written into partitions BigQuery deletes at once (or hem dev's DuckDB
// sweep deletes), so replaying them loses them silently.
type replayExpiry struct {
	subject string
	days    int
	// before is the partition time before which rows are gone.
	before time.Time
	// field is the table's partition_field; "" partitions by event time.
	field string
	// from says where the retention was read (the registry, the archive).
	from string
}

// replayExpiryOf reads the retention of subject's table from its newest
// version: the registry's, else the newest the archive's objects in the
// window carry (the table may have a newer one). A zero days keeps rows for
// ever.
func replayExpiryOf(ctx context.Context, cfg *replayConfig, reader *archive.Reader, subject string, since, until, now time.Time) (replayExpiry, error) {
	x := replayExpiry{subject: subject}
	var latest *contract.Schema
	if c, err := schemaDial(ctx, &cfg.client); err == nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		latest, err = c.Latest(lctx, subject)
		cancel()
		c.Close()
		if err == nil {
			x.from = "the registry's newest version, v" + fmt.Sprint(latest.Version)
		}
	}
	if latest == nil {
		objects, err := reader.Objects(ctx, subject, since, until)
		if err != nil {
			return x, fmt.Errorf("replay: %w", err)
		}
		schemas, err := reader.Schemas(ctx, objects)
		if err != nil {
			return x, fmt.Errorf("replay: %w", err)
		}
		if len(schemas) == 0 {
			return x, nil // nothing to replay
		}
		latest = schemas[len(schemas)-1]
		x.from = fmt.Sprintf("v%d, the newest version in the archive (the registry was not reachable)", latest.Version)
	}
	x.days = contract.RetentionOf(latest.Descriptor()).WarehouseDays
	x.before = contract.RetentionOf(latest.Descriptor()).WarehouseExpiredBefore(now)
	x.field = latest.Options().GetPartitionField()
	return x, nil
}

// expired reports whether the table has already deleted rec's partition.
func (x replayExpiry) expired(rec *archive.Record) bool {
	if x.days == 0 {
		return false
	}
	t := rec.EventTime
	if x.field != "" {
		fd := rec.Message.Descriptor().Fields().ByName(protoreflect.Name(x.field))
		if fd == nil || !rec.Message.Has(fd) {
			return false // lands in the table's NULL partition, which does not expire
		}
		m := rec.Message.Get(fd).Message() // a google.protobuf.Timestamp (EV-L10)
		fields := m.Descriptor().Fields()
		t = time.Unix(m.Get(fields.ByName("seconds")).Int(), m.Get(fields.ByName("nanos")).Int())
	}
	return t.Before(x.before)
}

// count counts the expired events of [since, until): by event time only
// the hours before the cutoff are read; a table partitioned by a payload
// field needs every event of the window.
func (x replayExpiry) count(ctx context.Context, reader *archive.Reader, since, until time.Time) (int, error) {
	if x.days == 0 {
		return 0, nil
	}
	if x.field == "" {
		if !x.before.After(since) {
			return 0, nil
		}
		until = minTime(until, x.before)
	}
	n := 0
	err := reader.Events(ctx, x.subject, since, until, func(rec *archive.Record) error {
		if x.expired(rec) {
			n++
		}
		return nil
	})
	return n, err
}

// refusal says why n events are not replayed and what to do instead.
func (x replayExpiry) refusal(n int, since, until time.Time) error {
	what := "an event time"
	if x.field != "" {
		what = "a " + x.field
	}
	restoreUntil := minTime(until, x.before)
	return fmt.Errorf("replay: %d events of %s have %s before %s: its table keeps %d days of partitions (partition_expiration_days, from %s), so they would be written into expired partitions and vanish; nothing was sent.\n"+
		"  Restore them into a table of their own: hem restore --type %s --since %s --until %s\n"+
		"  Or replay only the newer ones: add --skip-expired",
		n, x.subject, what, x.before.Format(time.DateOnly), x.days, x.from,
		x.subject, since.UTC().Format(time.RFC3339), restoreUntil.UTC().Format(time.RFC3339))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
