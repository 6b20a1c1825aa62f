package processor

import (
	"context"
	"errors"
	"testing"

	"github.com/hemlabs/hem/sink"
)

type sinkFunc func(ctx context.Context, b *sink.Batch) error

func (f sinkFunc) Write(ctx context.Context, b *sink.Batch) error { return f(ctx, b) }
func (sinkFunc) Close(context.Context) error                      { return nil }

// A later event of an id the batch already holds with another payload
// fails as a duplicate before any sink sees it (BigQuery and the archive
// would store both); an identical copy shares its first one's fate.
func TestWriteBatchFailsADifferentEventUnderAnIDOfTheBatch(t *testing.T) {
	t.Parallel()
	ev := func(id, payload string) *sink.Event { return &sink.Event{ID: id, Payload: []byte(payload)} }
	events := []*sink.Event{ev("a", "1"), ev("b", "1"), ev("a", "1"), ev("a", "2"), ev("c", "1"), ev("c", "1")}
	refused := errors.New("refused")
	for _, tc := range []struct {
		name   string
		result func(b *sink.Batch) error
		want   []string // per event: "", "duplicate" or "refused"
	}{
		{"the sink writes all", func(*sink.Batch) error { return nil },
			[]string{"", "", "", "duplicate", "", ""}},
		{"the sink refuses c", func(b *sink.Batch) error {
			for k, e := range b.Events {
				if e.ID == "c" {
					return &sink.BatchError{Failed: map[int]error{k: refused}}
				}
			}
			return nil
		}, []string{"", "", "", "duplicate", "refused", "refused"}},
		{"the sink fails the batch", func(*sink.Batch) error { return refused },
			[]string{"refused", "refused", "refused", "duplicate", "refused", "refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen []string
			err := writeBatch(t.Context(), sinkFunc(func(_ context.Context, b *sink.Batch) error {
				for _, e := range b.Events {
					seen = append(seen, e.ID+"="+string(e.Payload))
				}
				return tc.result(b)
			}), "s", events)
			if got := len(seen); got != 3 || seen[0] != "a=1" || seen[1] != "b=1" || seen[2] != "c=1" {
				t.Fatalf("the sink got %v, want a=1 b=1 c=1", seen)
			}
			for i, want := range tc.want {
				e := sink.ErrorFor(err, i)
				var ok bool
				switch want {
				case "":
					ok = e == nil
				case "duplicate":
					ok = errors.Is(e, sink.ErrDuplicateID) && sink.IsPermanent(e)
				case "refused":
					ok = errors.Is(e, refused)
				}
				if !ok {
					t.Fatalf("event %d: error %v, want %q", i, e, want)
				}
			}
		})
	}
}
