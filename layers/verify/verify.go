// Package verify compares the archive with the warehouse: per event type
// and day of event time, the distinct event ids in the archive against
// those in the warehouse table. Every event goes to both sinks through
// their own subscriptions, so after both caught up they hold the same ids;
// a day where they differ is a gap (an archive object lost or deleted, a
// warehouse write that never landed), which Run lists with a few of the
// ids missing on each side.
//
// Each side is digested to a Sum (count and checksum of the distinct ids);
// only a day whose sums differ reads the warehouse's ids of that day, to
// name the missing ones. The archive side reads only the _event_id column
// of the objects in range. Days older than the table's partition
// expiration are not compared: the warehouse dropped them on purpose, and
// `hem restore` brings them back from the archive.
package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/archive"
)

// Warehouse is what verify reads of a warehouse. A table that does not
// exist holds no ids.
type Warehouse interface {
	// DaySums digests the distinct ids of table per UTC day of
	// _event_time in [since, until).
	DaySums(ctx context.Context, table string, since, until time.Time) (map[time.Time]Sum, error)
	// DayIDs returns the distinct ids of table whose _event_time is in
	// the UTC day starting at day.
	DayIDs(ctx context.Context, table string, day time.Time) ([]string, error)
}

// Archive is what verify reads of the archive (*archive.Reader).
type Archive interface {
	Subjects(ctx context.Context) ([]string, error)
	Objects(ctx context.Context, subject string, since, until time.Time) ([]archive.Object, error)
	Schemas(ctx context.Context, objects []archive.Object) ([]*contract.Schema, error)
	IDs(ctx context.Context, objects []archive.Object, fn func(archive.Object, []string) error) error
}

var _ Archive = (*archive.Reader)(nil)

// Config is one verification.
type Config struct {
	// Since and Until bound the event time: Since is taken back to its
	// day's start, Until to its hour's (archive objects are hours).
	Since, Until time.Time
	// Subjects to check; empty means every subject in the archive.
	Subjects []string
	// Now decides which days are past the warehouse's retention (default
	// time.Now).
	Now func() time.Time
	// Samples is how many missing ids a gap lists per side (default 5).
	Samples int
	// Progress, if set, is called after each day of each subject.
	Progress func(Day)
}

// Day is the comparison of one subject's day.
type Day struct {
	Subject string
	Table   string
	Day     time.Time
	// Archive and Warehouse digest each side's distinct ids.
	Archive, Warehouse Sum
	// Expired reports a day past the table's partition expiration: not
	// compared.
	Expired bool
}

// Gap is a day whose archive and warehouse hold different ids.
type Gap struct {
	Day
	// NotInWarehouse and NotInArchive are a few of the ids missing on
	// each side, sorted.
	NotInWarehouse, NotInArchive []string
}

// Report is what a verification found.
type Report struct {
	Since, Until time.Time
	Days         []Day
	Gaps         []Gap
}

// Expired counts the days not compared because the warehouse let them go.
func (r *Report) Expired() int {
	n := 0
	for _, d := range r.Days {
		if d.Expired {
			n++
		}
	}
	return n
}

// ErrGaps is returned (wrapped) by Run when it found a gap; the report is
// complete all the same.
var ErrGaps = errors.New("verify: the archive and the warehouse differ")

// Run compares the archive with the warehouse. It returns the report and,
// when there are gaps, an error wrapping ErrGaps.
func Run(ctx context.Context, a Archive, w Warehouse, cfg Config) (*Report, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Samples == 0 {
		cfg.Samples = 5
	}
	since := cfg.Since.UTC().Truncate(24 * time.Hour)
	until := cfg.Until.UTC().Truncate(time.Hour)
	if !until.After(since) {
		return nil, fmt.Errorf("verify: empty window [%s, %s)", since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	subjects := cfg.Subjects
	if len(subjects) == 0 {
		var err error
		if subjects, err = a.Subjects(ctx); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
	}
	rep := &Report{Since: since, Until: until}
	for _, subject := range subjects {
		if err := verifySubject(ctx, a, w, cfg, subject, rep); err != nil {
			return rep, fmt.Errorf("verify: %s: %w", subject, err)
		}
	}
	if len(rep.Gaps) > 0 {
		return rep, fmt.Errorf("%w: %d gaps", ErrGaps, len(rep.Gaps))
	}
	return rep, nil
}

func verifySubject(ctx context.Context, a Archive, w Warehouse, cfg Config, subject string, rep *Report) error {
	objects, err := a.Objects(ctx, subject, rep.Since, rep.Until)
	if err != nil {
		return err
	}
	if len(objects) == 0 {
		return nil // nothing archived: the table's name is unknown too
	}
	schemas, err := a.Schemas(ctx, objects)
	if err != nil {
		return err
	}
	if len(schemas) == 0 {
		return fmt.Errorf("no schema in the archive's objects")
	}
	t, err := contract.MapTable(schemas[len(schemas)-1].Descriptor())
	if err != nil {
		return err
	}
	var retained time.Time // days before it are past the table's retention
	if t.PartitionExpirationDays > 0 {
		retained = cfg.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -t.PartitionExpirationDays)
	}
	warehouse, err := w.DaySums(ctx, t.Name, rep.Since, rep.Until)
	if err != nil {
		return err
	}
	// Objects come in name order, so day by day; one day's ids are held
	// at a time.
	byDay := map[time.Time][]archive.Object{}
	var days []time.Time
	for _, o := range objects {
		d := o.Hour.Truncate(24 * time.Hour)
		if _, ok := byDay[d]; !ok {
			days = append(days, d)
		}
		byDay[d] = append(byDay[d], o)
	}
	for d := range warehouse {
		if _, ok := byDay[d]; !ok {
			days = append(days, d)
			byDay[d] = nil
		}
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	for _, d := range days {
		day := Day{Subject: subject, Table: t.Name, Day: d, Warehouse: warehouse[d], Expired: d.Before(retained)}
		ids := map[string]struct{}{}
		err := a.IDs(ctx, byDay[d], func(_ archive.Object, batch []string) error {
			for _, id := range batch {
				if _, ok := ids[id]; !ok {
					ids[id] = struct{}{}
					day.Archive.Add(id)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		rep.Days = append(rep.Days, day)
		if cfg.Progress != nil {
			cfg.Progress(day)
		}
		if day.Expired || day.Archive == day.Warehouse {
			continue
		}
		gap := Gap{Day: day}
		have, err := w.DayIDs(ctx, t.Name, d)
		if err != nil {
			return err
		}
		inWarehouse := make(map[string]struct{}, len(have))
		for _, id := range have {
			inWarehouse[id] = struct{}{}
			if _, ok := ids[id]; !ok {
				gap.NotInArchive = append(gap.NotInArchive, id)
			}
		}
		for id := range ids {
			if _, ok := inWarehouse[id]; !ok {
				gap.NotInWarehouse = append(gap.NotInWarehouse, id)
			}
		}
		gap.NotInArchive = sample(gap.NotInArchive, cfg.Samples)
		gap.NotInWarehouse = sample(gap.NotInWarehouse, cfg.Samples)
		rep.Gaps = append(rep.Gaps, gap)
	}
	return nil
}

func sample(ids []string, n int) []string {
	slices.Sort(ids)
	if len(ids) > n {
		ids = ids[:n]
	}
	return ids
}
