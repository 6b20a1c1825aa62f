package sample_test

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/sink/sinktest/sample"
)

func TestGeneratedEventsMatchTheirContracts(t *testing.T) {
	t.Parallel()
	for _, subject := range sample.Subjects() {
		t.Run(subject, func(t *testing.T) {
			t.Parallel()
			g, err := sample.NewGenerator(7, []string{subject}, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			var valid, invalid int
			for range 200 {
				e := g.Next()
				if got := string(e.Message.ProtoReflect().Descriptor().FullName()); got != subject {
					t.Fatalf("asked for %s, got %s", subject, got)
				}
				err := protovalidate.Validate(e.Message)
				switch {
				case e.Valid && err != nil:
					t.Fatalf("valid event fails validation: %v\n%v", err, e.Message)
				case !e.Valid && err == nil:
					t.Fatalf("event marked invalid passes validation: %v", e.Message)
				}
				if e.Valid {
					valid++
				} else {
					invalid++
				}
			}
			if valid < 50 || invalid < 50 {
				t.Fatalf("with share 0.5 got %d valid and %d invalid of 200", valid, invalid)
			}
		})
	}
}

func TestSameSeedSameEvents(t *testing.T) {
	t.Parallel()
	a, _ := sample.NewGenerator(42, nil, 0.1)
	b, _ := sample.NewGenerator(42, nil, 0.1)
	for range 50 {
		ea, eb := a.Next(), b.Next()
		// Times differ (wall clock); compare the type and the validity.
		if ea.Message.ProtoReflect().Descriptor() != eb.Message.ProtoReflect().Descriptor() || ea.Valid != eb.Valid {
			t.Fatal("two generators with one seed diverged")
		}
	}
}

func TestUnknownSubjectIsAnError(t *testing.T) {
	t.Parallel()
	if _, err := sample.NewGenerator(1, []string{"shop.orders.v1.Nope"}, 0); err == nil {
		t.Fatal("a generator of an unknown type was made")
	}
	if _, err := sample.NewGenerator(1, nil, 1.5); err == nil {
		t.Fatal("an invalid share above 1 was accepted")
	}
}

func BenchmarkNext(b *testing.B) {
	g, _ := sample.NewGenerator(1, nil, 0)
	b.ReportAllocs()
	for b.Loop() {
		proto.Size(g.Next().Message)
	}
}
