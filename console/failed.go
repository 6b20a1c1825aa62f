package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	"github.com/hemlabs/hem/wire"
)

// The failed-events pages read the warehouse's _failed_events table (one
// row per failure, sink/duckdb and sink/bigquery): its columns are the
// FailedEvent's (stage, reason, message, violations as a list of
// {field_path, rule_id, message}, type, schema_id, event_id, producer,
// attempts, failed_at, original, origin) and the metadata columns
// (_event_id is the failure's Pub/Sub message id).
//
// Every query is bounded twice: by a window on failed_at, the table's
// partition column (BigQuery prunes partitions; DuckDB's zone maps skip
// row groups, rows arrive in time order), and by a LIMIT.

const failedTable = "_failed_events"

// Limits of the pages.
const (
	maxGroups     = 200 // groups listed
	groupPageSize = 50  // events shown per group page
	resendChunk   = 100 // events per Resend call
)

// maxReplayBatch is how many failures one replay takes (a var for tests).
var maxReplayBatch = 1000

// windows are the choices of the failed pages' time window.
var windows = []struct{ Key, Label string }{
	{"1h", "last hour"}, {"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"30d", "last 30 days"},
}

const defaultWindow = "7d"

// windowStart reads the window (1h, 24h, 7d, 30d) into its start; the
// error is a sentence for the page.
func windowStart(key string, now time.Time) (string, time.Time, error) {
	if key == "" {
		key = defaultWindow
	}
	for _, w := range windows {
		if w.Key != key {
			continue
		}
		n, _ := strconv.Atoi(key[:len(key)-1])
		d := time.Duration(n) * time.Hour
		if strings.HasSuffix(key, "d") {
			d *= 24
		}
		return key, now.Add(-d), nil
	}
	return key, time.Time{}, badWindow(key)
}

type badWindow string

func (w badWindow) Error() string {
	return fmt.Sprintf("The window %q is not one of 1h, 24h, 7d, 30d.", string(w))
}

// groupKey names a group of failures: type, reason, rule id, field path.
// A failure without violations is in the group of its type and reason
// with an empty rule and path.
type groupKey struct {
	Type, Reason, Rule, Path string
}

func groupKeyOf(v url.Values) groupKey {
	return groupKey{Type: v.Get("type"), Reason: v.Get("reason"), Rule: v.Get("rule"), Path: v.Get("path")}
}

// Query is the URL query naming the group (and the window); typed as a
// URL so that a template writes it after "?" as it is instead of escaping
// it as one value.
func (k groupKey) Query(window string) template.URL {
	v := url.Values{"type": {k.Type}, "reason": {k.Reason}, "rule": {k.Rule}, "path": {k.Path}}
	if window != "" {
		v.Set("since", window)
	}
	return template.URL(v.Encode()) //nolint:gosec // url.Values.Encode escapes every key and value
}

// String names the group for people (and the audit trail).
func (k groupKey) String() string {
	s := orDash(k.Type) + " · " + shortReason(k.Reason)
	if k.Rule != "" || k.Path != "" {
		s += " · " + orDash(k.Rule) + " at " + orDash(k.Path)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func shortReason(r string) string { return strings.TrimPrefix(r, "REASON_") }

// failedGroup is one line of the failed-events page.
type failedGroup struct {
	groupKey
	Failures    int64 // failures (a failure with two violations of the group counts twice)
	First, Last time.Time
}

// dialect holds what differs between DuckDB and BigQuery in the failed
// pages' SQL. Both take positional ? parameters.
type dialect struct {
	// base64 of a BYTES/BLOB expression, as a string.
	base64 func(string) string
	// toJSON of a list of structs, as a string.
	toJSON func(string) string
	// groups lists the groups of failures in a table since ? (the
	// columns of readGroups), at most limit.
	groups func(table string, limit int) string
	// inGroup is true for a failure with a violation of rule at path;
	// args follow. Rule and path "" also match a failure without
	// violations.
	inGroup func(rule, path string) (string, []any)
}

var dialects = map[string]dialect{
	// DuckDB: unnest in the select list and list functions, not a
	// lateral join or a correlated EXISTS, which DuckDB runs row by row
	// (30 and 40 times slower on 300 000 failures). No count of distinct
	// event ids: it cost 6 times the rest of the query.
	"duckdb": {
		base64: func(e string) string { return "base64(" + e + ")" },
		toJSON: func(e string) string { return "CAST(to_json(" + e + ") AS VARCHAR)" },
		groups: func(table string, limit int) string {
			return fmt.Sprintf(`SELECT type, reason, COALESCE(v.rule_id, '') AS rule_id, COALESCE(v.field_path, '') AS field_path,
  count(*) AS failures, min(failed_at) AS first_seen, max(failed_at) AS last_seen
FROM (SELECT COALESCE(type, '') AS type, COALESCE(reason, '') AS reason, failed_at,
    unnest(CASE WHEN len(violations) > 0 THEN violations ELSE [{'field_path': '', 'rule_id': '', 'message': ''}] END) AS v
  FROM %s WHERE failed_at >= ?)
GROUP BY 1, 2, 3, 4
ORDER BY last_seen DESC, failures DESC
LIMIT %d`, table, limit)
		},
		inGroup: func(rule, path string) (string, []any) {
			cond := "list_contains(list_transform(f.violations, x -> COALESCE(x.rule_id, '') || chr(0) || COALESCE(x.field_path, '')), ?)"
			if rule == "" && path == "" {
				cond = "(COALESCE(len(f.violations), 0) = 0 OR " + cond + ")"
			}
			return cond, []any{rule + "\x00" + path}
		},
	},
	// VERIFY: not run against BigQuery (bigquerytest has no query jobs).
	"bigquery": {
		base64: func(e string) string { return "TO_BASE64(" + e + ")" },
		toJSON: func(e string) string { return "TO_JSON_STRING(" + e + ")" },
		groups: func(table string, limit int) string {
			return fmt.Sprintf(`SELECT IFNULL(f.type, '') AS type, IFNULL(f.reason, '') AS reason,
  IFNULL(v.rule_id, '') AS rule_id, IFNULL(v.field_path, '') AS field_path,
  COUNT(*) AS failures,
  MIN(f.failed_at) AS first_seen, MAX(f.failed_at) AS last_seen
FROM %s AS f LEFT JOIN UNNEST(f.violations) AS v
WHERE f.failed_at >= ?
GROUP BY 1, 2, 3, 4
ORDER BY last_seen DESC, failures DESC
LIMIT %d`, table, limit)
		},
		inGroup: func(rule, path string) (string, []any) {
			cond := "EXISTS (SELECT 1 FROM UNNEST(f.violations) AS v WHERE IFNULL(v.rule_id, '') = ? AND IFNULL(v.field_path, '') = ?)"
			if rule == "" && path == "" {
				cond = "(ARRAY_LENGTH(f.violations) = 0 OR " + cond + ")"
			}
			return cond, []any{rule, path}
		},
	},
}

func dialectOf(w Warehouse) (dialect, error) {
	d, ok := dialects[w.Dialect()]
	if !ok {
		return d, fmt.Errorf("console: warehouse dialect %q: want duckdb or bigquery", w.Dialect())
	}
	return d, nil
}

// failureColumns are the columns a failure is read with (scanFailure).
func failureColumns(d dialect) string {
	return `f._event_id, f.event_id, f.stage, f.reason, f.message, f.type, f.schema_id, f.producer, f.attempts, f.failed_at, ` +
		d.base64("f.original") + ` AS original, ` + d.toJSON("f.violations") + ` AS violations, ` +
		`f.origin.source, f.origin.uri, f.origin.generation, f.origin.entry, f.origin.line, f.origin.record`
}

// groupWhere selects the failures of k since a time (and before
// another, unless zero); args follow.
func groupWhere(d dialect, k groupKey, since, before time.Time) (string, []any) {
	cond, cargs := d.inGroup(k.Rule, k.Path)
	where, args := "f.failed_at >= ? AND COALESCE(f.type, '') = ? AND COALESCE(f.reason, '') = ? AND "+cond, append([]any{since, k.Type, k.Reason}, cargs...)
	if !before.IsZero() {
		where += " AND f.failed_at < ?"
		args = append(args, before)
	}
	return where, args
}

// failure is one row of _failed_events.
type failure struct {
	MsgID, EventID, Stage, Reason, Message, Type, Producer string
	SchemaID, Attempts                                     int64
	FailedAt                                               time.Time
	Original                                               []byte
	Violations                                             []violation
	Origin                                                 *origin
}

type violation struct {
	FieldPath string `json:"field_path"`
	RuleID    string `json:"rule_id"`
	Message   string `json:"message"`
}

type origin struct {
	Source, URI, Entry, Record string
	Generation, Line           int64
}

func scanFailure(row []any) (failure, error) {
	if len(row) < 18 {
		return failure{}, fmt.Errorf("console: a failure row has %d columns, want 18", len(row))
	}
	f := failure{
		MsgID: asString(row[0]), EventID: asString(row[1]), Stage: asString(row[2]), Reason: asString(row[3]),
		Message: asString(row[4]), Type: asString(row[5]), SchemaID: asInt(row[6]), Producer: asString(row[7]),
		Attempts: asInt(row[8]), FailedAt: asTime(row[9]),
	}
	if s := asString(row[10]); s != "" {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return f, fmt.Errorf("console: failure %s: original: %w", f.MsgID, err)
		}
		f.Original = b
	}
	if s := asString(row[11]); s != "" && s != "null" {
		if err := json.Unmarshal([]byte(s), &f.Violations); err != nil {
			return f, fmt.Errorf("console: failure %s: violations: %w", f.MsgID, err)
		}
	}
	if src, uri := asString(row[12]), asString(row[13]); src != "" || uri != "" {
		f.Origin = &origin{Source: src, URI: uri, Generation: asInt(row[14]), Entry: asString(row[15]), Line: asInt(row[16]), Record: asString(row[17])}
	}
	return f, nil
}

// readGroups lists the groups since a time, newest first.
func readGroups(ctx context.Context, w Warehouse, since time.Time) ([]failedGroup, bool, error) {
	d, err := dialectOf(w)
	if err != nil {
		return nil, false, err
	}
	res, err := w.Query(ctx, d.groups(w.Table(failedTable), maxGroups+1), maxGroups+1, since)
	if err != nil {
		return nil, false, err
	}
	var out []failedGroup
	for _, r := range res.Rows {
		if len(r) < 7 {
			return nil, false, fmt.Errorf("console: a group row has %d columns, want 7", len(r))
		}
		out = append(out, failedGroup{
			groupKey: groupKey{Type: asString(r[0]), Reason: asString(r[1]), Rule: asString(r[2]), Path: asString(r[3])},
			Failures: asInt(r[4]), First: asTime(r[5]), Last: asTime(r[6]),
		})
	}
	more := len(out) > maxGroups || res.Truncated
	if len(out) > maxGroups {
		out = out[:maxGroups]
	}
	return out, more, nil
}

// readFailures returns the newest failures of group k since a time, at
// most limit, and whether there are more.
func readFailures(ctx context.Context, w Warehouse, k groupKey, since, before time.Time, limit int) ([]failure, bool, error) {
	d, err := dialectOf(w)
	if err != nil {
		return nil, false, err
	}
	where, args := groupWhere(d, k, since, before)
	q := fmt.Sprintf("SELECT %s FROM %s AS f WHERE %s ORDER BY f.failed_at DESC LIMIT %d", failureColumns(d), w.Table(failedTable), where, limit+1)
	res, err := w.Query(ctx, q, limit+1, args...)
	if err != nil {
		return nil, false, err
	}
	var out []failure
	for _, r := range res.Rows {
		f, err := scanFailure(r)
		if err != nil {
			return nil, false, err
		}
		out = append(out, f)
	}
	more := len(out) > limit || res.Truncated
	if len(out) > limit {
		out = out[:limit]
	}
	return out, more, nil
}

// schemas resolves contract versions for one request.
type schemas struct {
	reg      Registry
	versions map[string]map[int64]int // subject → schema id → version
	latest   map[string]int
	byKey    map[string]*contract.Schema // subject@version
	errs     map[string]error            // subject → why it could not be listed
}

func newSchemas(reg Registry) *schemas {
	return &schemas{reg: reg, versions: map[string]map[int64]int{}, latest: map[string]int{}, byKey: map[string]*contract.Schema{}, errs: map[string]error{}}
}

// get returns the version of subject with schema id id, or the latest
// when id is 0 or not one of the subject's.
func (s *schemas) get(ctx context.Context, subject string, id int64) (*contract.Schema, error) {
	if err, ok := s.errs[subject]; ok {
		return nil, err
	}
	ids, ok := s.versions[subject]
	if !ok {
		vs, err := s.reg.Versions(ctx, subject)
		if err != nil {
			s.errs[subject] = err
			return nil, err
		}
		ids = map[int64]int{}
		for _, v := range vs {
			ids[v.GetId()] = int(v.GetVersion())
			if int(v.GetVersion()) > s.latest[subject] {
				s.latest[subject] = int(v.GetVersion())
			}
		}
		s.versions[subject] = ids
	}
	v, ok := ids[id]
	if !ok {
		v = s.latest[subject]
	}
	if v == 0 {
		err := fmt.Errorf("subject %s has no versions", subject)
		s.errs[subject] = err
		return nil, err
	}
	key := fmt.Sprintf("%s@%d", subject, v)
	if sc, ok := s.byKey[key]; ok {
		return sc, nil
	}
	sc, err := s.reg.Version(ctx, subject, v)
	if err != nil {
		return nil, err
	}
	s.byKey[key] = sc
	return sc, nil
}

// decodedEvent is a failure as the group page and Find show it.
type decodedEvent struct {
	failure
	// From the original event.
	EventTime  time.Time
	Attributes map[string]string
	Version    int
	// Payload is the payload as JSON, PII masked unless the viewer may see
	// it; Editable the same without the PII fields (the edit form).
	Payload, Editable string
	// Note says why the event could not be decoded (or replayed).
	Note string
	// Replayable: the original event is there and decodes.
	Replayable bool
	// Accepted: a row with the event id is in the warehouse now (a replay
	// got it in, or the producer sent it again).
	Accepted bool
	event    *eventv1.Event
	schema   *contract.Schema
}

// subjectOfURL is the subject a type URL names.
func subjectOfURL(typeURL string) string {
	if i := strings.LastIndexByte(typeURL, '/'); i >= 0 {
		return typeURL[i+1:]
	}
	return typeURL
}

// decode turns a failure's original bytes into the event and its payload,
// decoded with the contract version it was checked against.
func decode(ctx context.Context, sc *schemas, f failure, seePII bool, keys FieldKeys) decodedEvent {
	d := decodedEvent{failure: f}
	if len(f.Original) == 0 {
		d.Note = "The original event was not kept (see the message), so it cannot be shown or replayed."
		return d
	}
	var ev eventv1.Event
	if err := proto.Unmarshal(f.Original, &ev); err != nil {
		d.Note = "The original bytes are not a hem.event.v1.Event: " + err.Error()
		return d
	}
	d.event = &ev
	d.Replayable = true
	d.EventTime = ev.GetEventTime().AsTime()
	if ev.GetEventTime() == nil {
		d.EventTime = time.Time{}
	}
	d.Attributes = ev.GetAttributes()
	subject := subjectOfURL(ev.GetPayload().GetTypeUrl())
	if subject == "" {
		d.Note = "The event has no payload."
		return d
	}
	id := f.SchemaID
	if id == 0 {
		id = ev.GetSchemaId()
	}
	s, err := sc.get(ctx, subject, id)
	if err != nil {
		d.Note = fmt.Sprintf("The registry has no contract for %s, so the payload (%d bytes) cannot be decoded.", subject, len(ev.GetPayload().GetValue()))
		return d
	}
	d.schema, d.Version = s, s.Version
	m := s.NewMessage()
	if err := wire.Unmarshal(proto.UnmarshalOptions{DiscardUnknown: false}, ev.GetPayload().GetValue(), m); err != nil {
		d.Note = fmt.Sprintf("The payload does not decode with %s v%d: %v", subject, s.Version, err)
		return d
	}
	if d.Payload, err = payloadJSON(m, s.Types(), seePII, newOpener(ctx, keys, m, s.Options().GetDataSubjectField())); err != nil {
		d.Note = err.Error()
		return d
	}
	if d.Editable, err = editableJSON(m, s.Types(), seePII); err != nil {
		d.Editable = ""
	}
	if len(m.GetUnknown()) > 0 {
		d.Note = fmt.Sprintf("The payload has %d bytes of fields %s v%d does not know (not shown).", len(m.GetUnknown()), subject, s.Version)
	}
	return d
}

// markAccepted sets Accepted on the events whose id has a row in their
// subject's table now. One point lookup per subject on _event_id (the
// table's key in DuckDB).
func markAccepted(ctx context.Context, w Warehouse, events []decodedEvent) error {
	bySubject := map[string][]int{}
	for i, e := range events {
		if e.schema != nil && e.EventID != "" {
			bySubject[e.schema.Subject] = append(bySubject[e.schema.Subject], i)
		}
	}
	for _, idx := range bySubject {
		table := contract.TableName(events[idx[0]].schema.Descriptor())
		ids := make([]string, 0, len(idx))
		for _, i := range idx {
			ids = append(ids, events[i].EventID)
		}
		found, err := rowsWithIDs(ctx, w, table, ids)
		if err != nil {
			return err
		}
		for _, i := range idx {
			events[i].Accepted = found[events[i].EventID]
		}
	}
	return nil
}

// rowsWithIDs returns which of ids have a row in table.
func rowsWithIDs(ctx context.Context, w Warehouse, table string, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := fmt.Sprintf("SELECT DISTINCT _event_id FROM %s WHERE _event_id IN (%s)", w.Table(table), strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", "))
		res, err := w.Query(ctx, q, len(chunk), args...)
		if err != nil {
			if isMissingTable(err) {
				return found, nil // no event of the subject arrived yet
			}
			return nil, err
		}
		for _, r := range res.Rows {
			if len(r) > 0 {
				found[asString(r[0])] = true
			}
		}
	}
	return found, nil
}

// isMissingTable recognises the warehouses' "no such table" errors: a
// subject whose first event has not arrived has no table yet.
func isMissingTable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "does not exist") || strings.Contains(s, "Not found: Table") || strings.Contains(s, "notFound")
}

// Values from a Warehouse: DuckDB's driver, BigQuery's client and the
// JSON-friendly form of duckdb.Warehouse.Query differ; these read all.

func asString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint64:
		return int64(x) //nolint:gosec // counts
	case float64:
		return int64(x)
	case *big.Int:
		return x.Int64()
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func asTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}

// failedPage is what ui/failed.html sees.
type failedPage struct {
	Window  string
	Windows any
	Groups  []failedGroup
	More    bool
}

// failedGroupPage is what ui/failed-group.html sees.
type failedGroupPage struct {
	Key      groupKey
	Window   string
	Query    template.URL // the group's URL query
	Events   []decodedEvent
	More     bool
	MayReply bool
}

// routesFailed: the failed-events pages, replay and dead-letter redrive.
func (s *Server) routesFailed(mux *http.ServeMux) {
	mux.HandleFunc("GET "+prefix+"failed", s.failedList)
	mux.HandleFunc("GET "+prefix+"failed/group", s.failedGroup)
	mux.HandleFunc("POST "+prefix+"failed/replay", s.failedReplay)
	mux.HandleFunc("GET "+prefix+"failed/deadletters", s.deadLetters)
	mux.HandleFunc("POST "+prefix+"failed/deadletters", s.deadLettersRedrive)
	mux.HandleFunc("GET "+prefix+"events", s.findEvent)
}

// noWarehouse answers for a page that needs the warehouse when there is
// none.
func (s *Server) noWarehouse(w http.ResponseWriter, r *http.Request) bool {
	if s.deps.Warehouse != nil {
		return false
	}
	s.fail(w, r, http.StatusNotFound, "This console has no warehouse configured, so it cannot read failed events.")
	return true
}

func (s *Server) failedList(w http.ResponseWriter, r *http.Request) {
	if s.noWarehouse(w, r) {
		return
	}
	window, since, err := windowStart(r.FormValue("since"), s.cfg.now())
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	groups, more, err := readGroups(r.Context(), s.deps.Warehouse, since)
	if err != nil && !isMissingTable(err) {
		s.failErr(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, "failed", failedPage{Window: window, Windows: windows, Groups: groups, More: more})
}

func (s *Server) failedGroup(w http.ResponseWriter, r *http.Request) {
	if s.noWarehouse(w, r) {
		return
	}
	window, since, err := windowStart(r.FormValue("since"), s.cfg.now())
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	k := groupKeyOf(r.URL.Query())
	if k.Reason == "" {
		s.fail(w, r, http.StatusBadRequest, "A group names at least its reason: open it from the failed events page.")
		return
	}
	events, more, err := s.groupEvents(r.Context(), k, since, time.Time{}, groupPageSize, viewerOf(r).MaySeePII, s.keysFor(viewerOf(r)))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if len(events) == 0 {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No failed events in the group %s in the %s.", k, windowLabel(window)))
		return
	}
	s.page(w, r, http.StatusOK, "failed-group", failedGroupPage{Key: k, Window: window, Query: k.Query(window), Events: events, More: more,
		MayReply: viewerOf(r).MayReplay && s.deps.Collector != nil})
}

func windowLabel(key string) string {
	for _, w := range windows {
		if w.Key == key {
			return w.Label
		}
	}
	return key
}

// groupEvents reads and decodes up to limit failures of k, newest first,
// that failed since a time (and before another, unless zero).
func (s *Server) groupEvents(ctx context.Context, k groupKey, since, before time.Time, limit int, seePII bool, keys FieldKeys) ([]decodedEvent, bool, error) {
	fs, more, err := readFailures(ctx, s.deps.Warehouse, k, since, before, limit)
	if err != nil {
		if isMissingTable(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	sc := newSchemas(s.deps.Registry)
	events := make([]decodedEvent, len(fs))
	for i, f := range fs {
		events[i] = decode(ctx, sc, f, seePII, keys)
	}
	if err := markAccepted(ctx, s.deps.Warehouse, events); err != nil {
		return nil, false, err
	}
	return events, more, nil
}

// Template helpers.

// ShortReason is the reason without its REASON_ prefix.
func (k groupKey) ShortReason() string { return shortReason(k.Reason) }

// ShortReason is the failure's reason without its REASON_ prefix.
func (f failure) ShortReason() string { return shortReason(f.Reason) }

// GroupQuery is the URL query of the failure's group (by its first
// violation) in the widest window.
func (f failure) GroupQuery() template.URL {
	k := groupKey{Type: f.Type, Reason: f.Reason}
	if len(f.Violations) > 0 {
		k.Rule, k.Path = f.Violations[0].RuleID, f.Violations[0].FieldPath
	}
	return k.Query("30d")
}

// WindowLabel says the window in words.
func (p failedPage) WindowLabel() string { return windowLabel(p.Window) }

// WindowLabel says the window in words.
func (p failedGroupPage) WindowLabel() string { return windowLabel(p.Window) }
