package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry"
)

// A shorter retention deletes data: the registry refuses it with what would
// go, and admits it once acknowledged, through the API as push sends it.
func TestServiceRegisterShortenedRetention(t *testing.T) {
	t.Parallel()
	r := newRegistry(t, startGCS(t, t.TempDir()))
	c := registry.NewClient(conn(t, serve(t, r, registry.WithKeyring(withKey()))), registry.WithAPIKey(ciKey))
	ctx := t.Context()
	outcome := func(req *registryv1.RegisterRequest) *registryv1.SubjectResult {
		t.Helper()
		resp, err := c.Register(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetResults()[0]
	}
	long := ordersV1{options: "partition_expiration_days: 365 archive_retention_days: 730"}.schema(t)
	if res := outcome(registerRequest(long)); res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_NEW {
		t.Fatalf("first version: %v", res)
	}

	short := ordersV1{options: "partition_expiration_days: 90 archive_retention_days: 730"}.schema(t)
	res := outcome(registerRequest(short))
	if res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_REJECTED || len(res.GetViolations()) != 1 {
		t.Fatalf("shortened without acknowledgement: %v", res)
	}
	if v := res.GetViolations()[0]; v.GetRuleId() != "EV-D01" || !strings.Contains(v.GetMessage(), "from 365 to 90 days") || !strings.Contains(v.GetMessage(), "(275 days)") {
		t.Fatalf("violation %v: want EV-D01 naming the days that go", v)
	}

	// Acknowledging another subject changes nothing.
	other := registerRequest(short)
	other.AcknowledgeRetention = []string{"acme.orders.v2.OrderPlaced"}
	if res := outcome(other); res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_REJECTED {
		t.Fatalf("acknowledged for another subject: %v", res)
	}

	ack := registerRequest(short)
	ack.AcknowledgeRetention = []string{short.Subject}
	res = outcome(ack)
	if res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_NEW || res.GetVersion() != 2 {
		t.Fatalf("acknowledged: %v", res)
	}
	if len(res.GetAcknowledged()) != 1 || !strings.Contains(res.GetAcknowledged()[0].GetMessage(), "from 365 to 90 days") {
		t.Fatalf("acknowledged result does not say what goes: %v", res.GetAcknowledged())
	}

	// The next version is compared with the acknowledged one, not the first.
	next := ordersV1{options: "partition_expiration_days: 90 archive_retention_days: 730", comment: "OrderPlaced: placed."}.schema(t)
	if res := outcome(registerRequest(next)); res.GetOutcome() != registryv1.RegisterOutcome_REGISTER_OUTCOME_NEW {
		t.Fatalf("version after the acknowledged one: %v", res)
	}
}

// countingMigrator counts rows as a warehouse migrator that can.
type countingMigrator struct{ before time.Time }

func (*countingMigrator) Migrate(context.Context, *contract.Schema) error { return nil }

func (m *countingMigrator) CountBefore(_ context.Context, t *contract.Table, before time.Time) (int64, error) {
	m.before = before
	if t.Name != "acme_orders_v1_order_placed" {
		return 0, fmt.Errorf("table %s", t.Name)
	}
	return 1234, nil
}

func (*countingMigrator) String() string { return "the test warehouse" }

// Where the registry can count what would go (a migrator that can), the
// preview says how many rows.
func TestRegisterShortenedRetentionCountsRows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	m := &countingMigrator{}
	r := newRegistry(t, startGCS(t, t.TempDir()), registry.WithMigrator(m), registry.WithClock(func() time.Time { return now }))
	register(t, r, ordersV1{options: "partition_expiration_days: 365"}.schema(t))
	res := register(t, r, ordersV1{options: "partition_expiration_days: 90"}.schema(t))[0]
	if res.Outcome != registry.OutcomeRejected || len(res.Violations) != 1 {
		t.Fatalf("%v", res)
	}
	if msg := res.Violations[0].Message; !strings.Contains(msg, "(275 days), 1234 rows in the test warehouse, as soon") {
		t.Errorf("preview %q does not count the rows", msg)
	}
	if want := time.Date(2026, 9, 9, 0, 0, 0, 0, time.UTC); !m.before.Equal(want) {
		t.Errorf("counted rows before %v, want %v", m.before, want)
	}
}
