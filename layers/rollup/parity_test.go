package rollup_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/layers/rollup"
	"github.com/hemlabs/hem/sink"
	"github.com/hemlabs/hem/sink/duckdb"
)

// contracts compiles the sample contracts once per test.
func contracts(t testing.TB) (orders, sales *contract.Schema) {
	t.Helper()
	src, err := contract.CompileDir(context.Background(), "../../proto")
	if err != nil {
		t.Fatal(err)
	}
	orders, err = src.Schema("shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	sales, err = src.Schema("shop.orders.v1.SalesByStoreDay")
	if err != nil {
		t.Fatal(err)
	}
	return orders.WithIdentity(1, 1, contract.Usable, time.Time{}), sales.WithIdentity(2, 1, contract.Usable, time.Time{})
}

// order is one generated OrderPlaced event.
type order struct {
	id       string
	placed   time.Time
	store    string
	channel  string
	currency string
	micros   int64
	member   string
	gift     bool
}

var channels = []string{"CHANNEL_WEB", "CHANNEL_APP", "CHANNEL_STORE"}

// generate makes n orders placed over days days before end.
func generate(n, days int, end time.Time, seed uint64) []order {
	rng := rand.New(rand.NewPCG(seed, 1))
	span := int64(days) * int64(24*time.Hour)
	out := make([]order, n)
	for i := range out {
		cur := "EUR"
		if rng.IntN(10) == 0 {
			cur = "GBP"
		}
		out[i] = order{
			id:       fmt.Sprintf("0190a000-0000-7000-8000-%012d", i),
			placed:   end.Add(-time.Duration(rng.Int64N(span))).Truncate(time.Microsecond),
			store:    fmt.Sprintf("S-%03d", rng.IntN(40)),
			channel:  channels[rng.IntN(len(channels))],
			currency: cur,
			micros:   rng.Int64N(500_000_000),
			member:   fmt.Sprintf("M-%05d", rng.IntN(20000)),
			gift:     rng.IntN(20) == 0,
		}
	}
	return out
}

// events turns orders into sink events arriving at arrived.
func events(t testing.TB, s *contract.Schema, orders []order, arrived time.Time) []*sink.Event {
	t.Helper()
	md := s.Descriptor()
	f := func(m protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
		return m.Fields().ByName(protoreflect.Name(name))
	}
	totalFd, placedFd := f(md, "total"), f(md, "placed_at")
	channel := f(md, "channel").Enum()
	out := make([]*sink.Event, len(orders))
	for i, o := range orders {
		m := dynamicpb.NewMessage(md)
		m.Set(f(md, "order_id"), protoreflect.ValueOfString(o.id))
		m.Set(f(md, "member_id"), protoreflect.ValueOfString(o.member))
		m.Set(f(md, "store_id"), protoreflect.ValueOfString(o.store))
		m.Set(f(md, "channel"), protoreflect.ValueOfEnum(channel.Values().ByName(protoreflect.Name(o.channel)).Number()))
		total := m.Mutable(totalFd).Message()
		total.Set(f(totalFd.Message(), "currency_code"), protoreflect.ValueOfString(o.currency))
		total.Set(f(totalFd.Message(), "amount_micros"), protoreflect.ValueOfInt64(o.micros))
		ts := m.Mutable(placedFd).Message()
		ts.Set(f(placedFd.Message(), "seconds"), protoreflect.ValueOfInt64(o.placed.Unix()))
		ts.Set(f(placedFd.Message(), "nanos"), protoreflect.ValueOfInt32(int32(o.placed.Nanosecond())))
		m.Set(f(md, "gift"), protoreflect.ValueOfBool(o.gift))
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &sink.Event{ID: o.id, Schema: s, Payload: payload, Message: m, EventTime: o.placed,
			ReceivedAt: arrived, PublishedAt: arrived, Producer: "parity"}
	}
	return out
}

// row is one rollup row, as text, comparable across warehouses.
type row struct {
	day, store, channel, currency    string
	orders, revenue, maxOrder, gifts int64
	members                          int64
}

func (r row) String() string {
	return fmt.Sprintf("%s %s %s %s orders=%d revenue=%d max=%d members=%d gifts=%d", r.day, r.store, r.channel, r.currency, r.orders, r.revenue, r.maxOrder, r.members, r.gifts)
}

// expected is the rollup computed directly: GROUP BY over one row per
// event id.
func expected(orders []order) []row {
	type key struct{ day, store, channel, currency string }
	groups := map[key]*row{}
	members := map[key]map[string]bool{}
	seen := map[string]bool{}
	for _, o := range orders {
		if seen[o.id] {
			continue
		}
		seen[o.id] = true
		k := key{o.placed.UTC().Truncate(24 * time.Hour).Format(time.RFC3339), o.store, o.channel, o.currency}
		g := groups[k]
		if g == nil {
			g = &row{day: k.day, store: k.store, channel: k.channel, currency: k.currency, maxOrder: -1}
			groups[k] = g
			members[k] = map[string]bool{}
		}
		g.orders++
		g.revenue += o.micros
		g.maxOrder = max(g.maxOrder, o.micros)
		if o.gift {
			g.gifts++
		}
		members[k][o.member] = true
	}
	out := make([]row, 0, len(groups))
	for k, g := range groups {
		g.members = int64(len(members[k]))
		out = append(out, *g)
	}
	return sortRows(out)
}

func sortRows(rows []row) []row {
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.String(), b.String()) })
	return rows
}

func duckRows(t testing.TB, w *duckdb.Warehouse, table string) []row {
	t.Helper()
	rs, err := w.DB().QueryContext(context.Background(), `SELECT strftime(day AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), store_id, channel, currency_code, orders, revenue_micros, max_order_micros, members, gift_orders FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.day, &r.store, &r.channel, &r.currency, &r.orders, &r.revenue, &r.maxOrder, &r.members, &r.gifts); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return sortRows(out)
}

// warehouse is one warehouse under test: where events go and a runner.
type warehouse struct {
	name   string
	write  func(evs []*sink.Event)
	runner *rollup.Runner
	rows   func() []row
}

func writeAll(t testing.TB, s sink.Sink, subject string, evs []*sink.Event) {
	t.Helper()
	for chunk := range slices.Chunk(evs, 5000) {
		if err := s.Write(context.Background(), &sink.Batch{Subject: subject, Events: chunk}); err != nil {
			t.Fatal(err)
		}
	}
}

func compare(t *testing.T, name string, got, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rollup rows, want %d", name, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s: row %d\n got %s\nwant %s", name, i, got[i], want[i])
			return
		}
	}
}

// parityEvents is TestParity's size: the gate runs a few thousand events
// (the BigQuery fake copies its tables into DuckDB per query, which is
// slow under the race detector); the acceptance size is
// -rollup.parity-events=100000.
var parityEvents = flag.Int("rollup.parity-events", 4_000, "events TestParity generates (100000: the acceptance size, over 7 days)")

// TestParity: the same events, 5 % of them sent twice, 2 % arriving 48 h
// late (after a run) and one day replayed, give each warehouse the rollup
// computed directly over one row per event id.
func TestParity(t *testing.T) {
	t.Parallel()
	n, days := *parityEvents, 4
	if n >= 50_000 {
		days = 7
	}
	orders, sales := contracts(t)
	end := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(8, 9))
	var onTime, late, twice []order
	for _, o := range generate(n, days, end, 7) {
		if rng.IntN(100) < 2 {
			// Placed 48 h (and up to a day more) before it arrives.
			o.placed = end.Add(-48*time.Hour - time.Duration(rng.Int64N(int64(24*time.Hour)))).Truncate(time.Microsecond)
			late = append(late, o)
			continue
		}
		onTime = append(onTime, o)
		if rng.IntN(100) < 5 {
			twice = append(twice, o)
		}
	}
	all := append(slices.Clone(onTime), late...)
	replayDay := end.Add(-72 * time.Hour).Truncate(24 * time.Hour)
	var replay []order
	for _, o := range all {
		if o.placed.Truncate(24 * time.Hour).Equal(replayDay) {
			replay = append(replay, o)
		}
	}

	now := end
	clock := func() time.Time { return now }
	ctx := context.Background()
	w, err := duckdb.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(ctx) })
	if err := w.Migrate(ctx, orders); err != nil {
		t.Fatal(err)
	}
	job, err := rollup.NewJob(sales, orders)
	if err != nil {
		t.Fatal(err)
	}
	warehouses := []warehouse{{
		name:   "duckdb",
		write:  func(evs []*sink.Event) { writeAll(t, w, orders.Subject, evs) },
		runner: rollup.NewDuckDB(w, rollup.WithClock(clock)),
		rows:   func() []row { return duckRows(t, w, job.Table()) },
	}}
	warehouses = append(warehouses, bigQueryWarehouses(t, orders, sales, clock)...)

	run := func(wantDays int) {
		t.Helper()
		for _, wh := range warehouses {
			rep, err := wh.runner.Run(ctx, job, rollup.Options{})
			if err != nil {
				t.Fatalf("%s: %v", wh.name, err)
			}
			if wantDays > 0 && len(rep.Days) != wantDays {
				t.Errorf("%s: recomputed %d days %v, want %d", wh.name, len(rep.Days), rep.Days, wantDays)
			}
		}
	}
	// Day 0: the on-time events, some twice, then a run.
	for _, wh := range warehouses {
		wh.write(events(t, orders, onTime, now.Add(-time.Minute)))
		wh.write(events(t, orders, twice, now))
	}
	run(days + 1) // the backfill: the days of events and today
	for _, wh := range warehouses {
		compare(t, wh.name+" after the first run", wh.rows(), expected(onTime))
	}
	// Two days later the late events arrive, and one day is replayed.
	now = end.Add(48 * time.Hour)
	for _, wh := range warehouses {
		wh.write(events(t, orders, late, now.Add(-2*time.Minute)))
		wh.write(events(t, orders, replay, now.Add(-time.Minute)))
	}
	run(0)
	want := expected(all)
	for _, wh := range warehouses {
		compare(t, wh.name, wh.rows(), want)
	}
	// A run with nothing new changes nothing.
	now = now.Add(2 * time.Hour)
	run(0)
	for _, wh := range warehouses {
		compare(t, wh.name+" after a quiet run", wh.rows(), want)
	}
}
