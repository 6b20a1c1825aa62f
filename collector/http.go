package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector/codec"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// HTTPHandler serves the HTTP/JSON API for browsers and devices:
//
//   - POST /v1/events: a hem.collector.v1.CollectRequest in protojson,
//     answered with a CollectResponse (one result per event). The payload
//     is an Any in protojson form, {"@type": "type.googleapis.com/SUBJECT",
//     ...contract fields}, read with the registry's descriptors of the
//     subject (or of the pinned schema_id). The API key travels in
//     X-Api-Key, a Google ID token in Authorization: Bearer. Refused
//     requests get {"code", "message"} with 401, 403, 400, 413, 429 or 503.
//   - GET /healthz (alive), /readyz (taking requests), /metrics (when
//     WithMetricsHandler was given).
func (c *Collector) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", c.cors(c.serveEvents))
	mux.HandleFunc("OPTIONS /v1/events", c.cors(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Ready() {
			http.Error(w, "closing", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	if c.cfg.metricsHandler != nil {
		mux.Handle("GET /metrics", c.cfg.metricsHandler)
	}
	return mux
}

func (c *Collector) cors(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (slices.Contains(c.cfg.corsOrigins, "*") || slices.Contains(c.cfg.corsOrigins, origin)) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Api-Key, Authorization")
			h.Set("Access-Control-Max-Age", "600")
			h.Add("Vary", "Origin")
		}
		next(w, r)
	}
}

var httpStatus = map[codes.Code]int{
	codes.Unauthenticated:   http.StatusUnauthorized,
	codes.PermissionDenied:  http.StatusForbidden,
	codes.InvalidArgument:   http.StatusBadRequest,
	codes.ResourceExhausted: http.StatusTooManyRequests,
	codes.Unavailable:       http.StatusServiceUnavailable,
	codes.DeadlineExceeded:  http.StatusGatewayTimeout,
	codes.Canceled:          499,
}

func writeHTTPError(w http.ResponseWriter, status int, code codes.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if (code == codes.ResourceExhausted || code == codes.Unavailable) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code.String(), "message": msg})
}

// httpCostFactor is what an HTTP request is charged per byte of its body:
// the body, the events split from it, their binary form and the answer
// (TestMeasurePeakHeap measures it; see the README).
const httpCostFactor = 4

func (c *Collector) serveEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cr := credentials{apiKey: r.Header.Get(auth.APIKeyHeader), bearer: bearerToken(r.Header.Get("Authorization"))}
	p, err := c.authenticate(ctx, cr)
	if err != nil {
		c.metrics.refused(ctx, "unauthenticated")
		writeHTTPError(w, http.StatusUnauthorized, codes.Unauthenticated, err.Error())
		return
	}
	// A body that trickles in must not hold the connection and its buffer
	// for ever. Servers that cannot set deadlines (httptest recorders) skip it.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.cfg.readTimeout))
	// JSON is larger than the binary form (base64, field names): allow 4x.
	limit := int64(c.cfg.limits.MaxBatchBytes) * 4
	if r.ContentLength > limit {
		writeHTTPError(w, http.StatusRequestEntityTooLarge, codes.InvalidArgument, fmt.Sprintf("body of %d bytes exceeds %d bytes", r.ContentLength, limit))
		return
	}
	// The request is charged to the in-flight budget before its body is
	// read, for what reading, decoding and answering it costs: a multiple
	// of the body (of the limit when its length is not announced). One
	// request may take the whole budget, never more, so it can be served
	// alone.
	bodyMax := limit
	if r.ContentLength >= 0 {
		bodyMax = r.ContentLength
	}
	charge := min(bodyMax*httpCostFactor, c.cfg.maxInflightBytes)
	if !c.inflight.TryAcquire(charge) {
		c.metrics.refused(ctx, "overloaded")
		writeCollectError(w, errOverloaded())
		return
	}
	defer c.inflight.Release(charge)
	body, err := readBody(http.MaxBytesReader(w, r.Body, bodyMax), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeHTTPError(w, http.StatusRequestEntityTooLarge, codes.InvalidArgument, fmt.Sprintf("body exceeds %d bytes", limit))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			writeHTTPError(w, http.StatusRequestTimeout, codes.DeadlineExceeded, fmt.Sprintf("the body did not arrive within %v", c.cfg.readTimeout))
			return
		}
		writeHTTPError(w, http.StatusBadRequest, codes.InvalidArgument, "read body: "+err.Error())
		return
	}
	raws, ok := codec.SplitEvents(body)
	if !ok {
		if raws, err = splitEventsSlow(body); err != nil {
			writeHTTPError(w, http.StatusBadRequest, codes.InvalidArgument, `body is not a CollectRequest {"events": [...]}: `+err.Error())
			return
		}
	}
	// What gRPC checks before any work, checked before decoding: the
	// count and the producer's types, from the events' heads.
	if len(raws) > c.cfg.limits.MaxBatchEvents {
		writeCollectError(w, c.checkRequest(ctx, p, len(raws), nil))
		return
	}
	heads := make([]codec.EventHead, len(raws))
	headErrs := make([]error, len(raws))
	for i, raw := range raws {
		heads[i], headErrs[i] = peekEvent(raw)
	}
	if err := c.checkRequest(ctx, p, len(raws), func(i int) string { return codec.TypeName(heads[i].TypeURL) }); err != nil {
		writeCollectError(w, err)
		return
	}
	res := &resolver{c: c, ctx: ctx}
	in := make([]Input, len(raws))
	for i, raw := range raws {
		in[i].Event, in[i].Err = c.decodeJSONEvent(res, raw, heads[i], headErrs[i])
	}
	results, err := c.collect(ctx, p, in, chargedBudget)
	if err != nil {
		writeCollectError(w, err)
		return
	}
	out, err := protojson.Marshal(&collectorv1.CollectResponse{Results: results})
	if err != nil {
		writeHTTPError(w, http.StatusInternalServerError, codes.Internal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// readBody reads a body of n bytes (unknown when negative) into a buffer
// of its size: io.ReadAll would grow one by doubling, up to twice the body.
func readBody(r io.Reader, n int64) ([]byte, error) {
	if n < 0 {
		return io.ReadAll(r)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// writeCollectError answers a request refused as a whole.
func writeCollectError(w http.ResponseWriter, err error) {
	code := Code(err)
	status, ok := httpStatus[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if errors.Is(err, ErrBatchTooLarge) {
		status = http.StatusRequestEntityTooLarge
	}
	if d := retryAfter(err); d > 0 {
		// Whole seconds, rounded up: waiting less would be refused again.
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
	writeHTTPError(w, status, code, err.Error())
}

// splitEventsSlow reads what splitEvents gave up on, with encoding/json
// (which words the errors) but as protojson would: "events" once, spelled
// exactly, and nothing else. encoding/json alone keeps the last of two
// "events" (dropping the first batch silently) and matches names without
// regard to case.
func splitEventsSlow(body []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err == nil {
			err = fmt.Errorf("not a JSON object")
		}
		return nil, err
	}
	var events []json.RawMessage
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		switch {
		case name != "events":
			return nil, fmt.Errorf("unknown field %q", name)
		case seen:
			return nil, fmt.Errorf("duplicate field %q", name)
		}
		seen = true
		if err := dec.Decode(&events); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the request object")
	}
	return events, nil
}

// peekEvent reads an event's head: with the scanner, or where it gives up,
// with encoding/json (which words the errors).
func peekEvent(raw []byte) (codec.EventHead, error) {
	if h, ok := codec.PeekEvent(raw); ok {
		return h, nil
	}
	return peekEventSlow(raw)
}

func peekEventSlow(raw []byte) (codec.EventHead, error) {
	var pk struct {
		EventID   string          `json:"eventId"`
		EventID2  string          `json:"event_id"`
		SchemaID  json.RawMessage `json:"schemaId"`
		SchemaID2 json.RawMessage `json:"schema_id"`
		Payload   struct {
			Type string `json:"@type"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(raw, &pk); err != nil {
		return codec.EventHead{}, &valueFreeError{text: "event is not a JSON object: " + jsonErrorText(err), err: err}
	}
	h := codec.EventHead{ID: cmpOr(pk.EventID, pk.EventID2), TypeURL: pk.Payload.Type}
	pinned, err := parseJSONInt(cmpOrRaw(pk.SchemaID, pk.SchemaID2))
	if err != nil {
		return h, fmt.Errorf("schema_id: %w", err)
	}
	h.Pinned = pinned
	return h, nil
}

// decodeJSONEvent turns one protojson Event, whose head peekEvent read as h
// (or failed to, with err), into its binary form. When it cannot, it
// returns a partial event (id, type, pinned schema) and why (see
// Input.Err).
func (c *Collector) decodeJSONEvent(res *resolver, raw json.RawMessage, h codec.EventHead, err error) (*eventv1.Event, error) {
	partial := &eventv1.Event{EventId: h.ID, SchemaId: h.Pinned}
	if h.TypeURL != "" {
		partial.Payload = &anypb.Any{TypeUrl: h.TypeURL}
	}
	if err != nil {
		return partial, &Rejection{Message: err.Error(), SchemaID: partial.GetSchemaId()}
	}
	if h.TypeURL == "" {
		return partial, nil // the core rejects the missing payload
	}
	s, rej, err := c.resolve(res, subjectOf(partial), h.Pinned)
	if err != nil {
		return partial, fmt.Errorf("schema registry unavailable: %v", err)
	}
	if rej != nil {
		return partial, edgeRejection(rej, h.Pinned)
	}
	pl := c.plans.get(s)
	e, ok := decodeJSONFast(pl, raw)
	if !ok {
		e = &eventv1.Event{}
		opts := protojson.UnmarshalOptions{Resolver: s.Types()}
		if err := opts.Unmarshal(raw, e); err != nil {
			return partial, &Rejection{Message: protojsonErrorText(err), SchemaID: s.ID}
		}
	}
	if e.SchemaId == 0 {
		// Decoded with the latest version: pin it, so the binary pass
		// checks the payload against the same descriptors.
		e.SchemaId = s.ID
	}
	return e, nil
}

// eventJSON is the fast path's program of hem.event.v1.Event (see
// package codec).
var eventJSON = sync.OnceValue(func() *codec.JSON {
	return codec.CompileJSON((&eventv1.Event{}).ProtoReflect().Descriptor(), true)
})

// decodeJSONFast decodes a protojson Event whose payload is a message of
// p's schema through the fast path; ok is false when it gave up.
func decodeJSONFast(p *plan, raw []byte) (e *eventv1.Event, ok bool) {
	// The wire form is nearly always smaller than the JSON.
	b, ok := codec.TranscodeJSON(make([]byte, 0, len(raw)), raw, eventJSON(), p.json)
	if !ok {
		return nil, false
	}
	e = &eventv1.Event{}
	if err := proto.Unmarshal(b, e); err != nil {
		return nil, false
	}
	return e, true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmpOrRaw(a, b json.RawMessage) json.RawMessage {
	if len(a) > 0 {
		return a
	}
	return b
}

func parseJSONInt(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("not an integer") // the value is the producer's: see errtext.go
	}
	return n, nil
}
