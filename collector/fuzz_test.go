package collector

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/registry/schema"
)

// FuzzProcess feeds arbitrary bytes to the hot path of several contracts:
// it must never panic, must answer with exactly one of output or
// rejection, and what it accepts must be a fixed point (re-processing the
// output of a contract without PII gives the same bytes).
func FuzzProcess(f *testing.F) {
	plans := []*plan{
		newPlan(testSchema(f, "shop.orders.v1.OrderPlaced")),
		newPlan(testSchema(f, "shop.members.v1.MemberRegistered")),
		newPlan(testSchema(f, "shop.telemetry.v1.WarehouseSensorReading")),
		newPlan(compileAll(f)),
	}
	order, _ := proto.Marshal(orderPlaced(3))
	f.Add(order)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x80})
	f.Add(append(order[:len(order)-3:len(order)-3], 0xff, 0x01))
	f.Add([]byte{0xfa, 0x3e, 0x02, 0x08, 0x01}) // field 1000
	h := newHasher([]byte("fuzz-salt-0123456789"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, p := range plans {
			out, _, rej := p.process(payload, h, nil)
			if (out == nil) == (rej == nil) && !(rej == nil && len(out) == 0) {
				t.Fatalf("%s: out %x and rejection %v", p.schema.Subject, out, rej)
			}
			if rej != nil && rej.message == "" {
				t.Fatalf("%s: rejection without a message", p.schema.Subject)
			}
			if rej == nil && !p.hasPII {
				again, _, rej2 := p.process(out, h, nil)
				if rej2 != nil || !bytes.Equal(again, out) {
					t.Fatalf("%s: output %x is not a fixed point: %x, %v", p.schema.Subject, out, again, rej2)
				}
			}
		}
	})
}

var _ = schema.Usable
