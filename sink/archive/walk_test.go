package archive

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/sink/sinktest/sample"
	"github.com/hemlabs/hem/wire"
)

var sampleContracts = sync.OnceValues(func() (*contract.Source, error) {
	return contract.CompileDir(context.Background(), filepath.Join("..", "..", "proto"))
})

// walked and decodedValues are the typed columns of one payload from the
// walker and from the decoded path; walked's error is the walker's.
func walked(l *layout, payload []byte, known []bool) (string, error) {
	t := newTyper(l)
	err := t.walker.row(l.plan.top, payload, known)
	return dump(t.vals[firstTyped:l.payload]), err
}

func decodedValues(l *layout, payload []byte, known []bool) string {
	t := newTyper(l)
	t.decoded(payload, known)
	return dump(t.vals[firstTyped:l.payload])
}

func dump(cols [][]parquet.Value) string {
	var b strings.Builder
	for _, vals := range cols {
		for _, v := range vals {
			fmt.Fprintf(&b, "%d:%d/%d %v %q; ", v.Column(), v.RepetitionLevel(), v.DefinitionLevel(), v.Kind(), v.String())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// The walker gives every sample contract's events the typed values the
// decoded path (the warehouse mapping's conversions) gives.
func TestWalkerMatchesDecodedPath(t *testing.T) {
	src, err := sampleContracts()
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range sample.Subjects() {
		t.Run(subject, func(t *testing.T) {
			s, err := src.Schema(subject)
			if err != nil {
				t.Fatal(err)
			}
			s = s.WithIdentity(1, 1, contract.Usable, time.Time{})
			l, err := layoutOf(s)
			if err != nil {
				t.Fatal(err)
			}
			g, err := sample.NewGenerator(7, []string{subject}, 0.2)
			if err != nil {
				t.Fatal(err)
			}
			for range 200 {
				payload, err := proto.Marshal(g.Next().Message)
				if err != nil {
					t.Fatal(err)
				}
				if !wire.Known(payload, s.Descriptor()) {
					t.Fatalf("sample payload %x not cleared by wire.Known", payload)
				}
				got, err := walked(l, payload, nil)
				if err != nil {
					t.Fatalf("walker gave up on %x: %v", payload, err)
				}
				if want := decodedValues(l, payload, nil); got != want {
					t.Fatalf("payload %x:\nwalker  %s\ndecoded %s", payload, got, want)
				}
			}
		})
	}
}

// BenchmarkWalk is the walker alone on OrderPlaced payloads, and the
// wire check in front of it.
func BenchmarkWalk(b *testing.B) {
	src, err := sampleContracts()
	if err != nil {
		b.Fatal(err)
	}
	s, err := src.Schema("shop.orders.v1.OrderPlaced")
	if err != nil {
		b.Fatal(err)
	}
	l, err := layoutOf(s)
	if err != nil {
		b.Fatal(err)
	}
	g, _ := sample.NewGenerator(1, []string{s.Subject}, 0)
	payloads := make([][]byte, 1024)
	var size int64
	for i := range payloads {
		payloads[i], _ = proto.Marshal(g.Next().Message)
		size += int64(len(payloads[i]))
	}
	b.Run("walker", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		t := newTyper(l)
		cpu0 := cpuNow()
		for b.Loop() {
			for _, p := range payloads {
				if err := t.walker.row(l.plan.top, p, nil); err != nil {
					b.Fatal(err)
				}
			}
			t.reset()
		}
		b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/float64(b.N*len(payloads))/1000, "cpu-µs/payload")
	})
	b.Run("known", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		cpu0 := cpuNow()
		for b.Loop() {
			for _, p := range payloads {
				if !wire.Known(p, s.Descriptor()) {
					b.Fatal("not known")
				}
			}
		}
		b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/float64(b.N*len(payloads))/1000, "cpu-µs/payload")
	})
}

// cpuNow is the process's user and system CPU time: on a shared machine a
// steadier measure than the wall clock.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
