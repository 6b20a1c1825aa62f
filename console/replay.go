package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// Checker is a Resender that can also check events without sending them:
// the collector's answer for each, publishing nothing, neither the event
// nor a FailedEvent (collector.Collector.Check). A replay checks every
// event first when its Resender is a Checker.
type Checker interface {
	Check(ctx context.Context, events []*eventv1.Event) ([]*collectorv1.EventResult, error)
}

// What a replay does (POST /ui/failed/replay):
//
//  1. It takes the failures of a group in the window (at most
//     maxReplayBatch, newest first), one per event id (the newest), or one
//     event with an edited payload (field id and payload).
//  2. It leaves out the events that have a row in the warehouse already
//     (replayed before, or sent again by their producer) and those whose
//     original event was not kept.
//  3. Without confirm=1 it is a dry run: it counts them and, when the
//     Resender is a Checker, has the collector check each one (nothing is
//     published) and lists the verdicts.
//  4. With confirm=1 it checks again (the contract may have changed since
//     the dry run) and then, with mode=all (the default), sends all of them
//     or none: if any one is still invalid, nothing is sent and the page
//     lists each invalid event with its violations (422). With
//     mode=passing it sends those that pass and lists the rest, unsent.
//     Events keep their ids, so the warehouse keeps one row per event.
//  5. Each sent event gets the collector's answer on the page (ACCEPTED,
//     REJECTED if the contract changed between the check and the send,
//     RETRY if Pub/Sub did not take it: replay again, it is safe). The
//     replay is recorded in the Audit trail.
//
// A Resender that is not a Checker (a collector reached over gRPC) cannot
// check without sending: the dry run only counts, and each event is
// checked as it is sent; those still invalid are rejected again and
// listed (the collector records them as FailedEvents once more; the
// warehouse keeps one row per failure, so a repeated failure adds none).
// The page says so.

// replayItem is one event of a replay and what became of it.
type replayItem struct {
	EventID    string
	Type       string
	FailedAt   time.Time
	State      string // pass, invalid, unchecked, skipped, accepted, rejected, retry, unsent
	Reason     string
	Message    string
	Violations []*eventv1.Violation
	AckNote    string // dead letters: acked or why not
	event      *eventv1.Event
	ackID      string
}

// replayPage is what ui/failed-replay.html sees.
type replayPage struct {
	What   string
	Group  bool
	Query  template.URL // the group's URL query (form fields below)
	Key    groupKey
	Window string
	// Before bounds the group's failures to those older (a later batch);
	// Next is the bound of the batch after this one.
	Before, Next string
	EventID      string // an edited event's id
	Payload      string // and its edited payload
	// Redrive: a dead-letter subscription's redrive.
	Redrive      bool
	Subscription string
	Max          int

	DryRun     bool
	CanCheck   bool
	Items      []replayItem
	Candidates int // events that would be sent
	Pass       int
	Invalid    int
	Unchecked  int
	Skipped    int // in the warehouse already, or not replayable
	More       bool
	Sent       int
	Accepted   int
	Rejected   int
	Retry      int
	Headline   string
	Bad        bool // the headline is a failure
	OfferAll   bool
	OfferPass  bool
	AuditNote  string
	ModePassed bool
}

func (s *Server) failedReplay(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	if !v.MayReplay {
		s.fail(w, r, http.StatusForbidden, "You may not replay events: ask for the replay permission.")
		return
	}
	if s.deps.Collector == nil {
		s.fail(w, r, http.StatusNotFound, "This console has no collector configured, so it cannot replay events.")
		return
	}
	if s.noWarehouse(w, r) {
		return
	}
	mode := r.PostFormValue("mode")
	if mode != "" && mode != "all" && mode != "passing" {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The replay mode %q is not one of all, passing.", mode))
		return
	}
	p := &replayPage{DryRun: r.PostFormValue("confirm") != "1", ModePassed: mode == "passing"}
	_, p.CanCheck = s.deps.Collector.(Checker)
	var items []replayItem
	if id := strings.TrimSpace(r.PostFormValue("id")); id != "" {
		it, status, msg := s.editedEvent(r.Context(), id, r.PostFormValue("payload"), v)
		if msg != "" {
			s.fail(w, r, status, msg)
			return
		}
		items = []replayItem{it}
		p.EventID, p.Payload, p.What = id, r.PostFormValue("payload"), "event "+id+" (edited)"
	} else {
		window, since, err := windowStart(r.PostFormValue("since"), s.cfg.now())
		if err != nil {
			s.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		k := groupKeyOf(r.PostForm)
		if k.Reason == "" {
			s.fail(w, r, http.StatusBadRequest, "A replay names a group (type, reason, rule, path) or an event (id): open it from the failed events page.")
			return
		}
		var before time.Time
		if b := r.PostFormValue("before"); b != "" {
			if before, err = time.Parse(time.RFC3339Nano, b); err != nil {
				s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("before=%q is not an RFC 3339 time.", b))
				return
			}
			p.Before = b
		}
		p.Group, p.Key, p.Window, p.Query, p.What = true, k, window, k.Query(window), "group "+k.String()
		events, more, err := s.groupEvents(r.Context(), k, since, before, maxReplayBatch, false, nil)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if len(events) == 0 {
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No failed events in the group %s in the %s: nothing to replay.", k, windowLabel(window)))
			return
		}
		// One replay takes the newest maxReplayBatch failures; the next
		// batch is those older than the oldest of them (Next), so events
		// in the warehouse already never hide older ones.
		if p.More = more; more {
			p.Next = events[len(events)-1].FailedAt.UTC().Format(time.RFC3339Nano)
		}
		items = replayItems(events)
	}
	status := s.runReplay(r.Context(), p, items)
	if !p.DryRun && p.Sent > 0 {
		s.audit(r.Context(), p, v, "replay")
	}
	s.page(w, r, status, "failed-replay", p)
}

// replayItems turns the failures of a group into replay items, one per
// event id (the newest failure: events are newest first).
func replayItems(events []decodedEvent) []replayItem {
	seen := map[string]bool{}
	var out []replayItem
	for _, e := range events {
		if e.EventID != "" && seen[e.EventID] {
			continue
		}
		seen[e.EventID] = true
		it := replayItem{EventID: e.EventID, Type: e.Type, FailedAt: e.FailedAt, event: e.event}
		switch {
		case e.Accepted:
			it.State, it.Message = "skipped", "in the warehouse already: not sent again"
		case !e.Replayable:
			it.State, it.Message = "skipped", e.Note
		}
		out = append(out, it)
	}
	return out
}

// runReplay checks (when it can) and, unless a dry run, sends the items
// that are not skipped; it fills p and returns the page's status.
func (s *Server) runReplay(ctx context.Context, p *replayPage, items []replayItem) int {
	var todo []int
	for i := range items {
		if items[i].State == "" {
			todo = append(todo, i)
		} else {
			p.Skipped++
		}
	}
	p.Candidates = len(todo)
	if len(todo) == 0 {
		p.Items = items
		p.Headline = "Nothing to replay: every event of this selection is in the warehouse already or cannot be replayed."
		return http.StatusOK
	}
	if checker, ok := s.deps.Collector.(Checker); ok {
		if err := checkItems(ctx, checker, items, todo); err != nil {
			p.Items = items
			p.Headline, p.Bad = "The collector could not check the events, so nothing was sent: "+err.Error(), true
			return http.StatusServiceUnavailable
		}
	} else {
		for _, i := range todo {
			items[i].State = "unchecked"
		}
	}
	for _, i := range todo {
		switch items[i].State {
		case "pass":
			p.Pass++
		case "invalid":
			p.Invalid++
		default:
			p.Unchecked++
		}
	}
	p.Items = items
	if p.DryRun {
		p.OfferAll = p.Invalid == 0 && p.Pass+p.Unchecked > 0
		p.OfferPass = p.Invalid > 0 && p.Pass > 0
		switch {
		case !p.CanCheck:
			p.Headline = fmt.Sprintf("Dry run: %d events would be resent. This collector cannot check without sending: each is checked as it is resent, and those still invalid are listed after.", p.Candidates)
		case p.Invalid == 0:
			p.Headline = fmt.Sprintf("Dry run: all %d events pass the collector's checks now; nothing was sent yet.", p.Candidates)
		default:
			p.Headline, p.Bad = fmt.Sprintf("Dry run: %d of %d events are still invalid (listed below with their violations); %d pass. Nothing was sent.", p.Invalid, p.Candidates, p.Pass), true
		}
		return http.StatusOK
	}
	var send []int
	for _, i := range todo {
		switch items[i].State {
		case "pass", "unchecked":
			send = append(send, i)
		}
	}
	if p.Invalid > 0 && !p.ModePassed {
		for _, i := range send {
			items[i].State, items[i].Message = "unsent", "not sent: the replay sends all or none, and others are still invalid"
		}
		p.Headline, p.Bad = fmt.Sprintf("Nothing was sent: %d of %d events are still invalid (listed below with their violations). Fix the contract or the events and replay again, or send only the %d that pass.", p.Invalid, p.Candidates, p.Pass), true
		p.OfferPass = p.Pass > 0
		return http.StatusUnprocessableEntity
	}
	for _, i := range todo {
		if items[i].State == "invalid" {
			items[i].Message = "not sent: still invalid"
		}
	}
	if err := s.sendItems(ctx, items, send, p); err != nil {
		p.Headline, p.Bad = fmt.Sprintf("The collector failed after %d of %d events were answered: %v. Replay again: events keep their ids, so those already in are not doubled.", p.Accepted+p.Rejected+p.Retry, len(send), err), true
		return http.StatusServiceUnavailable
	}
	switch {
	case p.Rejected == 0 && p.Retry == 0 && p.Invalid == 0:
		p.Headline = fmt.Sprintf("Replayed: the collector accepted all %d events.", p.Accepted)
		return http.StatusOK
	case p.Rejected == 0 && p.Retry == 0:
		p.Headline = fmt.Sprintf("Replayed %d events that pass; %d still invalid were not sent (listed below).", p.Accepted, p.Invalid)
		return http.StatusOK
	default:
		p.Headline, p.Bad = fmt.Sprintf("Replayed: %d accepted, %d rejected (still invalid, listed below), %d not taken this time (replay again).", p.Accepted, p.Rejected, p.Retry), true
		return http.StatusUnprocessableEntity
	}
}

// checkItems asks the collector's verdict on items[todo], publishing
// nothing.
func checkItems(ctx context.Context, c Checker, items []replayItem, todo []int) error {
	for start := 0; start < len(todo); start += resendChunk {
		chunk := todo[start:min(start+resendChunk, len(todo))]
		events := make([]*eventv1.Event, len(chunk))
		for j, i := range chunk {
			events[j] = items[i].event
		}
		res, err := c.Check(ctx, events)
		if err != nil {
			return err
		}
		if len(res) != len(chunk) {
			return fmt.Errorf("the collector answered %d results for %d events", len(res), len(chunk))
		}
		for j, i := range chunk {
			switch res[j].GetStatus() {
			case collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
				items[i].State = "pass"
			case collectorv1.EventStatus_EVENT_STATUS_REJECTED:
				items[i].State = "invalid"
				items[i].Reason, items[i].Message, items[i].Violations = shortReason(res[j].GetReason().String()), res[j].GetMessage(), res[j].GetViolations()
			default:
				items[i].State, items[i].Message = "unchecked", "could not be checked now: "+res[j].GetMessage()
			}
		}
	}
	return nil
}

// sendItems resends items[send] in chunks and records each answer.
func (s *Server) sendItems(ctx context.Context, items []replayItem, send []int, p *replayPage) error {
	for start := 0; start < len(send); start += resendChunk {
		chunk := send[start:min(start+resendChunk, len(send))]
		events := make([]*eventv1.Event, len(chunk))
		for j, i := range chunk {
			events[j] = items[i].event
		}
		res, err := s.deps.Collector.Resend(ctx, events)
		if err != nil {
			for _, i := range send[start:] {
				items[i].State, items[i].Message = "unsent", "not sent: the collector failed"
			}
			return err
		}
		if len(res) != len(chunk) {
			return fmt.Errorf("the collector answered %d results for %d events", len(res), len(chunk))
		}
		p.Sent += len(chunk)
		for j, i := range chunk {
			switch res[j].GetStatus() {
			case collectorv1.EventStatus_EVENT_STATUS_ACCEPTED:
				items[i].State, items[i].Message = "accepted", "resent and accepted"
				p.Accepted++
			case collectorv1.EventStatus_EVENT_STATUS_REJECTED:
				items[i].State = "rejected"
				items[i].Reason, items[i].Message, items[i].Violations = shortReason(res[j].GetReason().String()), "rejected again: "+res[j].GetMessage(), res[j].GetViolations()
				p.Rejected++
			default:
				items[i].State, items[i].Message = "retry", "not taken this time: "+res[j].GetMessage()
				p.Retry++
			}
		}
	}
	return nil
}

// audit records a replay or redrive; the page says when it could not.
func (s *Server) audit(ctx context.Context, p *replayPage, v Viewer, action string) {
	if s.deps.Audit == nil {
		p.AuditNote = "Not recorded: this console has no audit trail configured."
		return
	}
	e := AuditEntry{At: s.cfg.now(), Viewer: v.Name, Action: action, What: p.What, Sent: p.Sent, Results: map[string]int{}}
	for _, it := range p.Items {
		switch it.State {
		case "accepted", "rejected", "retry":
			e.Results[strings.ToUpper(it.State)]++
			e.Events = append(e.Events, it.EventID)
		}
	}
	if err := s.deps.Audit.Record(ctx, e); err != nil {
		s.cfg.logger.ErrorContext(ctx, "console: audit", "action", action, "err", err)
		p.AuditNote = "The replay happened but could not be recorded in the audit trail; the console's logs say why."
		return
	}
	p.AuditNote = "Recorded in the audit trail."
}

// editedEvent builds the replay item of event id with its payload
// replaced by payloadJSON (protojson of the contract). A viewer who may
// not see PII edits a payload without its PII fields, which are taken
// from the stored event. On failure it returns a status and a message.
func (s *Server) editedEvent(ctx context.Context, id, payloadJSON string, v Viewer) (replayItem, int, string) {
	f, found, err := s.failureByID(ctx, id)
	if err != nil {
		return replayItem{}, http.StatusServiceUnavailable, "The warehouse could not be read: " + err.Error()
	}
	if !found {
		return replayItem{}, http.StatusNotFound, fmt.Sprintf("No failed event has the id %q: nothing to replay.", id)
	}
	d := decode(ctx, newSchemas(s.deps.Registry), f, v.MaySeePII, nil)
	if !d.Replayable || d.schema == nil {
		return replayItem{}, http.StatusUnprocessableEntity, "The event " + id + " cannot be replayed: " + d.Note
	}
	it := replayItem{EventID: id, Type: f.Type, FailedAt: f.FailedAt, event: d.event}
	if strings.TrimSpace(payloadJSON) == "" {
		return it, 0, ""
	}
	edited := d.schema.NewMessage()
	if err := (protojson.UnmarshalOptions{Resolver: d.schema.Types()}).Unmarshal([]byte(payloadJSON), edited); err != nil {
		return it, http.StatusBadRequest, fmt.Sprintf("The edited payload is not a %s in JSON: %v", d.schema.Subject, err)
	}
	if !v.MaySeePII {
		if paths := piiPathsSet(edited, "", 0); len(paths) > 0 {
			return it, http.StatusForbidden, "The edit sets PII fields (" + strings.Join(paths, ", ") + "), which you may not see or change; leave them out, the stored values are kept."
		}
		stored := d.schema.NewMessage()
		if err := proto.Unmarshal(d.event.GetPayload().GetValue(), stored); err != nil {
			return it, http.StatusUnprocessableEntity, "The stored payload does not decode: " + err.Error()
		}
		if err := restorePII(edited, stored, "", 0); err != nil {
			return it, http.StatusForbidden, err.Error()
		}
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(edited)
	if err != nil {
		return it, http.StatusBadRequest, "The edited payload cannot be encoded: " + err.Error()
	}
	ev := proto.CloneOf(d.event)
	ev.Payload = &anypb.Any{TypeUrl: d.event.GetPayload().GetTypeUrl(), Value: b}
	it.event = ev
	return it, 0, ""
}

// failureByID is the newest failure of event id.
func (s *Server) failureByID(ctx context.Context, id string) (failure, bool, error) {
	w := s.deps.Warehouse
	d, err := dialectOf(w)
	if err != nil {
		return failure{}, false, err
	}
	q := fmt.Sprintf("SELECT %s FROM %s AS f WHERE f.event_id = ? ORDER BY f.failed_at DESC LIMIT 1", failureColumns(d), w.Table(failedTable))
	res, err := w.Query(ctx, q, 1, id)
	if err != nil {
		if isMissingTable(err) {
			return failure{}, false, nil
		}
		return failure{}, false, err
	}
	if len(res.Rows) == 0 {
		return failure{}, false, nil
	}
	f, err := scanFailure(res.Rows[0])
	return f, err == nil, err
}

// deadLettersPage is what ui/failed-deadletters.html sees.
type deadLettersPage struct {
	Configured   bool
	Subscription string
	Max          int
	Depth        map[string]float64 // from Metrics, when there are any
	CanCheck     bool
	MayReplay    bool
}

const defaultRedrive, maxRedrive = 50, 500

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	p := deadLettersPage{Configured: s.deps.DeadLetters != nil && s.deps.Collector != nil, Subscription: r.FormValue("subscription"), Max: defaultRedrive,
		MayReplay: viewerOf(r).MayReplay}
	_, p.CanCheck = s.deps.Collector.(Checker)
	if s.deps.Metrics != nil {
		if snap, err := s.deps.Metrics.Snapshot(r.Context()); err == nil {
			p.Depth = snap.DeadLetters
		}
	}
	s.page(w, r, http.StatusOK, "failed-deadletters", p)
}

// deadLettersRedrive pulls up to max messages of a dead-letter
// subscription and resends them as a replay does (checked first when it
// can, all or none unless mode=passing); each message is acked only after
// the collector ACCEPTED its resend. A message not sent, rejected or not
// taken is not acked: Pub/Sub delivers it again after the subscription's
// ack deadline, and it stays on the subscription for the next redrive.
func (s *Server) deadLettersRedrive(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r)
	if !v.MayReplay {
		s.fail(w, r, http.StatusForbidden, "You may not redrive dead letters: ask for the replay permission.")
		return
	}
	if s.deps.DeadLetters == nil || s.deps.Collector == nil {
		s.fail(w, r, http.StatusNotFound, "This console has no dead-letter subscriptions or no collector configured, so it cannot redrive.")
		return
	}
	sub := strings.TrimSpace(r.PostFormValue("subscription"))
	if sub == "" {
		s.fail(w, r, http.StatusBadRequest, "Name the dead-letter subscription to redrive.")
		return
	}
	max := defaultRedrive
	if m := r.PostFormValue("max"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > maxRedrive {
			s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The number of messages %q is not between 1 and %d.", m, maxRedrive))
			return
		}
		max = n
	}
	mode := r.PostFormValue("mode")
	if mode != "" && mode != "all" && mode != "passing" {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The redrive mode %q is not one of all, passing.", mode))
		return
	}
	p := &replayPage{Redrive: true, Subscription: sub, Max: max, What: "dead letters of " + sub, ModePassed: mode == "passing"}
	_, p.CanCheck = s.deps.Collector.(Checker)
	msgs, err := s.deps.DeadLetters.Pull(r.Context(), sub, max)
	if err != nil {
		s.failErr(w, r, fmt.Errorf("dead letters of %s: %w", sub, err))
		return
	}
	if len(msgs) == 0 {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("The subscription %s has no dead-letter messages to redrive now.", sub))
		return
	}
	items := make([]replayItem, len(msgs))
	for i, m := range msgs {
		items[i] = replayItem{EventID: m.Event.GetEventId(), Type: subjectOfURL(m.Event.GetPayload().GetTypeUrl()), event: m.Event, ackID: m.AckID}
		if m.Event == nil || m.Event.GetPayload() == nil {
			items[i].State, items[i].Message = "skipped", "the message holds no event: left on the subscription"
		}
	}
	status := s.runReplay(r.Context(), p, items)
	for i := range p.Items {
		it := &p.Items[i]
		if it.State != "accepted" {
			it.AckNote = "not acked: stays on the subscription"
			continue
		}
		if err := s.deps.DeadLetters.Ack(r.Context(), sub, it.ackID); err != nil {
			it.AckNote = "resent, but the ack failed: it comes back and is resent (same id, no second row)"
			status = http.StatusServiceUnavailable
			continue
		}
		it.AckNote = "acked"
	}
	if p.Sent > 0 {
		s.audit(r.Context(), p, v, "redrive")
	}
	s.page(w, r, status, "failed-replay", p)
}

// StateClass is the tag's class of the item's state.
func (it replayItem) StateClass() string {
	switch it.State {
	case "pass", "accepted":
		return "ok"
	case "invalid", "rejected":
		return "bad"
	}
	return "warn"
}

// StateText says the item's state in words.
func (it replayItem) StateText() string {
	switch it.State {
	case "pass":
		return "passes"
	case "invalid":
		return "still invalid"
	case "unchecked":
		return "unchecked"
	case "skipped":
		return "left out"
	case "accepted":
		return "accepted"
	case "rejected":
		return "rejected again"
	case "retry":
		return "not taken"
	case "unsent":
		return "not sent"
	}
	return it.State
}
