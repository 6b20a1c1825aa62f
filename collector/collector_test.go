package collector_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/collector/collectortest"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	telemetryv1 "github.com/hemlabs/hem/gen/shop/telemetry/v1"
)

func TestAcceptedEventReachesTopicWithPayloadAndAttributes(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	order := orderPlaced(3)
	ev := event(t, "evt-1", order)
	ev.EventTime = timestamppb.New(placedAt)
	ev.Attributes = map[string]string{"tenant": "nl", "source": "checkout"}
	res := mustCollect(t, c, ev)[0]
	if res.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("status %v: %s", res.GetStatus(), res.GetMessage())
	}
	latest, err := st.Schemas.Latest(t.Context(), "shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	if res.GetSchemaId() != latest.ID || res.GetEventId() != "evt-1" {
		t.Errorf("result %v: want schema id %d and event id evt-1", res, latest.ID)
	}
	msgs := st.Published(envelope.EventsTopic)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on %s, want 1", len(msgs), envelope.EventsTopic)
	}
	want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(order)
	if !bytes.Equal(msgs[0].Data, want) {
		t.Errorf("data is not the payload:\n got %x\nwant %x", msgs[0].Data, want)
	}
	env, err := envelope.Decode(msgs[0].Attributes)
	if err != nil {
		t.Fatal(err)
	}
	if env.EventID != "evt-1" || env.Type != "shop.orders.v1.OrderPlaced" || env.SchemaID != latest.ID ||
		!env.EventTime.Equal(placedAt) || env.Producer != "test-producer" || env.EntityKey != order.GetOrderId() ||
		env.ReceivedAt.IsZero() || env.Attributes["tenant"] != "nl" || env.Attributes["source"] != "checkout" {
		t.Errorf("envelope %+v", env)
	}
	if msgs[0].OrderingKey != "" {
		t.Errorf("OrderPlaced is not ordered, got ordering key %q", msgs[0].OrderingKey)
	}
	if n := len(st.Published(envelope.FailedTopic)); n != 0 {
		t.Errorf("%d failed events for an accepted one", n)
	}
}

func TestMissingEventIDGetsUUIDv7AndOrderedKey(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	reading := &telemetryv1.VehicleTemperatureReading{
		VehicleId: "VAN-042", Kind: telemetryv1.VehicleKind_VEHICLE_KIND_VAN, Compartment: "chilled",
		Celsius: 4.5, MinCelsius: 3, MaxCelsius: 5, MeasuredAt: timestamppb.New(placedAt),
	}
	res := mustCollect(t, c, event(t, "", reading))[0]
	if res.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("status %v: %s", res.GetStatus(), res.GetMessage())
	}
	if len(res.GetEventId()) != 36 || res.GetEventId()[14] != '7' {
		t.Errorf("generated event id %q is not a UUIDv7", res.GetEventId())
	}
	msgs := st.Published(envelope.EventsTopic)
	if len(msgs) != 1 || msgs[0].OrderingKey != "VAN-042" || msgs[0].Attributes[envelope.AttrEventID] != res.GetEventId() {
		t.Fatalf("messages %+v: want one with ordering key VAN-042 and the generated id", msgs)
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	st := start(t, collector.WithLimits(collector.Limits{MaxEventBytes: 4096}))
	c := dial(t, st.Addr)
	order := orderPlaced(2)
	valid, _ := proto.Marshal(order)
	badQty := orderPlaced(2)
	badQty.Items[1].Quantity = 0
	unknown := protowire.AppendTag(append([]byte(nil), valid...), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 7)
	nested := orderPlaced(1)
	nestedBytes, _ := proto.Marshal(nested.Items[0])
	nestedBytes = protowire.AppendTag(nestedBytes, 42, protowire.BytesType)
	nestedBytes = protowire.AppendString(nestedBytes, "x")
	withNested := protowire.AppendTag(nil, 5, protowire.BytesType)
	withNested = protowire.AppendBytes(withNested, nestedBytes)
	nested.Items = nil
	nb, _ := proto.Marshal(nested)
	withNested = append(nb, withNested...)
	orderPicked := st.Schemas.Add(mustSchema(t, "shop.orders.v1.OrderPicked"), contract.Usable)
	pending := st.Schemas.Add(mustSchema(t, "shop.orders.v1.OrderPlaced"), contract.Pending)

	tests := []struct {
		name       string
		ev         *eventv1.Event
		reason     eventv1.Reason
		stage      eventv1.Stage
		violation  *eventv1.Violation // wanted among the violations
		msgHas     string
		wantSchema bool
	}{
		{name: "validation", ev: event(t, "e-val", badQty), reason: eventv1.Reason_REASON_VALIDATION_FAILED, stage: eventv1.Stage_STAGE_VALIDATE,
			violation: &eventv1.Violation{FieldPath: "items[1].quantity", RuleId: "int32.gt_lte"}, wantSchema: true},
		{name: "message rule", ev: event(t, "e-gift", func() *ordersv1.OrderPlaced { o := orderPlaced(1); o.Gift = true; return o }()),
			reason: eventv1.Reason_REASON_VALIDATION_FAILED, stage: eventv1.Stage_STAGE_VALIDATE,
			violation: &eventv1.Violation{RuleId: "order_placed.gift_needs_message"}, wantSchema: true},
		{name: "unknown type", ev: rawEvent("e-type", "shop.orders.v1.OrderTeleported", valid), reason: eventv1.Reason_REASON_UNKNOWN_TYPE, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "not a registered event type"},
		{name: "unknown field", ev: rawEvent("e-unk", "shop.orders.v1.OrderPlaced", unknown), reason: eventv1.Reason_REASON_UNKNOWN_FIELDS, stage: eventv1.Stage_STAGE_DECODE,
			violation: &eventv1.Violation{RuleId: "unknown_field"}, msgHas: "unknown field number 99", wantSchema: true},
		{name: "nested unknown field", ev: rawEvent("e-unk2", "shop.orders.v1.OrderPlaced", withNested), reason: eventv1.Reason_REASON_UNKNOWN_FIELDS, stage: eventv1.Stage_STAGE_DECODE,
			violation: &eventv1.Violation{FieldPath: "items[0]", RuleId: "unknown_field"}, msgHas: "unknown field number 42 in items[0]", wantSchema: true},
		{name: "garbage", ev: rawEvent("e-garbage", "shop.orders.v1.OrderPlaced", []byte{0xff, 0xff, 0xff}), reason: eventv1.Reason_REASON_DECODE_FAILED, stage: eventv1.Stage_STAGE_DECODE, wantSchema: true},
		{name: "too large", ev: rawEvent("e-big", "shop.orders.v1.OrderPlaced", make([]byte, 5000)), reason: eventv1.Reason_REASON_TOO_LARGE, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "limit is 4096"},
		{name: "reserved attribute", ev: func() *eventv1.Event {
			e := event(t, "e-attr", order)
			e.Attributes = map[string]string{"hem-type": "x"}
			return e
		}(),
			reason: eventv1.Reason_REASON_INVALID_ENVELOPE, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "reserved"},
		{name: "long attribute", ev: func() *eventv1.Event {
			e := event(t, "e-attr2", order)
			e.Attributes = map[string]string{"k": strings.Repeat("v", 1025)}
			return e
		}(),
			reason: eventv1.Reason_REASON_TOO_LARGE, stage: eventv1.Stage_STAGE_COLLECT},
		{name: "missing payload", ev: &eventv1.Event{EventId: "e-empty"}, reason: eventv1.Reason_REASON_INVALID_ENVELOPE, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "payload is missing"},
		{name: "pinned other subject", ev: func() *eventv1.Event { e := event(t, "e-pin", order); e.SchemaId = orderPicked.ID; return e }(),
			reason: eventv1.Reason_REASON_SCHEMA_NOT_FOUND, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "OrderPicked"},
		{name: "pinned pending", ev: func() *eventv1.Event { e := event(t, "e-pend", order); e.SchemaId = pending.ID; return e }(),
			reason: eventv1.Reason_REASON_SCHEMA_NOT_FOUND, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "not usable"},
		{name: "negative schema id", ev: func() *eventv1.Event { e := event(t, "e-neg", order); e.SchemaId = -5; return e }(),
			reason: eventv1.Reason_REASON_INVALID_ENVELOPE, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "schema_id -5"},
		{name: "pinned missing", ev: func() *eventv1.Event { e := event(t, "e-pin404", order); e.SchemaId = 9999; return e }(),
			reason: eventv1.Reason_REASON_SCHEMA_NOT_FOUND, stage: eventv1.Stage_STAGE_COLLECT, msgHas: "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustCollect(t, c, tt.ev)[0]
			if res.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || res.GetReason() != tt.reason {
				t.Fatalf("got %v %v (%s), want REJECTED %v", res.GetStatus(), res.GetReason(), res.GetMessage(), tt.reason)
			}
			if tt.msgHas != "" && !strings.Contains(res.GetMessage(), tt.msgHas) {
				t.Errorf("message %q does not mention %q", res.GetMessage(), tt.msgHas)
			}
			if tt.violation != nil && !hasViolation(res.GetViolations(), tt.violation) {
				t.Errorf("violations %v lack %v", res.GetViolations(), tt.violation)
			}
			if tt.wantSchema && res.GetSchemaId() == 0 {
				t.Errorf("no schema id in %v", res)
			}
			fe := failedEvent(t, st, tt.ev.GetEventId())
			if fe.GetReason() != tt.reason || fe.GetStage() != tt.stage || fe.GetProducer() != "test-producer" ||
				fe.GetFailedAt() == nil || fe.GetMessage() != res.GetMessage() || len(fe.GetViolations()) != len(res.GetViolations()) {
				t.Errorf("failed event %v does not match result %v", fe, res)
			}
			var orig eventv1.Event
			if err := proto.Unmarshal(fe.GetOriginal(), &orig); err != nil || !proto.Equal(&orig, tt.ev) {
				t.Errorf("original %v (%v) is not the event sent", &orig, err)
			}
		})
	}
	// Nothing of those reached hem-events.
	if n := len(st.Published(envelope.EventsTopic)); n != 0 {
		t.Errorf("%d rejected events were published to %s", n, envelope.EventsTopic)
	}
}

func violation(path, rule string) *eventv1.Violation {
	return &eventv1.Violation{FieldPath: path, RuleId: rule}
}

func hasViolation(vs []*eventv1.Violation, want *eventv1.Violation) bool {
	return slices.ContainsFunc(vs, func(v *eventv1.Violation) bool {
		return v.GetRuleId() == want.GetRuleId() && v.GetFieldPath() == want.GetFieldPath() && v.GetMessage() != ""
	})
}

func failedEvent(t *testing.T, st *collectortest.Stack, id string) *eventv1.FailedEvent {
	t.Helper()
	for _, m := range st.Published(envelope.FailedTopic) {
		if m.Attributes[envelope.AttrEventID] == id {
			fe, err := envelope.DecodeFailed(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			return fe
		}
	}
	t.Fatalf("no failed event %s on %s", id, envelope.FailedTopic)
	return nil
}

func mustSchema(t *testing.T, subject string) *contract.Schema {
	t.Helper()
	src, err := contract.CompileDir(t.Context(), "../proto")
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Schema(subject)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMixedBatchAnswersEachEventInOrder(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	bad := orderPlaced(1)
	bad.StoreId = ""
	results := mustCollect(t, c, event(t, "a", orderPlaced(1)), event(t, "b", bad), event(t, "c", orderPlaced(2)))
	var got []string
	for _, r := range results {
		got = append(got, r.GetEventId()+"="+r.GetStatus().String())
	}
	want := []string{"a=EVENT_STATUS_ACCEPTED", "b=EVENT_STATUS_REJECTED", "c=EVENT_STATUS_ACCEPTED"}
	if !slices.Equal(got, want) {
		t.Errorf("results %v, want %v", got, want)
	}
	if len(st.Published(envelope.EventsTopic)) != 2 || len(st.Published(envelope.FailedTopic)) != 1 {
		t.Errorf("want 2 events and 1 failed event published")
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	verifier := collector.TokenVerifierFunc(func(_ context.Context, token string) (string, error) {
		if token == "good-token" {
			return "fleet@p.iam.gserviceaccount.com", nil
		}
		return "", status.Error(codes.Unauthenticated, "bad signature")
	})
	keys, err := auth.Parse([]byte(`{"keys": [
		{"name": "orders-only", "sha256": "` + auth.HashKey("orders-key") + `", "types": ["shop.orders.v1.*"]},
		{"name": "fleet", "service_account": "fleet@p.iam.gserviceaccount.com", "types": ["shop.telemetry.*"]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	keys.Add(collectortest.APIKey, auth.Principal{Name: "test-producer", Types: []string{"*"}})
	st := start(t, collector.WithKeyring(keys), collector.WithTokenVerifier(verifier))
	c := dial(t, st.Addr)
	order := event(t, "o", orderPlaced(1))
	member := event(t, "m", memberRegistered())
	reading := event(t, "r", &telemetryv1.VehicleTemperatureReading{VehicleId: "BIKE-001", Kind: telemetryv1.VehicleKind_VEHICLE_KIND_BIKE, MeasuredAt: timestamppb.New(placedAt)})

	tests := []struct {
		name string
		md   []string
		evs  []*eventv1.Event
		code codes.Code
	}{
		{"no credentials", nil, []*eventv1.Event{order}, codes.Unauthenticated},
		{"wrong key", []string{auth.APIKeyHeader, "nope"}, []*eventv1.Event{order}, codes.Unauthenticated},
		{"allowed type", []string{auth.APIKeyHeader, "orders-key"}, []*eventv1.Event{order}, codes.OK},
		{"type not allowed", []string{auth.APIKeyHeader, "orders-key"}, []*eventv1.Event{order, member}, codes.PermissionDenied},
		{"ID token", []string{"authorization", "Bearer good-token"}, []*eventv1.Event{reading}, codes.OK},
		{"ID token, type not allowed", []string{"authorization", "Bearer good-token"}, []*eventv1.Event{order}, codes.PermissionDenied},
		{"bad ID token", []string{"authorization", "Bearer forged"}, []*eventv1.Event{reading}, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(st.PubSub.Messages())
			ctx := metadata.AppendToOutgoingContext(t.Context(), tt.md...)
			_, err := c.Collect(ctx, &collectorv1.CollectRequest{Events: tt.evs})
			if status.Code(err) != tt.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tt.code)
			}
			if tt.code != codes.OK && len(st.PubSub.Messages()) != before {
				t.Errorf("a refused request published something")
			}
		})
	}
}

func TestPIIHashedRedactedDropped(t *testing.T) {
	t.Parallel()
	salt := []byte("a-test-salt-of-enough-bytes")
	st := start(t, collector.WithPIISalt(salt))
	c := dial(t, st.Addr)
	m := memberRegistered()
	other := memberRegistered()
	other.MemberId = "m-2"
	results := mustCollect(t, c, event(t, "p1", m), event(t, "p2", other))
	for _, r := range results {
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Fatalf("%v: %s", r.GetStatus(), r.GetMessage())
		}
	}
	msgs := st.Published(envelope.EventsTopic)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	mac := func(s string) string {
		h := hmac.New(sha256.New, salt)
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
	var got [2]membersv1.MemberRegistered
	for i, msg := range msgs {
		if err := proto.Unmarshal(msg.Data, &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	g := &got[0]
	if g.GetEmail() != mac("ada@example.com") || g.GetPhone() != mac("+31612345678") {
		t.Errorf("email %q phone %q are not the salted HMACs", g.GetEmail(), g.GetPhone())
	}
	if g.GetFullName() != collector.Redacted {
		t.Errorf("full_name %q, want %q", g.GetFullName(), collector.Redacted)
	}
	if g.GetAddress() != nil {
		t.Errorf("address %v should have been dropped", g.GetAddress())
	}
	if g.GetMemberId() != "m-1" || g.GetTier() != membersv1.Tier_TIER_GOLD || g.GetBirthYear().GetValue() != 1990 || !g.GetConsent().GetEmailMarketing() {
		t.Errorf("non-PII fields changed: %v", g)
	}
	if got[1].GetEmail() != g.GetEmail() {
		t.Errorf("equal e-mails hash differently, so the column does not join")
	}
	if bytes.Contains(msgs[0].Data, []byte("ada@example.com")) || bytes.Contains(msgs[0].Data, []byte("Damrak")) || bytes.Contains(msgs[0].Data, []byte("Lovelace")) {
		t.Errorf("personal data left in the published bytes: %q", msgs[0].Data)
	}
	// Validation ran on the real values: a bad e-mail is refused, not hashed.
	bad := memberRegistered()
	bad.Email = "not-an-email"
	r := mustCollect(t, c, event(t, "p3", bad))[0]
	if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || !hasViolation(r.GetViolations(), &eventv1.Violation{FieldPath: "email", RuleId: "string.email"}) {
		t.Errorf("bad e-mail: %v", r)
	}
}

func TestBatchLimitsAndOverload(t *testing.T) {
	t.Parallel()
	ps := collector.DefaultPublishSettings()
	ps.Timeout = 2 * time.Second
	st := start(t,
		collector.WithLimits(collector.Limits{MaxBatchEvents: 3, MaxBatchBytes: 2048}),
		collector.WithMaxInflightBytes(2048),
		collector.WithPublishSettings(ps),
	)
	c := dial(t, st.Addr)
	ev := func(id string) *eventv1.Event { return event(t, id, orderPlaced(6)) }
	_, err := collect(t, c, collectortest.APIKey, ev("1"), ev("2"), ev("3"), ev("4"))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "limit is 3") {
		t.Errorf("4 events over a limit of 3: %v", err)
	}
	// Hold one request in flight (Pub/Sub down), and the budget is gone.
	st.Outage.Set(true)
	var wg sync.WaitGroup
	var first []*collectorv1.EventResult
	wg.Go(func() {
		resp, err := collect(t, c, collectortest.APIKey, ev("a"), ev("b"), ev("c"))
		if err != nil {
			t.Errorf("held request: %v", err)
			return
		}
		first = resp.GetResults()
	})
	deadline := time.Now().Add(5 * time.Second)
	for st.Outage.Refused() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_, err = collect(t, c, collectortest.APIKey, ev("d"), ev("e"), ev("f"))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("second request while the budget is held: %v, want RESOURCE_EXHAUSTED", err)
	}
	wg.Wait()
	for _, r := range first {
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_RETRY {
			t.Errorf("event %s during the outage: %v, want RETRY", r.GetEventId(), r.GetStatus())
		}
	}
	st.Outage.Set(false)
	// The budget is back, and the same ids go through.
	results := mustCollect(t, c, ev("a"), ev("b"), ev("c"))
	for _, r := range results {
		if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
			t.Errorf("retry of %s: %v %s", r.GetEventId(), r.GetStatus(), r.GetMessage())
		}
	}
}

func TestOutageOnOrderedKeyRecovers(t *testing.T) {
	t.Parallel()
	ps := collector.DefaultPublishSettings()
	ps.Timeout = 300 * time.Millisecond
	st := start(t, collector.WithPublishSettings(ps))
	c := dial(t, st.Addr)
	reading := &telemetryv1.VehicleTemperatureReading{VehicleId: "VAN-001", Kind: telemetryv1.VehicleKind_VEHICLE_KIND_VAN, Compartment: "frozen", MeasuredAt: timestamppb.New(placedAt)}
	st.Outage.Set(true)
	if r := mustCollect(t, c, event(t, "k1", reading))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_RETRY {
		t.Fatalf("during outage: %v", r)
	}
	st.Outage.Set(false)
	// The key was paused by the failure; the collector resumed it.
	if r := mustCollect(t, c, event(t, "k1", reading))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("after outage: %v %s", r.GetStatus(), r.GetMessage())
	}
}

func TestRegistryOutageAnswersRetry(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	st.Schemas.SetDown(true)
	r := mustCollect(t, c, event(t, "x", orderPlaced(1)))[0]
	if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_RETRY {
		t.Fatalf("registry down: %v", r)
	}
	if n := len(st.PubSub.Messages()); n != 0 {
		t.Errorf("%d messages published while the schema was unknown", n)
	}
	st.Schemas.SetDown(false)
	if r := mustCollect(t, c, event(t, "x", orderPlaced(1)))[0]; r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED {
		t.Fatalf("registry back: %v", r)
	}
}

func TestCollectStream(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	stream, err := c.CollectStream(withKey(t.Context(), collectortest.APIKey))
	if err != nil {
		t.Fatal(err)
	}
	bad := orderPlaced(1)
	bad.Items[0].Sku = ""
	for seq := range uint64(3) {
		evs := []*eventv1.Event{event(t, "", orderPlaced(1)), event(t, "", bad)}
		if err := stream.Send(&collectorv1.CollectStreamRequest{Sequence: seq + 10, Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.OK && err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		seqs = append(seqs, resp.GetSequence())
		if len(resp.GetResults()) != 2 || resp.GetResults()[0].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_ACCEPTED ||
			resp.GetResults()[1].GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED {
			t.Errorf("response %v", resp)
		}
	}
	slices.Sort(seqs)
	if !slices.Equal(seqs, []uint64{10, 11, 12}) {
		t.Errorf("sequences %v", seqs)
	}
}

func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	st := start(t)
	if err := st.Collector.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st.Collector.Ready() {
		t.Error("ready after Close")
	}
	_, err := collect(t, dial(t, st.Addr), collectortest.APIKey, event(t, "z", orderPlaced(1)))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("after Close: %v, want UNAVAILABLE", err)
	}
}

var _ = pubsub.ErrPublisherStopped

// TestUnterminatedGroupsDoNotCrash is the remote crash of issue 12: a batch
// of payloads alternating eight start-group tags and a truncated field
// killed the collector (hyperpb read past each payload's end).
func TestUnterminatedGroupsDoNotCrash(t *testing.T) {
	t.Parallel()
	st := start(t)
	c := dial(t, st.Addr)
	for n := 2; n <= 10; n++ {
		events := make([]*eventv1.Event, n)
		for i := range events {
			payload := []byte("SSSSSSSS")
			if i%2 == 1 {
				payload = []byte("R\x80\x80\x80\x80\x01SS")
			}
			events[i] = rawEvent("", "shop.orders.v1.OrderPlaced", payload)
		}
		for _, r := range mustCollect(t, c, events...) {
			if r.GetStatus() != collectorv1.EventStatus_EVENT_STATUS_REJECTED || r.GetReason() != eventv1.Reason_REASON_DECODE_FAILED {
				t.Fatalf("batch of %d: %v, want REJECTED DECODE_FAILED", n, r)
			}
		}
	}
}
