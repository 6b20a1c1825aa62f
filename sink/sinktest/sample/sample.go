// Package sample makes realistic events of every sample contract (proto/shop),
// valid or deliberately invalid: the conformance suite writes them through
// every sink, and "hem loadgen", "hem dev --demo" and benchmarks send them.
// Generation is deterministic for a seed and safe for use by one goroutine
// per Generator.
package sample

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	commonv1 "github.com/hemlabs/hem/gen/shop/common/v1"
	membersv1 "github.com/hemlabs/hem/gen/shop/members/v1"
	ordersv1 "github.com/hemlabs/hem/gen/shop/orders/v1"
	productsv1 "github.com/hemlabs/hem/gen/shop/products/v1"
	telemetryv1 "github.com/hemlabs/hem/gen/shop/telemetry/v1"
)

// Event is one generated event.
type Event struct {
	Message proto.Message
	// Valid is false when the generator broke a contract rule on purpose.
	Valid bool
	// Time is the event time.
	Time time.Time
}

// kind makes events of one type: valid ones, and a way to break one rule.
type kind struct {
	subject string
	make    func(g *Generator, now time.Time) proto.Message
	breakIt func(proto.Message)
}

// byNameOnly are the types made only when asked for by name, not in the
// default mix: their events need the collector's field keys.
var byNameOnly = map[string]bool{"shop.members.v1.MemberProfileUpdated": true}

var kinds = []kind{
	{"shop.orders.v1.OrderPlaced", (*Generator).orderPlaced, func(m proto.Message) {
		m.(*ordersv1.OrderPlaced).Items[0].Quantity = 0
	}},
	{"shop.orders.v1.OrderPicked", (*Generator).orderPicked, func(m proto.Message) {
		m.(*ordersv1.OrderPicked).OrderId = "not-a-uuid"
	}},
	{"shop.orders.v1.OrderDelivered", (*Generator).orderDelivered, func(m proto.Message) {
		m.(*ordersv1.OrderDelivered).Rating = proto.Int32(9)
	}},
	{"shop.orders.v1.OrderCancelled", (*Generator).orderCancelled, func(m proto.Message) {
		m.(*ordersv1.OrderCancelled).CancelledAt = nil
	}},
	{"shop.products.v1.ProductCreated", (*Generator).productCreated, func(m proto.Message) {
		m.(*productsv1.ProductCreated).Ean = "12345"
	}},
	{"shop.products.v1.PriceChanged", (*Generator).priceChanged, func(m proto.Message) {
		m.(*productsv1.PriceChanged).NewPrice.CurrencyCode = "euro"
	}},
	{"shop.products.v1.StockLevelChanged", (*Generator).stockLevelChanged, func(m proto.Message) {
		m.(*productsv1.StockLevelChanged).OnHand = -3
	}},
	{"shop.members.v1.MemberRegistered", (*Generator).memberRegistered, func(m proto.Message) {
		m.(*membersv1.MemberRegistered).Email = "not an e-mail"
	}},
	{"shop.members.v1.MemberUpdated", (*Generator).memberUpdated, func(m proto.Message) {
		m.(*membersv1.MemberUpdated).MemberId = ""
	}},
	{"shop.members.v1.MemberProfileUpdated", (*Generator).memberProfileUpdated, func(m proto.Message) {
		m.(*membersv1.MemberProfileUpdated).Phone = "0612345678"
	}},
	{"shop.telemetry.v1.VehicleTemperatureReading", (*Generator).vehicleTemperature, func(m proto.Message) {
		r := m.(*telemetryv1.VehicleTemperatureReading)
		r.MinCelsius, r.MaxCelsius = 8, 2
	}},
	{"shop.telemetry.v1.WarehouseSensorReading", (*Generator).warehouseSensor, func(m proto.Message) {
		m.(*telemetryv1.WarehouseSensorReading).BatteryPercent = 140
	}},
}

// Subjects lists every type the generator makes.
func Subjects() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.subject
	}
	return out
}

// Generator makes events. It is not safe for concurrent use.
type Generator struct {
	rnd          *rand.Rand
	kinds        []kind
	invalidShare float64
	now          func() time.Time
}

// NewGenerator returns a generator of the given subjects (all when empty)
// where invalidShare (0..1) of the events break a rule.
func NewGenerator(seed uint64, subjects []string, invalidShare float64) (*Generator, error) {
	g := &Generator{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), invalidShare: invalidShare, now: time.Now}
	for _, k := range kinds {
		if (len(subjects) == 0 && !byNameOnly[k.subject]) || slices.Contains(subjects, k.subject) {
			g.kinds = append(g.kinds, k)
		}
	}
	if len(g.kinds) == 0 {
		return nil, fmt.Errorf("loadgen: none of %v is a sample type; choose from %v", subjects, Subjects())
	}
	if invalidShare < 0 || invalidShare > 1 {
		return nil, fmt.Errorf("loadgen: invalid share %v is not between 0 and 1", invalidShare)
	}
	return g, nil
}

// Next returns the next event.
func (g *Generator) Next() Event {
	k := g.kinds[g.rnd.IntN(len(g.kinds))]
	now := g.now().UTC()
	m := k.make(g, now)
	valid := g.rnd.Float64() >= g.invalidShare
	if !valid {
		k.breakIt(m)
	}
	return Event{Message: m, Valid: valid, Time: now}
}

func (g *Generator) pick(options ...string) string { return options[g.rnd.IntN(len(options))] }

func (g *Generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rnd.Uint32())
	}
	u, _ := uuid.FromBytes(b[:])
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
}

func (g *Generator) money(min, max int64) *commonv1.Money {
	cents := min + g.rnd.Int64N(max-min+1)
	return &commonv1.Money{CurrencyCode: "EUR", AmountMicros: cents * 10_000}
}

var products = []struct{ sku, name string }{
	{"SKU-1001", "Organic bananas 1 kg"}, {"SKU-1002", "Whole milk 1 l"}, {"SKU-1003", "Sourdough loaf"},
	{"SKU-1004", "Free-range eggs x10"}, {"SKU-1005", "Gouda cheese 400 g"}, {"SKU-1006", "Frozen peas 750 g"},
	{"SKU-1007", "Sparkling water 6 x 1.5 l"}, {"SKU-1008", "Dish soap 500 ml"}, {"SKU-1009", "Cherry tomatoes 250 g"},
	{"SKU-1010", "Greek yoghurt 500 g"},
}

var cities = []struct{ city, postal string }{
	{"Amsterdam", "1012 AB"}, {"Utrecht", "3511 AA"}, {"Rotterdam", "3011 AD"}, {"Haarlem", "2011 AA"}, {"Leiden", "2311 AA"},
}

func (g *Generator) address() *commonv1.Address {
	c := cities[g.rnd.IntN(len(cities))]
	return &commonv1.Address{Line1: fmt.Sprintf("Prinsengracht %d", 1+g.rnd.IntN(900)), PostalCode: c.postal, City: c.city, CountryCode: "NL"}
}

func (g *Generator) orderPlaced(now time.Time) proto.Message {
	n := 1 + g.rnd.IntN(5)
	o := &ordersv1.OrderPlaced{
		OrderId:  g.uuid(),
		MemberId: fmt.Sprintf("M-%05d", g.rnd.IntN(50_000)),
		StoreId:  fmt.Sprintf("S-%03d", g.rnd.IntN(40)),
		Channel:  ordersv1.Channel(1 + g.rnd.IntN(3)),
		PlacedAt: timestamppb.New(now),
		Labels:   map[string]string{"campaign": g.pick("spring", "weekend", "none")},
	}
	var total int64
	for range n {
		p := products[g.rnd.IntN(len(products))]
		item := &ordersv1.LineItem{Sku: p.sku, Name: p.name, Quantity: int32(1 + g.rnd.IntN(4)), UnitPrice: g.money(49, 1299)}
		total += item.UnitPrice.AmountMicros * int64(item.Quantity)
		o.Items = append(o.Items, item)
	}
	o.Total = &commonv1.Money{CurrencyCode: "EUR", AmountMicros: total}
	if g.rnd.IntN(3) == 0 {
		o.Fulfilment = &ordersv1.OrderPlaced_PickupStoreId{PickupStoreId: o.StoreId}
	} else {
		o.Fulfilment = &ordersv1.OrderPlaced_HomeDelivery{HomeDelivery: &ordersv1.HomeDelivery{
			Address: g.address(), WindowStart: timestamppb.New(now.Add(2 * time.Hour)), WindowEnd: timestamppb.New(now.Add(3 * time.Hour)),
		}}
	}
	if g.rnd.IntN(5) == 0 {
		o.CouponCode = proto.String(g.pick("WELCOME10", "SPRING5"))
	}
	if g.rnd.IntN(4) == 0 {
		o.PointsRedeemed = wrapperspb.Int32(int32(100 * (1 + g.rnd.IntN(10))))
	}
	if g.rnd.IntN(10) == 0 {
		o.Gift, o.GiftMessage = true, "Happy birthday!"
	}
	return o
}

func (g *Generator) orderPicked(now time.Time) proto.Message {
	o := &ordersv1.OrderPicked{OrderId: g.uuid(), WarehouseId: fmt.Sprintf("W-%02d", g.rnd.IntN(4)), PickerId: fmt.Sprintf("B-%04d", g.rnd.IntN(300)), PickedAt: timestamppb.New(now)}
	if g.rnd.IntN(6) == 0 {
		o.MissingSkus = []string{products[g.rnd.IntN(len(products))].sku}
	}
	return o
}

func (g *Generator) orderDelivered(now time.Time) proto.Message {
	o := &ordersv1.OrderDelivered{OrderId: g.uuid(), VehicleId: g.vehicleID(), DeliveredAt: timestamppb.New(now)}
	if g.rnd.IntN(3) == 0 {
		o.Rating = proto.Int32(int32(1 + g.rnd.IntN(5)))
	}
	return o
}

func (g *Generator) orderCancelled(now time.Time) proto.Message {
	return &ordersv1.OrderCancelled{OrderId: g.uuid(), Reason: ordersv1.CancelReason(1 + g.rnd.IntN(3)), Note: g.pick("", "customer called", "address not reachable"), CancelledAt: timestamppb.New(now)}
}

func (g *Generator) productCreated(now time.Time) proto.Message {
	p := &productsv1.ProductCreated{
		Sku:       fmt.Sprintf("SKU-%04d", 2000+g.rnd.IntN(8000)),
		Name:      g.pick("Oat drink 1 l", "Rye crackers", "Basil pot", "Mango 2 pcs", "Laundry pods x30"),
		Category:  productsv1.Category(1 + g.rnd.IntN(6)),
		Price:     g.money(49, 1999),
		Ean:       fmt.Sprintf("87%011d", g.rnd.Int64N(100_000_000_000)),
		Chilled:   g.rnd.IntN(3) == 0,
		CreatedAt: timestamppb.New(now),
	}
	if g.rnd.IntN(2) == 0 {
		p.WeightGrams = proto.Int32(int32(50 + g.rnd.IntN(2000)))
	}
	return p
}

func (g *Generator) priceChanged(now time.Time) proto.Message {
	return &productsv1.PriceChanged{Sku: products[g.rnd.IntN(len(products))].sku, OldPrice: g.money(99, 999), NewPrice: g.money(99, 999), Reason: g.pick("promotion", "supplier", "season"), EffectiveAt: timestamppb.New(now)}
}

func (g *Generator) stockLevelChanged(now time.Time) proto.Message {
	return &productsv1.StockLevelChanged{Sku: products[g.rnd.IntN(len(products))].sku, LocationId: fmt.Sprintf("S-%03d", g.rnd.IntN(40)), OnHand: g.rnd.Int64N(500), Delta: g.rnd.Int64N(40) - 30, CountedAt: timestamppb.New(now)}
}

func (g *Generator) memberRegistered(now time.Time) proto.Message {
	id := g.rnd.IntN(1_000_000)
	m := &membersv1.MemberRegistered{
		MemberId:     fmt.Sprintf("M-%06d", id),
		Email:        fmt.Sprintf("member%d@example.com", id),
		Phone:        fmt.Sprintf("+316%08d", g.rnd.IntN(100_000_000)),
		FullName:     g.pick("Sanne de Vries", "Daan Jansen", "Emma Bakker", "Lucas Visser"),
		Address:      g.address(),
		Tier:         membersv1.Tier(1 + g.rnd.IntN(3)),
		Consent:      &membersv1.Consent{EmailMarketing: g.rnd.IntN(2) == 0, Personalisation: g.rnd.IntN(2) == 0},
		RegisteredAt: timestamppb.New(now),
	}
	if g.rnd.IntN(2) == 0 {
		m.BirthYear = wrapperspb.Int32(int32(1940 + g.rnd.IntN(70)))
	}
	return m
}

func (g *Generator) memberUpdated(now time.Time) proto.Message {
	m := &membersv1.MemberUpdated{MemberId: fmt.Sprintf("M-%06d", g.rnd.IntN(1_000_000)), Consent: &membersv1.Consent{SmsMarketing: true}, ChangedFields: []string{"consent"}, UpdatedAt: timestamppb.New(now)}
	if g.rnd.IntN(3) == 0 {
		t := membersv1.Tier(1 + g.rnd.IntN(3))
		m.Tier, m.ChangedFields = &t, append(m.ChangedFields, "tier")
	}
	return m
}

func (g *Generator) memberProfileUpdated(now time.Time) proto.Message {
	id := g.rnd.IntN(1_000_000)
	m := &membersv1.MemberProfileUpdated{
		MemberId:  fmt.Sprintf("M-%06d", id),
		Email:     fmt.Sprintf("member%d@example.com", id),
		Phone:     fmt.Sprintf("+316%08d", g.rnd.IntN(100_000_000)),
		FullName:  g.pick("Sanne de Vries", "Daan Jansen", "Emma Bakker", "Lucas Visser"),
		Tier:      membersv1.Tier(1 + g.rnd.IntN(3)),
		UpdatedAt: timestamppb.New(now),
	}
	if g.rnd.IntN(2) == 0 {
		m.Nickname = wrapperspb.String(g.pick("San", "D", "Em", "Luc"))
		m.PreviousEmails = []string{fmt.Sprintf("old%d@example.com", id)}
	}
	return m
}

func (g *Generator) vehicleID() string {
	return fmt.Sprintf("%s-%03d", g.pick("VAN", "BIKE", "BOAT"), g.rnd.IntN(200))
}

// compartments are the allowed temperature ranges of cold-box compartments.
var compartments = map[string][2]float64{"ambient": {10, 25}, "chilled": {2, 7}, "frozen": {-25, -18}}

func (g *Generator) vehicleTemperature(now time.Time) proto.Message {
	kinds := map[string]telemetryv1.VehicleKind{"VAN": telemetryv1.VehicleKind_VEHICLE_KIND_VAN, "BIKE": telemetryv1.VehicleKind_VEHICLE_KIND_BIKE, "BOAT": telemetryv1.VehicleKind_VEHICLE_KIND_BOAT}
	id := g.vehicleID()
	compartment := g.pick("ambient", "chilled", "frozen")
	bounds := compartments[compartment]
	lo, hi := bounds[0], bounds[1]
	return &telemetryv1.VehicleTemperatureReading{
		VehicleId:   id,
		Kind:        kinds[id[:len(id)-4]],
		Compartment: compartment,
		Celsius:     lo + g.rnd.Float64()*(hi-lo+1),
		MinCelsius:  lo,
		MaxCelsius:  hi,
		Position:    &telemetryv1.GeoPoint{Latitude: 52.35 + g.rnd.Float64()*0.05, Longitude: 4.85 + g.rnd.Float64()*0.08},
		DoorOpen:    g.rnd.IntN(20) == 0,
		MeasuredAt:  timestamppb.New(now),
	}
}

func (g *Generator) warehouseSensor(now time.Time) proto.Message {
	r := &telemetryv1.WarehouseSensorReading{
		WarehouseId:    fmt.Sprintf("W-%02d", g.rnd.IntN(4)),
		Zone:           g.pick("freezer-1", "freezer-2", "chiller-1", "dry-goods"),
		SensorId:       fmt.Sprintf("T-%04d", g.rnd.IntN(500)),
		Celsius:        -20 + g.rnd.Float64()*30,
		BatteryPercent: uint32(g.rnd.IntN(101)),
		Extra:          map[string]float64{"co2_ppm": 400 + g.rnd.Float64()*400},
		MeasuredAt:     timestamppb.New(now),
	}
	if g.rnd.IntN(2) == 0 {
		r.HumidityPercent = proto.Float64(30 + g.rnd.Float64()*50)
	}
	return r
}
