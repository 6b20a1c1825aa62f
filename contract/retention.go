package contract

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/hemlabs/hem/gen/hem/options/v1"
)

// Retention is how long hem's stores keep a type's data, as its contract
// declares it. Zero days means for ever.
type Retention struct {
	// WarehouseDays is the partition expiration of the type's table: an
	// event's partition_expiration_days, a rollup's retention_days.
	WarehouseDays int
	// ArchiveDays is how long the archive keeps an object of the type (an
	// event's archive_retention_days; rollups are not archived).
	ArchiveDays int
	// ColdAfterDays is when archive objects move to ColdStorageClass.
	ColdAfterDays int
	// ColdStorageClass is the GCS storage class archive objects move to,
	// DefaultColdStorageClass when the contract names none.
	ColdStorageClass string
	// Rollup is set for a rollup message (its WarehouseDays come from
	// (hem.options.v1.rollup).retention_days).
	Rollup bool
}

// DefaultColdStorageClass is where archive objects move when the contract
// sets archive_cold_after_days without a class.
const DefaultColdStorageClass = "COLDLINE"

// ColdStorageClasses are the GCS storage classes colder than STANDARD, with
// the minimum storage duration GCS bills for, in days.
var ColdStorageClasses = map[string]int{"NEARLINE": 30, "COLDLINE": 90, "ARCHIVE": 365}

// RetentionOf reads the retention options of an event or rollup message;
// the zero Retention (keep everything) for any other message.
func RetentionOf(md protoreflect.MessageDescriptor) Retention {
	if ev, ok := EventOptions(md); ok {
		r := Retention{
			WarehouseDays:    int(ev.GetPartitionExpirationDays()),
			ArchiveDays:      int(ev.GetArchiveRetentionDays()),
			ColdAfterDays:    int(ev.GetArchiveColdAfterDays()),
			ColdStorageClass: ev.GetArchiveColdStorageClass(),
		}
		if r.ColdStorageClass == "" {
			r.ColdStorageClass = DefaultColdStorageClass
		}
		return r
	}
	if ro, ok := rollupOptions(md); ok {
		return Retention{WarehouseDays: int(ro.GetRetentionDays()), ColdStorageClass: DefaultColdStorageClass, Rollup: true}
	}
	return Retention{ColdStorageClass: DefaultColdStorageClass}
}

// rollupOptions returns the (hem.options.v1.rollup) option of md.
func rollupOptions(md protoreflect.MessageDescriptor) (*optionsv1.RollupOptions, bool) {
	if v, found, typed := typedExtension[*optionsv1.RollupOptions](md.Options(), optionsv1.E_Rollup.TypeDescriptor().Number()); typed {
		return v, found
	}
	var opts descriptorpb.MessageOptions
	if !typedOptions(md.Options(), &opts) || !proto.HasExtension(&opts, optionsv1.E_Rollup) {
		return nil, false
	}
	ro, ok := proto.GetExtension(&opts, optionsv1.E_Rollup).(*optionsv1.RollupOptions)
	return ro, ok
}

// Problems lists what is wrong with the retention options, each naming the
// option and the rule (EV-L10 in registry/compat), or nil.
func (r Retention) Problems() []string {
	var out []string
	warehouse := "partition_expiration_days"
	if r.Rollup {
		warehouse = "retention_days"
	}
	for _, o := range []struct {
		name string
		days int
	}{{warehouse, r.WarehouseDays}, {"archive_retention_days", r.ArchiveDays}, {"archive_cold_after_days", r.ColdAfterDays}} {
		if o.days < 0 {
			out = append(out, fmt.Sprintf("%s must not be negative (zero keeps for ever), got %d", o.name, o.days))
		}
	}
	if _, ok := ColdStorageClasses[r.ColdStorageClass]; !ok {
		out = append(out, fmt.Sprintf("archive_cold_storage_class %q is not a colder GCS storage class: choose NEARLINE, COLDLINE or ARCHIVE", r.ColdStorageClass))
	}
	if r.ArchiveDays > 0 && r.ColdAfterDays >= r.ArchiveDays {
		out = append(out, fmt.Sprintf("archive_cold_after_days (%d) must be less than archive_retention_days (%d): objects would be deleted before they move", r.ColdAfterDays, r.ArchiveDays))
	}
	return out
}

// WarehouseExpiredBefore is the partition time before which rows are gone
// from the warehouse at now, or the zero time when it keeps them for ever:
// a day partition counts as expired its expiration after the day starts
// (UTC), the earliest BigQuery may drop it, so that hem never writes into a
// partition about to go.
func (r Retention) WarehouseExpiredBefore(now time.Time) time.Time {
	if r.WarehouseDays <= 0 {
		return time.Time{}
	}
	return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1-r.WarehouseDays)
}
