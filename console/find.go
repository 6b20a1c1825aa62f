package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/archive"
)

// ArchiveLocator is an Archive that can also name the object holding an
// event: Find shows it. Without one, Find shows the hour's prefix where
// the archive sink writes the event (sink/archive.ObjectPath).
type ArchiveLocator interface {
	// Locate returns the object (gs://BUCKET/NAME) holding event id of
	// subject archived at eventTime's hour, or "" when none does.
	Locate(ctx context.Context, subject string, eventTime time.Time, eventID string) (string, error)
}

const (
	maxEventIDLen   = 256
	maxFindFailures = 20
)

// foundRow is an event's row in its subject's table.
type foundRow struct {
	Subject, Table string
	EventTime      time.Time
	Columns        []foundColumn
	// Archive: the object holding the event, or the prefix it is under.
	ArchiveObject, ArchivePrefix string
	ArchiveNote                  string
}

type foundColumn struct {
	Name, Value string
	Masked      bool
}

// findPage is what ui/find.html sees.
type findPage struct {
	ID       string
	Verdict  string
	Bad      bool
	Failures []decodedEvent
	Rows     []foundRow
	Searched []string // tables looked in
	Notes    []string
}

func (s *Server) findEvent(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.FormValue("id"))
	if id == "" {
		s.page(w, r, http.StatusOK, "find", findPage{})
		return
	}
	if len(id) > maxEventIDLen {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("An event id has at most %d characters; this one has %d.", maxEventIDLen, len(id)))
		return
	}
	if s.noWarehouse(w, r) {
		return
	}
	ctx := r.Context()
	v := viewerOf(r)
	p := findPage{ID: id}
	fs, err := s.failuresByID(ctx, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	sc := newSchemas(s.deps.Registry)
	for _, f := range fs {
		p.Failures = append(p.Failures, decode(ctx, sc, f, v.MaySeePII, s.keysFor(v)))
	}
	// Where to look for a row: the subject the failures name, else every
	// subject the registry knows.
	var subjects []string
	for _, f := range p.Failures {
		if f.schema != nil && !containsString(subjects, f.schema.Subject) {
			subjects = append(subjects, f.schema.Subject)
		}
	}
	if len(subjects) == 0 {
		infos, err := s.deps.Registry.Subjects(ctx)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		for _, si := range infos {
			subjects = append(subjects, si.GetSubject())
		}
	}
	rows, searched, err := s.rowsByID(ctx, sc, subjects, id, v.MaySeePII, s.keysFor(v))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	p.Rows, p.Searched = rows, searched
	for i := range p.Rows {
		s.locate(ctx, &p.Rows[i], id)
	}
	switch {
	case len(p.Rows) > 0 && len(p.Failures) > 0:
		p.Verdict = fmt.Sprintf("Accepted: its row is in %s. It was rejected %d time(s) before (below), then replayed or sent again.", p.Rows[0].Table, len(p.Failures))
	case len(p.Rows) > 0:
		p.Verdict = "Accepted: its row is in " + p.Rows[0].Table + "."
	case len(p.Failures) > 0:
		f := p.Failures[0]
		p.Verdict, p.Bad = fmt.Sprintf("Rejected at %s: %s (%s).", strings.ToLower(strings.TrimPrefix(f.Stage, "STAGE_")), shortReason(f.Reason), f.Message), true
	default:
		p.Verdict, p.Bad = fmt.Sprintf("Nothing was found for the event id %q: no failed event in %s, no row in the tables of %d subjects (%s). An event accepted seconds ago may not have reached the warehouse yet; an id is matched exactly.",
			id, failedTable, len(searched), strings.Join(searched, ", ")), true
		s.page(w, r, http.StatusNotFound, "find", p)
		return
	}
	s.page(w, r, http.StatusOK, "find", p)
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// failuresByID returns the failures of event id, newest first.
func (s *Server) failuresByID(ctx context.Context, id string) ([]failure, error) {
	w := s.deps.Warehouse
	d, err := dialectOf(w)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf("SELECT %s FROM %s AS f WHERE f.event_id = ? ORDER BY f.failed_at DESC LIMIT %d", failureColumns(d), w.Table(failedTable), maxFindFailures)
	res, err := w.Query(ctx, q, maxFindFailures, id)
	if err != nil {
		if isMissingTable(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []failure
	for _, r := range res.Rows {
		f, err := scanFailure(r)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// rowsByID looks up event id in the tables of subjects (their latest
// versions' tables), in parallel: a point lookup on _event_id each, the
// DuckDB tables' key. PII columns are not even selected for a viewer
// who may not see them.
func (s *Server) rowsByID(ctx context.Context, sc *schemas, subjects []string, id string, seePII bool, keys FieldKeys) ([]foundRow, []string, error) {
	type target struct {
		subject      string
		table        *contract.Table
		subjectField string
	}
	var targets []target
	var searched []string
	for _, subject := range subjects {
		schema, err := sc.get(ctx, subject, 0)
		if err != nil || contract.IsRollup(schema.Descriptor()) {
			continue // a rollup's rows are aggregates: no event id
		}
		t, err := contract.MapTable(schema.Descriptor())
		if err != nil {
			continue
		}
		targets = append(targets, target{subject, t, schema.Options().GetDataSubjectField()})
		searched = append(searched, t.Name)
	}
	var mu sync.Mutex
	var rows []foundRow
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, tg := range targets {
		g.Go(func() error {
			row, ok, err := s.rowByID(gctx, tg.subject, tg.table, id, seePII, keys, tg.subjectField)
			if err != nil || !ok {
				return err
			}
			mu.Lock()
			rows = append(rows, row)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return rows, searched, nil
}

// rowByID reads the row of event id in t. An encrypted column reads
// encryptedText, never its ciphertext; with keys (a viewer who may
// decrypt), a string column is decrypted with the key of the row's data
// subject (the column subjectField).
func (s *Server) rowByID(ctx context.Context, subject string, t *contract.Table, id string, seePII bool, keys FieldKeys, subjectField string) (foundRow, bool, error) {
	w := s.deps.Warehouse
	var sel []string
	var cols []foundColumn
	decrypt := map[int]protoreflect.FieldDescriptor{} // columns to decrypt, by index in cols
	for _, c := range t.Columns {
		fc := foundColumn{Name: c.Name}
		if c.Field != nil && contract.Encrypted(c.Field) {
			if keys == nil || c.Type != contract.String || c.Mode == contract.Repeated {
				fc.Masked, fc.Value = true, encryptedText
				cols = append(cols, fc)
				continue
			}
			decrypt[len(cols)] = c.Field
		} else if !seePII {
			if h := columnPII(c); h != "" {
				fc.Masked, fc.Value = true, maskText(h)
				cols = append(cols, fc)
				continue
			}
		}
		sel = append(sel, c.Name) // letters, digits, underscores: contract.MapTable checks them
		cols = append(cols, fc)
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE _event_id = ? LIMIT 1", strings.Join(sel, ", "), w.Table(t.Name))
	res, err := w.Query(ctx, q, 1, id)
	if err != nil {
		if isMissingTable(err) {
			return foundRow{}, false, nil
		}
		return foundRow{}, false, fmt.Errorf("table %s: %w", t.Name, err)
	}
	if len(res.Rows) == 0 {
		return foundRow{}, false, nil
	}
	row := foundRow{Subject: subject, Table: t.Name}
	vals := res.Rows[0]
	j := 0
	for i := range cols {
		if cols[i].Masked {
			continue
		}
		if j < len(vals) {
			cols[i].Value = displayValue(vals[j])
			if cols[i].Name == contract.ColEventTime {
				row.EventTime = asTime(vals[j])
			}
		}
		j++
	}
	if len(decrypt) > 0 {
		o := &opener{ctx: ctx, keys: keys, typ: t.Subject, subjectField: subjectField}
		for _, c := range cols {
			if subjectField != "" && c.Name == subjectField {
				o.subject = c.Value
			}
		}
		for i, fd := range decrypt {
			if cols[i].Value == "" || cols[i].Value == "NULL" {
				continue
			}
			pt, err := o.open(fd, cols[i].Value)
			if err != nil {
				cols[i].Value = err.Error()
				continue
			}
			cols[i].Value = string(pt)
		}
	}
	row.Columns = cols
	return row, true, nil
}

// columnPII is the PII handling of a column's field, or "HOLDS PII" for a
// record with a PII field inside (masked whole).
func columnPII(c contract.Column) string {
	if c.Field != nil {
		if h := piiHandling(c.Field); h != "" {
			return h
		}
	}
	for _, sub := range c.Fields {
		if columnPII(sub) != "" {
			return "RECORD WITH PII"
		}
	}
	return ""
}

func displayValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return fmt.Sprintf("%d bytes", len(x))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

var _ ArchiveLocator = (*GCSArchive)(nil)

// errFound stops a reading of the archive at the event looked for.
var errFound = errors.New("found")

// Locate implements ArchiveLocator: it reads the objects of the hour of
// eventTime (the archive sink's partition of the event) until one holds
// event id.
func (a *GCSArchive) Locate(ctx context.Context, subject string, eventTime time.Time, eventID string) (string, error) {
	hour := eventTime.UTC().Truncate(time.Hour)
	var object string
	err := archive.NewBucketReader(a.bucket, a.prefix).Events(ctx, subject, hour, hour.Add(time.Hour), func(rec *archive.Record) error {
		if rec.EventID == eventID {
			object = rec.Object
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", err
	}
	if object == "" {
		return "", nil
	}
	return "gs://" + a.bucket.BucketName() + "/" + object, nil
}

// locate fills the row's archive object (or prefix).
func (s *Server) locate(ctx context.Context, row *foundRow, id string) {
	if row.EventTime.IsZero() {
		return
	}
	row.ArchivePrefix = archive.ObjectPath("events/", row.Subject, row.EventTime)
	l, ok := s.deps.Archive.(ArchiveLocator)
	if !ok {
		row.ArchiveNote = "the archive sink writes it under this prefix (the hour of its event time); this console cannot open archive objects"
		return
	}
	obj, err := l.Locate(ctx, row.Subject, row.EventTime, id)
	switch {
	case err != nil:
		row.ArchiveNote = "the archive could not be searched: " + err.Error()
	case obj == "":
		row.ArchiveNote = "not in the archive under this prefix (yet: the archive writes files every few minutes)"
	default:
		row.ArchiveObject = obj
	}
}
